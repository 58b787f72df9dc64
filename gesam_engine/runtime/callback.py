"""The sounddevice output callback: the mixer renders straight into ``outdata``, and the callback
counts what went wrong and how long each block took.

It runs in the audio process, which never imports torch and shares its interpreter with nothing
busy. Every buffer is allocated before the stream starts; the callback takes no lock, never
logs or prints and never touches torch. Counters and the timing log are numpy arrays (shared
memory live) that other threads and processes read without locks.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from gesam_engine.runtime.renderer import Renderer

# indices into the counter array
UNDERRUNS, LATE_BLOCKS, BLOCKS, FRAMES = 0, 1, 2, 3
OUTPUT_UNDERFLOW, OUTPUT_OVERFLOW, INPUT_UNDERFLOW, INPUT_OVERFLOW, PRIMING_OUTPUT, CALLBACK_ERRORS = 4, 5, 6, 7, 8, 9
COUNTER_NAMES = (
    "underruns",  # callbacks that missed their deadline (late_blocks) or saw the device underflow
    "late_blocks",  # callbacks whose rendering took longer than the block lasts
    "blocks",
    "frames",
    "output_underflow",  # the device's own flags (xruns), as PortAudio reports them
    "output_overflow",
    "input_underflow",
    "input_overflow",
    "priming_output",
    "callback_errors",  # the mixer raised: the block played silence (never happens unless a bug)
)
XRUN_NAMES = ("output_underflow", "output_overflow", "input_underflow", "input_overflow")
# float value slots (float64, shared live), written by the audio process
GAIN = 0  # output gain reached (the callback)
OUTPUT_LATENCY_S = 1  # what PortAudio reports for the open stream (audio_child)
LIMITER_ENGAGED, LIMITER_CLIPPED, LIMITER_NONFINITE, LIMITER_MAX_REDUCTION_DB = 2, 3, 4, 5  # the callback
N_VALUES = 16


class CallbackLog(NamedTuple):
    """What the callback recorded per block, oldest first; every field has shape [n]."""

    block: np.ndarray  # int64: callback block number (0 = the first callback ever)
    time: np.ndarray  # float64: time.perf_counter() when the callback started
    stream_frame: np.ndarray  # int64: absolute output frame of outdata[0]
    render_s: np.ndarray  # float64: seconds the callback took (mixing, effects, limiter)


class CallbackArrays(NamedTuple):
    """The callback's counters [len(COUNTER_NAMES)] int64 and its log arrays [max_blocks_log]."""

    counters: np.ndarray
    time: np.ndarray
    stream_frame: np.ndarray
    render_s: np.ndarray

    @classmethod
    def allocate(cls, max_blocks_log: int) -> "CallbackArrays":
        """Fresh zeroed arrays in this process."""
        n = max_blocks_log
        return cls(np.zeros(len(COUNTER_NAMES), np.int64), np.zeros(n, np.float64), np.zeros(n, np.int64),
                   np.zeros(n, np.float64))


class MixerCallback:
    """Callable with sounddevice's output-callback signature ``(outdata, frames, time, status)``.

    ``outdata`` is float32 [frames, channels]; the renderer's clock must equal ``frames`` counted
    so far (``counters[FRAMES]``). Only the audio thread calls the instance; ``CallbackReader``
    reads what it recorded from anywhere.
    """

    def __init__(self, renderer: "Renderer", arrays: CallbackArrays, values: np.ndarray | None = None,
                 on_first_call: Callable[[], None] | None = None) -> None:
        """``values`` (float64 [N_VALUES]) receives the gain and the limiter's counters (GAIN,
        LIMITER_* slots) after each block; ``on_first_call`` runs once, in the audio
        thread, before the first block (the audio process raises that thread's priority there)."""
        self.renderer = renderer
        self.block = renderer.block_size
        self.sample_rate = renderer.sample_rate
        self._counters = arrays.counters
        self._time = arrays.time
        self._stream_frame = arrays.stream_frame
        self._render_s = arrays.render_s
        self._values = values if values is not None else np.zeros(N_VALUES, np.float64)
        if renderer.frame != int(self._counters[FRAMES]):
            raise ValueError(f"the renderer's clock ({renderer.frame}) must equal the frames played "
                             f"({int(self._counters[FRAMES])})")
        self.last_error: BaseException | None = None
        self._first = on_first_call

    def __call__(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """Render ``frames`` frames into ``outdata``. Audio thread only."""
        if self._first is not None:
            first, self._first = self._first, None
            first()
        t = perf_counter()
        c = self._counters
        try:
            bs = self.block
            done = 0
            while done < frames:  # blocks longer than the mixer's (never, with a fixed blocksize)
                n = min(bs, frames - done)
                self.renderer.render_block(out=outdata[done:done + n], now=t)
                done += n
            self._publish()
        except Exception as exc:  # a bug must not stop the stream: this block is silence
            outdata.fill(0.0)
            c[CALLBACK_ERRORS] += 1
            self.last_error = exc
        underflow = False
        if status:
            if status.output_underflow:
                c[OUTPUT_UNDERFLOW] += 1
                underflow = True
            if status.output_overflow:
                c[OUTPUT_OVERFLOW] += 1
            if status.input_underflow:
                c[INPUT_UNDERFLOW] += 1
            if status.input_overflow:
                c[INPUT_OVERFLOW] += 1
            if status.priming_output:
                c[PRIMING_OUTPUT] += 1
        took = perf_counter() - t
        late = took * self.sample_rate > frames
        if late:
            c[LATE_BLOCKS] += 1
        if late or underflow:
            c[UNDERRUNS] += 1
        slot = c[BLOCKS] % self._time.shape[0]
        self._time[slot] = t
        self._stream_frame[slot] = c[FRAMES]
        self._render_s[slot] = took
        c[FRAMES] += frames
        c[BLOCKS] += 1  # publish the log entry last

    def _publish(self) -> None:
        """The gain and the limiter's counters, for the engine's metrics (plain float stores)."""
        r, v = self.renderer, self._values
        lim = r.limiter
        v[GAIN] = r.gain
        v[LIMITER_ENGAGED] = lim.engaged_blocks
        v[LIMITER_CLIPPED] = lim.clipped_blocks
        v[LIMITER_NONFINITE] = lim.nonfinite_blocks
        v[LIMITER_MAX_REDUCTION_DB] = lim.max_reduction_db


class CallbackReader:
    """Reads the callback's counters and log from any thread or process, without locks."""

    def __init__(self, arrays: CallbackArrays) -> None:
        self._counters = arrays.counters
        self._time = arrays.time
        self._stream_frame = arrays.stream_frame
        self._render_s = arrays.render_s

    @property
    def underruns(self) -> int:
        """Callbacks that missed their deadline or saw the device underflow."""
        return int(self._counters[UNDERRUNS])

    @property
    def blocks(self) -> int:
        """Callbacks so far."""
        return int(self._counters[BLOCKS])

    @property
    def frames(self) -> int:
        """Frames delivered to the device so far: the stream's sample clock."""
        return int(self._counters[FRAMES])

    def counts(self) -> dict[str, int]:
        """Every counter by name (underruns, blocks, frames and sounddevice's status flags)."""
        values = self._counters.copy()
        return {name: int(v) for name, v in zip(COUNTER_NAMES, values)}

    def xruns(self) -> int:
        """The device's own xrun flags, all kinds together."""
        counts = self.counts()
        return sum(counts[name] for name in XRUN_NAMES)

    def log(self) -> CallbackLog:
        """The timing log of the last ``max_blocks_log`` callbacks, copied without a lock.

        Entries the callback may have overwritten during the copy are left out.
        """
        cap = self._time.shape[0]
        written = int(self._counters[BLOCKS])
        first = max(0, written - cap)
        block = np.arange(first, written, dtype=np.int64)
        idx = block % cap
        fields = (self._time[idx], self._stream_frame[idx], self._render_s[idx])
        safe_from = max(first, int(self._counters[BLOCKS]) - cap + 1)
        skip = min(safe_from - first, written - first)
        return CallbackLog(block[skip:], *(f[skip:] for f in fields))
