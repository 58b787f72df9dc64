"""The sounddevice output callback: copy what the ring holds into ``outdata``, count what went wrong.

The callback only mixes what is ready. It copies frames from the ring with slices and
``np.copyto``, zero-fills a short read, and writes counters and a small timing log into numpy
arrays allocated in ``__init__``. It takes no lock, allocates no numpy buffer, never logs or
prints and never touches torch. Other threads read the counters and the log without locks.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, NamedTuple

import numpy as np

from gesam_engine.runtime.ring_buffer import AudioRing

# indices into the counter array
UNDERRUNS, UNDERRUN_FRAMES, BLOCKS, FRAMES = 0, 1, 2, 3
OUTPUT_UNDERFLOW, OUTPUT_OVERFLOW, INPUT_UNDERFLOW, INPUT_OVERFLOW, PRIMING_OUTPUT = 4, 5, 6, 7, 8
COUNTER_NAMES = (
    "underruns",
    "underrun_frames",
    "blocks",
    "frames",
    "output_underflow",
    "output_overflow",
    "input_underflow",
    "input_overflow",
    "priming_output",
)


class CallbackLog(NamedTuple):
    """What the callback recorded per block, oldest first; every field has shape [n]."""

    block: np.ndarray  # int64: callback block number (0 = the stream's first callback)
    time: np.ndarray  # float64: time.perf_counter() when the callback started
    stream_frame: np.ndarray  # int64: frames delivered before this block (position of outdata[0])
    ring_frame: np.ndarray  # int64: ring frame index (ring.consumed) copied into outdata[0]
    ring_frames: np.ndarray  # int64: frames this block took from the ring (the rest were zeros)


class CallbackArrays(NamedTuple):
    """The callback's counters [len(COUNTER_NAMES)] int64 and its log arrays [max_blocks_log]."""

    counters: np.ndarray
    time: np.ndarray
    stream_frame: np.ndarray
    ring_frame: np.ndarray
    ring_frames: np.ndarray

    @classmethod
    def allocate(cls, max_blocks_log: int) -> "CallbackArrays":
        """Fresh zeroed arrays in this process."""
        n = max_blocks_log
        return cls(np.zeros(len(COUNTER_NAMES), np.int64), np.zeros(n, np.float64),
                   np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64))


class AudioCallback:
    """Callable with sounddevice's output-callback signature ``(outdata, frames, time, status)``.

    ``outdata`` is float32 [frames, channels]. Only the audio thread calls the instance; the
    properties, ``counts`` and ``log`` may be read from any thread; ``reset`` only while the
    stream is stopped.
    """

    def __init__(
        self, ring: AudioRing, channels: int, max_blocks_log: int = 4096, arrays: CallbackArrays | None = None
    ) -> None:
        """``arrays`` (e.g. views of shared memory) lets another process read the counters and log."""
        if ring.channels != channels:
            raise ValueError(f"ring has {ring.channels} channels, the callback was given {channels}")
        if max_blocks_log < 1:
            raise ValueError(f"max_blocks_log must be >= 1, got {max_blocks_log}")
        self.ring = ring
        self.channels = channels
        arrays = arrays or CallbackArrays.allocate(max_blocks_log)
        self._counters = arrays.counters
        self._time = arrays.time
        self._stream_frame = arrays.stream_frame
        self._ring_frame = arrays.ring_frame
        self._ring_frames = arrays.ring_frames
        self._started = False  # set by the first callback that got frames from the ring

    def __call__(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """Fill ``outdata`` [frames, channels] float32 from the ring. Audio thread only."""
        t = perf_counter()
        c = self._counters
        ring_frame = self.ring.consumed
        n = self.ring.read_into(outdata)
        if n < frames:
            outdata[n:].fill(0.0)
            if self._started:  # before the first audio it is pre-roll, not an underrun
                c[UNDERRUNS] += 1
                c[UNDERRUN_FRAMES] += frames - n
        if n > 0:
            self._started = True
        if status:
            if status.output_underflow:
                c[OUTPUT_UNDERFLOW] += 1
            if status.output_overflow:
                c[OUTPUT_OVERFLOW] += 1
            if status.input_underflow:
                c[INPUT_UNDERFLOW] += 1
            if status.input_overflow:
                c[INPUT_OVERFLOW] += 1
            if status.priming_output:
                c[PRIMING_OUTPUT] += 1
        slot = c[BLOCKS] % self._time.shape[0]
        self._time[slot] = t
        self._stream_frame[slot] = c[FRAMES]
        self._ring_frame[slot] = ring_frame
        self._ring_frames[slot] = n
        c[FRAMES] += frames
        c[BLOCKS] += 1  # publish the log entry last

    @property
    def underruns(self) -> int:
        """Callbacks after the first audio that found the ring short and played zeros."""
        return int(self._counters[UNDERRUNS])

    @property
    def blocks(self) -> int:
        """Callbacks so far."""
        return int(self._counters[BLOCKS])

    @property
    def frames(self) -> int:
        """Frames delivered to the device so far (audio and zeros)."""
        return int(self._counters[FRAMES])

    @property
    def started(self) -> bool:
        """Whether a callback has delivered frames from the ring yet (pre-roll is over)."""
        return self._started

    def counts(self) -> dict[str, int]:
        """Every counter by name (underruns, blocks, frames and sounddevice's status flags)."""
        values = self._counters.copy()
        return {name: int(v) for name, v in zip(COUNTER_NAMES, values)}

    def log(self) -> CallbackLog:
        """The timing log of the last ``max_blocks_log`` callbacks, copied without a lock.

        Entries the callback may have overwritten during the copy are left out.
        """
        cap = self._time.shape[0]
        written = int(self._counters[BLOCKS])
        first = max(0, written - cap)
        block = np.arange(first, written, dtype=np.int64)
        idx = block % cap
        fields = (self._time[idx], self._stream_frame[idx], self._ring_frame[idx], self._ring_frames[idx])
        safe_from = max(first, int(self._counters[BLOCKS]) - cap + 1)
        skip = min(safe_from - first, written - first)
        return CallbackLog(block[skip:], *(f[skip:] for f in fields))

    def reset(self) -> None:
        """Zero the counters and the log and start a new pre-roll. Only while the stream is stopped."""
        self._counters.fill(0)
        self._started = False
