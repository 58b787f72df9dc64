"""The mixer: commands -> voices -> effects -> output gain -> safety limiter, one block at a time.

It runs inside the audio process's callback (``callback.py``), so the mixer owns the audio clock
and never shares an interpreter lock with torch. Commands come from a ``CommandSource``: live,
the shared-memory command ring (``command_ring.py``, decoded by ``mixer.RingCommands``);
offline and in tests, ``LocalCommands`` (``Renderer.submit``). A command is a ``PlaySound``
(``voices.py``), a ``SetGain`` or a ``SetParam`` (an effect parameter, already validated by
the engine). One code path for live playing and for offline bouncing: ``render_block``.

A play with ``at_frame`` >= 0 (a timed trigger: an OSC bundle's time tag, a MIDI timestamp)
starts on exactly that output frame: it waits in a small heap until its block, then starts
inside it. One whose frame has passed starts at once and is counted as late.

Two rules keep a bad moment from turning into a bad minute:
- A panic never waits behind other commands: the source reports it out of band (a counter
  and the sequence number it cuts at). The mix fades out over ``PANIC_FADE_MS``, the plays
  queued before it (timed ones included) are dropped, then every voice stops and every effect
  is reset (tails included).
- Live, an untimed trigger older than ``stale_after_s`` when the mixer gets to it (the device
  was gone, the ring filled up) is dropped and counted, so they do not all start in one block.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import math
import threading
from typing import Protocol

import numpy as np

from gesam_engine.runtime.limiter import LimiterConfig, SafetyLimiter
from gesam_engine.runtime.trigger_log import TriggerLog, TriggerRecord
from gesam_engine.runtime.voices import PlaySound, VoicePool

__all__ = ["CommandSource", "Effects", "LocalCommands", "MAX_GAIN", "PANIC_FADE_MS", "QUEUE_SIZE", "PlaySound",
           "RENDER_COUNTERS", "RenderCommand", "Renderer", "SetGain", "SetParam", "StopAll", "TriggerRecord"]

QUEUE_SIZE = 1024
MAX_GAIN = 4.0
MAX_PENDING = 4096  # timed plays waiting for their block
PANIC_FADE_MS = 5.0  # a panic fades the whole output out over this long, then resets everything
STALE_S = 0.5  # live: an untimed trigger this late is dropped (a device that is gone stalls for seconds)
RENDER_COUNTERS = ("rejected", "effect_errors", "nonfinite_blocks", "stale_dropped", "panics", "panic_dropped",
                   "timed", "timed_late")
REJECTED, EFFECT_ERRORS, NONFINITE, STALE, PANICS, PANIC_DROPPED, TIMED, TIMED_LATE = range(len(RENDER_COUNTERS))


@dataclasses.dataclass(frozen=True, slots=True)
class StopAll:
    """Panic: fade the whole output out (a few ms, so nothing clicks), then stop every voice and
    reset every effect. ``Renderer.submit`` never queues it: it becomes ``Renderer.panic()``."""


@dataclasses.dataclass(frozen=True, slots=True)
class SetGain:
    """Output gain (linear, 0..4), ramped over one block so it does not click."""

    gain: float


@dataclasses.dataclass(frozen=True, slots=True)
class SetParam:
    """An effect parameter change, encoded by ``EffectsChain.encode`` (effect and parameter by index)."""

    effect: int
    param: int
    value: float


RenderCommand = PlaySound | StopAll | SetGain | SetParam


class Effects(Protocol):
    """What the renderer needs from an effects chain; both methods are called by the mixer."""

    def process(self, block: np.ndarray) -> np.ndarray:
        """Process float32 [n, channels]; return float32 [n, channels] (may be the same array)."""
        ...

    def reset(self) -> None:
        """Clear every effect's internal state (delay lines, reverb tails, filter memories)."""
        ...


class CommandSource(Protocol):
    """Where the mixer's commands come from (the shared ring live, ``LocalCommands`` offline)."""

    def next(self) -> tuple[int, RenderCommand] | None:
        """The oldest waiting command and its sequence number (None: nothing waits)."""
        ...

    def release(self) -> None:
        """The command ``next`` returned has been acted on (its sound may be reused after this)."""
        ...

    def panic_request(self) -> tuple[int, int]:
        """(panics asked so far, sequence number before which queued plays are dropped)."""
        ...


class LocalCommands:
    """An in-process command source: a bounded deque and a panic counter. ``submit`` and ``panic``
    from any thread; ``next``/``release``/``panic_request`` from the mixer."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self.size = size
        self._queue: collections.deque[tuple[int, RenderCommand]] = collections.deque()
        self._lock = threading.Lock()  # submitting threads only; never taken by the mixer
        self._seq = 0
        self._panics = 0
        self._cutoff = 0
        self.dropped = 0

    def submit(self, cmd: RenderCommand) -> bool:
        """Queue ``cmd``; False (and one more ``dropped``) when ``size`` commands already wait."""
        with self._lock:
            if len(self._queue) >= self.size:
                self.dropped += 1
                return False
            self._queue.append((self._seq, cmd))  # deque.append/popleft are atomic
            self._seq += 1
            return True

    def panic(self) -> None:
        """Ask for a panic that drops everything submitted before it."""
        with self._lock:
            self._cutoff = self._seq
            self._panics += 1

    def next(self) -> tuple[int, RenderCommand] | None:
        try:
            return self._queue.popleft()
        except IndexError:
            return None

    def release(self) -> None:
        pass

    def panic_request(self) -> tuple[int, int]:
        return self._panics, self._cutoff


class Renderer:
    """Renders blocks of float32 [n <= block_size, channels] from a command source.

    ``submit`` and ``panic`` (a LocalCommands source only) from any thread; ``render_block`` and
    ``render_offline`` from the mixer's thread; the counters and ``trigger_records`` from a
    metrics thread. ``counters`` (int64 [len(RENDER_COUNTERS)]) and ``records`` may be shared memory.
    """

    def __init__(
        self,
        voices: VoicePool,
        channels: int,
        block_size: int,
        effects: Effects | None = None,
        limiter: LimiterConfig | None = None,
        source: CommandSource | None = None,
        counters: np.ndarray | None = None,
        records: TriggerLog | None = None,
        stale_after_s: float = STALE_S,
        gain: float = 1.0,
    ) -> None:
        if channels != voices.channels:
            raise ValueError(f"channels ({channels}) must match the voice pool's ({voices.channels})")
        if not 1 <= block_size <= voices.max_block:
            raise ValueError(f"block_size must be in 1..{voices.max_block} (the pool's max_block), got {block_size}")
        self.voices = voices
        self.channels = channels
        self.block_size = block_size
        self.sample_rate = voices.sample_rate
        self.effects = effects
        self.source: CommandSource = source if source is not None else LocalCommands()
        self.block_index = 0  # blocks rendered so far
        self.last_error: BaseException | None = None
        self.limiter = SafetyLimiter(limiter or LimiterConfig(), self.sample_rate, channels, block_size)
        self.stale_after_s = stale_after_s
        self._mix = np.zeros((block_size, channels), dtype=np.float32)
        self._block = np.zeros((block_size, channels), dtype=np.float32)
        self._steps = np.arange(1, block_size + 1, dtype=np.float32)  # 1, 2, ..., block_size
        self._gain_ramp = np.empty(block_size, dtype=np.float32)
        self._gain = self._target_gain = float(gain)  # a new audio process starts at the engine's gain
        self._records = records if records is not None else TriggerLog(4096)
        if counters is not None and (counters.shape != (len(RENDER_COUNTERS),) or counters.dtype != np.int64):
            raise ValueError(f"counters must be int64 ({len(RENDER_COUNTERS)},), got {counters.dtype} {counters.shape}")
        self._counters = np.zeros(len(RENDER_COUNTERS), np.int64) if counters is None else counters
        self._pending: list[tuple[int, int, PlaySound]] = []  # heap of (frame, seq, play): timed plays
        self._panics_done, self._cutoff = self.source.panic_request()  # panics before we started are not ours
        self._fade_n = max(1, round(PANIC_FADE_MS * self.sample_rate / 1000.0))
        self._fade = (1.0 - np.arange(1, self._fade_n + 1, dtype=np.float64) / self._fade_n).astype(np.float32)
        self._fade_left = 0  # frames of the panic fade still to play

    # ---- any thread ----------------------------------------------------------------------
    def submit(self, cmd: RenderCommand) -> bool:
        """Queue a command on the local source; False when its queue is full. A StopAll is ``panic()``."""
        if isinstance(cmd, StopAll):
            self.panic()
            return True
        if not isinstance(self.source, LocalCommands):
            raise TypeError("submit() needs a LocalCommands source; live commands go through the command ring")
        return self.source.submit(cmd)

    def panic(self) -> None:
        """Ask for a panic at the next block (local source): never dropped, never queued behind plays."""
        if not isinstance(self.source, LocalCommands):
            raise TypeError("panic() needs a LocalCommands source; live panics go through the shared control slots")
        self.source.panic()

    @property
    def dropped(self) -> int:
        """Commands refused by ``submit`` because the local queue was full."""
        return self.source.dropped if isinstance(self.source, LocalCommands) else 0

    def _count(self, i: int) -> int:
        return int(self._counters[i])

    @property
    def rejected(self) -> int:
        """Commands the mixer could not apply (bad values, not a render command, too many timed)."""
        return self._count(REJECTED)

    @property
    def effect_errors(self) -> int:
        """Blocks whose effects chain raised or returned a wrong shape (played dry instead)."""
        return self._count(EFFECT_ERRORS)

    @property
    def nonfinite_blocks(self) -> int:
        """Blocks that held NaN or infinity after the effects and gain: played as silence, effects reset."""
        return self._count(NONFINITE)

    @property
    def stale_dropped(self) -> int:
        """Untimed triggers dropped because they waited longer than ``stale_after_s`` (live only)."""
        return self._count(STALE)

    @property
    def panics(self) -> int:
        """Panics carried out."""
        return self._count(PANICS)

    @property
    def panic_dropped(self) -> int:
        """Triggers dropped because a panic came after them while they were queued or waiting."""
        return self._count(PANIC_DROPPED)

    def counters(self) -> dict[str, int]:
        """Every render counter by name, JSON-ready. Any thread."""
        values = self._counters.copy()
        return {"dropped": self.dropped, **{name: int(v) for name, v in zip(RENDER_COUNTERS, values)}}

    @property
    def gain(self) -> float:
        """The output gain reached at the end of the last rendered block."""
        return self._gain

    @property
    def frame(self) -> int:
        """Absolute output frame of the next rendered sample."""
        return self.voices.frame

    # ---- the mixer's thread ----------------------------------------------------------------
    def render_block(self, out: np.ndarray | None = None, now: float | None = None) -> np.ndarray:
        """Apply waiting commands, render the next block and return it: float32 [n, channels].

        n is ``len(out)`` when ``out`` is given (1..block_size; the block is written there), else
        block_size (the returned array is a preallocated buffer overwritten by the next call). An
        untimed play waiting before this call starts at this block's first frame, a timed one at
        its frame; both are heard ``limiter.latency`` frames later. ``now`` (time.perf_counter()
        seconds; live) drops untimed plays older than ``stale_after_s``; offline (None) every
        trigger plays.
        """
        n = self.block_size if out is None else int(out.shape[0])
        if not 1 <= n <= self.block_size:
            raise ValueError(f"a block must have 1..{self.block_size} frames, got {n}")
        asked, cutoff = self.source.panic_request()
        if asked != self._panics_done:  # first, and whatever waits
            self._start_panic(asked, cutoff)
        if self._fade_left == 0:  # during a panic's fade, commands wait (at most PANIC_FADE_MS)
            self._drain(now)
            self._start_due(n)

        mix = self._mix[:n]
        self.voices.render(mix)
        block = self._block[:n]
        processed = mix
        if self.effects is not None:
            try:
                processed = self.effects.process(mix)
                if processed.shape != mix.shape:
                    raise ValueError(f"effects returned shape {processed.shape}, expected {mix.shape}")
            except Exception as exc:  # a broken effect must not stop the audio: play dry, count it
                self._counters[EFFECT_ERRORS] += 1
                self.last_error = exc
                processed = mix
        np.copyto(block, processed, casting="same_kind")

        g0, g1 = self._gain, self._target_gain
        if g0 == g1:
            if g0 != 1.0:
                np.multiply(block, np.float32(g0), out=block)
        else:  # linear ramp reaching the new gain on the block's last sample
            ramp = self._gain_ramp[:n]
            np.multiply(self._steps[:n], np.float32((g1 - g0) / n), out=ramp)
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
        """Apply every waiting command, dropping plays queued before a panic and (live) stale ones."""
        stale_before = None if now is None else now - self.stale_after_s
        while True:
            item = self.source.next()
            if item is None:
                break
            seq, cmd = item
            if isinstance(cmd, PlaySound):
                if seq < self._cutoff:
                    self._counters[PANIC_DROPPED] += 1
                elif cmd.at_frame >= 0:
                    self._schedule(seq, cmd)
                elif stale_before is not None and 0.0 < cmd.arrival < stale_before:  # arrival 0 = unstamped
                    self._counters[STALE] += 1
                else:
                    self._apply(cmd)
            else:
                self._apply(cmd)
            self.source.release()

    def _schedule(self, seq: int, cmd: PlaySound) -> None:
        """Keep a timed play until its block (``_start_due``); refuse one past MAX_PENDING."""
        self._counters[TIMED] += 1
        if len(self._pending) >= MAX_PENDING:
            self._counters[REJECTED] += 1
            self.last_error = RuntimeError(f"more than {MAX_PENDING} timed triggers are waiting")
            return
        heapq.heappush(self._pending, (cmd.at_frame, seq, cmd))

    def _start_due(self, n: int) -> None:
        """Start the timed plays whose frame falls before the end of the next ``n`` frames."""
        t = self.voices.frame
        pending = self._pending
        while pending and pending[0][0] < t + n:
            frame, _, cmd = heapq.heappop(pending)
            if frame < t:
                self._counters[TIMED_LATE] += 1
            self._apply(cmd, max(frame, t))

    def _start_panic(self, asked: int, cutoff: int) -> None:
        """Release every voice and start the output fade; plays queued or waiting before it are dropped."""
        self._panics_done = asked
        self._cutoff = max(self._cutoff, cutoff)
        self._counters[PANICS] += 1
        self._counters[PANIC_DROPPED] += len(self._pending)
        self._pending.clear()
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

    def _apply(self, cmd: RenderCommand, at: int | None = None) -> None:
        """Apply one command before the next block; count (never raise) the ones that cannot be applied."""
        try:
            if isinstance(cmd, PlaySound):
                start = self.voices.frame if at is None else at
                self.voices.start(cmd, at=start)
                self._records.add(cmd.trigger_id, cmd.arrival, start, cmd.at_frame >= 0)
            elif isinstance(cmd, SetGain):
                gain = float(cmd.gain)
                if not (math.isfinite(gain) and 0.0 <= gain <= MAX_GAIN):
                    raise ValueError(f"gain must be in 0..{MAX_GAIN}, got {cmd.gain}")
                self._target_gain = gain
            elif isinstance(cmd, SetParam):
                apply = getattr(self.effects, "apply_encoded", None)
                if apply is None:
                    raise ValueError("an effect parameter change came, but there is no effects chain")
                apply(cmd.effect, cmd.param, cmd.value)
            else:  # StopAll never gets here: submit() turns it into panic()
                raise TypeError(f"not a render command: {type(cmd).__name__}")
        except Exception as exc:
            self._counters[REJECTED] += 1
            self.last_error = exc

    def render_offline(self, n_blocks: int) -> np.ndarray:
        """Render ``n_blocks`` blocks now (for bouncing and tests): float32 [n_blocks*block_size, channels].

        Same code path as live.
        """
        bs = self.block_size
        audio = np.empty((n_blocks * bs, self.channels), dtype=np.float32)
        for b in range(n_blocks):
            self.render_block(out=audio[b * bs : (b + 1) * bs])
        return audio

    # ---- metrics thread ------------------------------------------------------------------
    @property
    def records_lost(self) -> int:
        """Trigger records overwritten before ``trigger_records`` read them."""
        return self._records.lost

    def trigger_records(self) -> list[TriggerRecord]:
        """Trigger records written since the last call, oldest first. One metrics thread only."""
        return self._records.read()
