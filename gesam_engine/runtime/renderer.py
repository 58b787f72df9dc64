"""The render thread: commands -> voices -> effects -> output gain -> safety limiter -> ring buffer.

The engine talks to the render thread through one bounded queue of ``RenderCommand``s: a
``PlaySound`` (``voices.py``) or a ``SetGain``; a ``StopAll`` never queues (``panic()``).
Effect parameters do not pass through here: ``EffectsChain.set_param`` validates them on the
control thread and queues them for its next ``process``.

One code path for live playing and for offline bouncing: ``render_block`` drains the command
queue, renders the voices into a preallocated mix, runs the effects chain, applies the output
gain, and passes the block through the always-on safety limiter (``limiter.py``), which also
turns a block holding NaN or infinity into silence (the effects are then reset). Live, a daemon
thread calls it whenever the ring holds less than ``lookahead_blocks`` blocks; offline,
``render_offline`` calls it directly.

Two rules keep a bad moment from turning into a bad minute:
- A panic (``panic()`` or a StopAll) never waits in the bounded queue: it is a counter that
  ``render_block`` checks first. It fades everything out over ``PANIC_FADE_MS``, drops the plays
  queued before it, then stops every voice and resets every effect (tails included).
- Live, a trigger older than ``stale_after_s`` when the render thread gets to it (the device was
  gone, the thread was starved) is dropped and counted, so they do not all start in one block.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
import time
from typing import Callable, Protocol

import numpy as np

from gesam_engine.runtime.limiter import LimiterConfig, SafetyLimiter
from gesam_engine.runtime.ring_buffer import AudioRing
from gesam_engine.runtime.trigger_log import TriggerLog, TriggerRecord
from gesam_engine.runtime.voices import PlaySound, VoicePool

__all__ = ["Effects", "MAX_GAIN", "PANIC_FADE_MS", "QUEUE_SIZE", "PlaySound", "RenderCommand", "Renderer", "SetGain",
           "StopAll", "TriggerRecord"]

QUEUE_SIZE = 1024
MAX_GAIN = 4.0
PANIC_FADE_MS = 5.0  # a panic fades the whole output out over this long, then resets everything
STALE_MARGIN_S = 0.030  # slack on top of (lookahead_blocks + 2) blocks before a trigger is stale (a busy
# machine can stall the render thread for tens of ms; a device that is gone stalls it for seconds)
# render counters (indices into Renderer._counters)
REJECTED, EFFECT_ERRORS, NONFINITE, STALE, PANICS, PANIC_DROPPED = range(6)


@dataclasses.dataclass(frozen=True, slots=True)
class StopAll:
    """Panic: fade the whole output out (a few ms, so nothing clicks), then stop every voice and
    reset every effect. ``Renderer.submit`` never queues it: it becomes ``Renderer.panic()``."""


@dataclasses.dataclass(frozen=True, slots=True)
class SetGain:
    """Output gain (linear, 0..4), ramped over one block so it does not click."""

    gain: float


RenderCommand = PlaySound | StopAll | SetGain


class Effects(Protocol):
    """What the renderer needs from an effects chain; both methods are called on the render thread."""

    def process(self, block: np.ndarray) -> np.ndarray:
        """Process float32 [n, channels]; return float32 [n, channels] (may be the same array)."""
        ...

    def reset(self) -> None:
        """Clear every effect's internal state (delay lines, reverb tails, filter memories)."""
        ...


class Renderer:
    """Renders blocks of float32 [block_size, channels] from queued commands.

    ``submit`` and ``panic`` may be called from any thread; ``render_block`` and ``render_offline`` from one
    thread at a time and never while the live thread runs; ``start``/``stop`` from the thread
    that owns the renderer; ``trigger_records`` and the counters from a metrics thread.
    """

    def __init__(
        self,
        voices: VoicePool,
        channels: int,
        block_size: int,
        ring: AudioRing | None,
        effects: Effects | None = None,
        lookahead_blocks: int = 1,
        max_records: int = 4096,
        next_callback: Callable[[], float | None] | None = None,
        margin_s: float = 0.001,
        underruns: Callable[[], int] | None = None,
        limiter: LimiterConfig | None = None,
    ) -> None:
        if channels != voices.channels:
            raise ValueError(f"channels ({channels}) must match the voice pool's ({voices.channels})")
        if not 1 <= block_size <= voices.max_block:
            raise ValueError(f"block_size must be in 1..{voices.max_block} (the pool's max_block), got {block_size}")
        if lookahead_blocks < 1:
            raise ValueError(f"lookahead_blocks must be >= 1, got {lookahead_blocks}")
        if ring is not None and (ring.channels != channels or ring.capacity < lookahead_blocks * block_size):
            raise ValueError(
                f"ring must have {channels} channels and hold >= {lookahead_blocks * block_size} frames "
                f"(lookahead_blocks * block_size), got {ring.channels} channels, {ring.capacity} frames"
            )
        self.voices = voices
        self.channels = channels
        self.block_size = block_size
        self.sample_rate = voices.sample_rate
        self.ring = ring
        self.effects = effects
        self.lookahead_blocks = lookahead_blocks
        # Late rendering: ``next_callback()`` predicts (perf_counter s) when the consumer next takes
        # a block; the live thread then renders each block ``margin_s`` before it is taken, so a
        # trigger waits at most one block plus the margin. None = render as soon as there is room.
        self.next_callback = next_callback
        self.margin_s = margin_s
        # Each underrun the consumer reports (``underruns()``) doubles the margin, up to one block:
        # a click is worse than a millisecond of latency. ``margin_s`` shows where it settled.
        self.underruns = underruns
        self.block_index = 0  # index of the next block render_block produces
        self.ring_origin: tuple[int, int] | None = None  # (block_index, ring frame) at start()
        self.last_error: BaseException | None = None
        self.limiter = SafetyLimiter(limiter or LimiterConfig(), self.sample_rate, channels, block_size)
        # live only: a PlaySound waiting longer than this is dropped (see render_block's ``now``)
        self.stale_after_s = (lookahead_blocks + 2) * block_size / self.sample_rate + STALE_MARGIN_S

        self._queue: queue.Queue[RenderCommand] = queue.Queue(maxsize=QUEUE_SIZE)
        self._mix = np.zeros((block_size, channels), dtype=np.float32)
        self._block = np.zeros((block_size, channels), dtype=np.float32)
        self._unit_ramp = (np.arange(1, block_size + 1, dtype=np.float64) / block_size).astype(np.float32)
        self._gain_ramp = np.empty(block_size, dtype=np.float32)
        self._gain = 1.0
        self._target_gain = 1.0

        self._records = TriggerLog(max_records)

        self._dropped = 0
        self._lock = threading.Lock()  # submit() and panic() run on several threads; never the render thread
        self._counters = np.zeros(6, dtype=np.int64)  # see REJECTED .. PANIC_DROPPED
        self._panics_asked = 0  # written under _lock by panic(); read by the render thread
        self._panic_time = 0.0  # perf_counter() of the newest panic() call
        self._panics_done = 0  # render thread only
        self._panic_cutoff: float | None = None  # plays that arrived before this are dropped
        self._fade_n = max(1, round(PANIC_FADE_MS * self.sample_rate / 1000.0))
        self._fade = (1.0 - np.arange(1, self._fade_n + 1, dtype=np.float64) / self._fade_n).astype(np.float32)
        self._fade_left = 0  # frames of the panic fade still to play
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._thread_error: BaseException | None = None

    # ---- any thread ----------------------------------------------------------------------
    def submit(self, cmd: RenderCommand) -> bool:
        """Queue a command without blocking; False (and one more ``dropped``) if the queue is full.

        A StopAll never queues: it is ``panic()``, which cannot be refused."""
        if isinstance(cmd, StopAll):
            self.panic()
            return True
        try:
            self._queue.put_nowait(cmd)
            return True
        except queue.Full:
            with self._lock:
                self._dropped += 1
            return False

    def panic(self) -> None:
        """Ask for a panic at the next block, outside the bounded queue, so it is never dropped.

        The next ``render_block`` fades the output out over PANIC_FADE_MS, drops the plays queued
        before this call, then frees every voice and resets every effect. Any thread.
        """
        with self._lock:
            self._panic_time = time.perf_counter()
            self._panics_asked += 1

    @property
    def dropped(self) -> int:
        """Commands refused by ``submit`` because the queue was full."""
        return self._dropped

    @property
    def rejected(self) -> int:
        """Commands the render thread could not apply (bad values, not a render command)."""
        return int(self._counters[REJECTED])

    @property
    def effect_errors(self) -> int:
        """Blocks whose effects chain raised or returned a wrong shape (played dry instead)."""
        return int(self._counters[EFFECT_ERRORS])

    @property
    def nonfinite_blocks(self) -> int:
        """Blocks that held NaN or infinity after the effects and gain: played as silence, effects reset."""
        return int(self._counters[NONFINITE])

    @property
    def stale_dropped(self) -> int:
        """Triggers dropped because they waited longer than ``stale_after_s`` (live only)."""
        return int(self._counters[STALE])

    @property
    def panics(self) -> int:
        """Panics carried out."""
        return int(self._counters[PANICS])

    @property
    def panic_dropped(self) -> int:
        """Triggers dropped because a panic came after them while they were queued."""
        return int(self._counters[PANIC_DROPPED])

    def counters(self) -> dict[str, int]:
        """Every render counter by name, JSON-ready. Any thread."""
        return {"dropped": self.dropped, "rejected": self.rejected, "effect_errors": self.effect_errors,
                "nonfinite_blocks": self.nonfinite_blocks, "stale_dropped": self.stale_dropped,
                "panics": self.panics, "panic_dropped": self.panic_dropped}

    @property
    def gain(self) -> float:
        """The output gain reached at the end of the last rendered block."""
        return self._gain

    @property
    def running(self) -> bool:
        """Whether the live render thread is running."""
        return self._thread is not None and self._thread.is_alive()

    # ---- render thread -------------------------------------------------------------------
    def render_block(self, out: np.ndarray | None = None, now: float | None = None) -> np.ndarray:
        """Apply queued commands, render one block and return it: float32 [block_size, channels].

        The returned array is a preallocated buffer overwritten by the next call (or ``out``
        when given). A PlaySound queued before this call starts at this block's first frame (and
        is heard ``limiter.latency`` frames later). ``now`` (time.perf_counter() seconds; the live
        thread passes it) drops PlaySounds that arrived more than ``stale_after_s`` before it;
        offline (None) every trigger plays. Render thread only.
        """
        if self._panics_asked != self._panics_done:  # first, and whatever the queue holds
            self._start_panic()
        if self._fade_left == 0:  # during a panic's fade, commands wait (at most PANIC_FADE_MS)
            self._drain(now)

        self.voices.render(self._mix)
        block = self._block
        processed = self._mix
        if self.effects is not None:
            try:
                processed = self.effects.process(self._mix)
                if processed.shape != self._mix.shape:
                    raise ValueError(f"effects returned shape {processed.shape}, expected {self._mix.shape}")
            except Exception as exc:  # a broken effect must not stop the audio: play dry, count it
                self._counters[EFFECT_ERRORS] += 1
                self.last_error = exc
                processed = self._mix
        np.copyto(block, processed, casting="same_kind")

        g0, g1 = self._gain, self._target_gain
        if g0 == g1:
            if g0 != 1.0:
                np.multiply(block, np.float32(g0), out=block)
        else:  # linear ramp reaching the new gain on the block's last sample
            ramp = self._gain_ramp
            np.multiply(self._unit_ramp, np.float32(g1 - g0), out=ramp)
            np.add(ramp, np.float32(g0), out=ramp)
            for c in range(self.channels):  # per channel: a broadcast multiply would allocate
                np.multiply(block[:, c], ramp, out=block[:, c])
            self._gain = g1
        if self._fade_left:
            self._fade_out(block)
        if not self.limiter.process(block):  # NaN or inf reached the output: silence, fresh effects
            self._counters[NONFINITE] += 1
            self._reset_effects()
        self.block_index += 1
        if out is not None:
            np.copyto(out, block)
            return out
        return block

    def _drain(self, now: float | None) -> None:
        """Apply every queued command, dropping plays queued before a panic and (live) stale ones."""
        cutoff, self._panic_cutoff = self._panic_cutoff, None
        stale_before = None if now is None else now - self.stale_after_s
        while True:
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(cmd, PlaySound):
                if cutoff is not None and cmd.arrival <= cutoff:
                    self._counters[PANIC_DROPPED] += 1
                    continue
                if stale_before is not None and 0.0 < cmd.arrival < stale_before:  # arrival 0 = untimed
                    self._counters[STALE] += 1
                    continue
            self._apply(cmd)

    def _start_panic(self) -> None:
        """Release every voice and start the output fade; plays queued before the panic are dropped."""
        self._panics_done = self._panics_asked
        self._panic_cutoff = self._panic_time
        self._counters[PANICS] += 1
        self.voices.stop_all()
        if self._fade_left == 0:  # a panic during the fade lets it finish: no jump back up
            self._fade_left = self._fade_n

    def _fade_out(self, block: np.ndarray) -> None:
        """Apply the panic fade to ``block``; when it ends, free every voice and reset the effects."""
        n = block.shape[0]
        done = self._fade_n - self._fade_left
        m = min(n, self._fade_left)
        for c in range(self.channels):
            np.multiply(block[:m, c], self._fade[done:done + m], out=block[:m, c])
        block[m:] = 0.0
        self._fade_left -= m
        if self._fade_left == 0:
            self.voices.kill_all()
            self._reset_effects()

    def _reset_effects(self) -> None:
        """Clear the effects' state (tails, or NaN held in a filter); a failure is counted, not raised."""
        if self.effects is None:
            return
        try:
            self.effects.reset()
        except Exception as exc:
            self._counters[EFFECT_ERRORS] += 1
            self.last_error = exc

    def _apply(self, cmd: RenderCommand) -> None:
        """Apply one command between two blocks; count (never raise) the ones that cannot be applied."""
        try:
            if isinstance(cmd, PlaySound):
                self.voices.start(cmd)
                self._records.add(cmd.trigger_id, cmd.arrival, self.block_index)
            elif isinstance(cmd, SetGain):
                gain = float(cmd.gain)
                if not (math.isfinite(gain) and 0.0 <= gain <= MAX_GAIN):
                    raise ValueError(f"gain must be in 0..{MAX_GAIN}, got {cmd.gain}")
                self._target_gain = gain
            else:  # StopAll never gets here: submit() turns it into panic()
                raise TypeError(f"not a render command: {type(cmd).__name__}")
        except Exception as exc:
            self._counters[REJECTED] += 1
            self.last_error = exc

    def render_offline(self, n_blocks: int) -> np.ndarray:
        """Render ``n_blocks`` blocks now (for bouncing and tests): float32 [n_blocks*block_size, channels].

        Same code path as live. Not while the live thread runs (raises RuntimeError).
        """
        if self.running:
            raise RuntimeError("render_offline cannot run while the live render thread is running; stop() it first")
        bs = self.block_size
        audio = np.empty((n_blocks * bs, self.channels), dtype=np.float32)
        for b in range(n_blocks):
            self.render_block(out=audio[b * bs : (b + 1) * bs])
        return audio

    # ---- live thread ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the daemon render thread that keeps ``ring`` filled to ``lookahead_blocks`` blocks.

        Records ``ring_origin`` = (block_index, ring.written): block b's first frame is ring frame
        ``ring_origin[1] + (b - ring_origin[0]) * block_size``. Owner thread.
        """
        if self.ring is None:
            raise RuntimeError("the live render thread needs a ring buffer; this Renderer has ring=None")
        if self.running:
            raise RuntimeError("the render thread is already running")
        self._stop.clear()
        self._thread_error = None
        self.ring_origin = (self.block_index, self.ring.written)
        self._thread = threading.Thread(target=self._run, name="gesam-render", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop and join the render thread; re-raises (as RuntimeError) an error that ended it. Owner thread."""
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the render thread did not stop within {timeout} s")
        self._thread = None
        if self._thread_error is not None:
            raise RuntimeError(f"the render thread failed: {self._thread_error!r}") from self._thread_error

    def _run(self) -> None:
        ring = self.ring
        assert ring is not None
        bs = self.block_size
        target = self.lookahead_blocks * bs
        nap = bs / self.sample_rate / 4.0
        period = bs / self.sample_rate
        seen_underruns = self.underruns() if self.underruns is not None else 0
        try:
            while not self._stop.is_set():
                if self.underruns is not None:
                    count = self.underruns()
                    if count > seen_underruns:
                        seen_underruns = count
                        self.margin_s = min(max(2 * self.margin_s, 0.001), period)
                available = ring.available()
                if ring.free() >= bs and available < target:
                    due = self.next_callback() if self.next_callback is not None else None
                    if due is not None:  # the block rendered now is taken after the ones waiting
                        wake = due + (available // bs) * period - self.margin_s
                        wait = wake - time.perf_counter()
                        if wait > 0:
                            time.sleep(min(wait, nap))
                            continue
                    ring.write(self.render_block(now=time.perf_counter()))
                else:
                    time.sleep(nap)
        except Exception as exc:  # reported by stop(); the callback then counts underruns
            self._thread_error = exc
            self.last_error = exc

    # ---- metrics thread ------------------------------------------------------------------
    @property
    def records_lost(self) -> int:
        """Trigger records overwritten before ``trigger_records`` read them."""
        return self._records.lost

    def trigger_records(self) -> list[TriggerRecord]:
        """Trigger records written since the last call, oldest first. One metrics thread only."""
        return self._records.read()
