"""The engine's end of the shared segment: it sends commands to the mixer and reads what the
mixer and the callback counted. ``AudioOutput`` (a device, through the audio process) and
``FileOutput`` (a WAV file, the same mixer on a thread) are both an ``AudioLink``.

Every command goes through one lock here, so the command ring has exactly one producer however
many control threads (OSC, MIDI, web, console) play at once. A play names a sound-pool slot
(``sound_pool.py``): the sound is copied into shared memory the first time, never per trigger.
A panic is not a ring record: it is the PANIC_CUTOFF and PANIC_ASKED control slots, so a full
ring can never hold it up.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np

from gesam_engine.runtime import command_ring as cr
from gesam_engine.runtime.callback import (
    GAIN, LIMITER_CLIPPED, LIMITER_ENGAGED, LIMITER_MAX_REDUCTION_DB, LIMITER_NONFINITE, OUTPUT_LATENCY_S, CallbackLog,
    CallbackReader,
)
from gesam_engine.runtime.mixer import MixerSpec
from gesam_engine.runtime.renderer import RENDER_COUNTERS
from gesam_engine.runtime.sample_clock import SampleClock
from gesam_engine.runtime.shared_audio import (
    CPU_NS, EPOCH, EPOCH_BLOCK, PANIC_ASKED, PANIC_CUTOFF, WALL_NS, AudioLayout, SharedAudio,
)
from gesam_engine.runtime.sound_pool import SoundPool
from gesam_engine.runtime.trigger_log import TriggerRecord


class AudioLink:
    """Commands in, counters out. Any thread may call every public method."""

    def __init__(self, layout: AudioLayout, spec: Callable[[], MixerSpec], timed_latency_frames: int) -> None:
        """``spec()`` gives the mixer's settings now (effect values and gain included), for each new mixer."""
        self.layout = layout
        self.sample_rate, self.blocksize, self.channels = layout.sample_rate, layout.blocksize, layout.channels
        self.spec = spec
        self.shared = SharedAudio(layout)
        self.reader = CallbackReader(self.shared.arrays)
        self.pool = SoundPool(self.shared.pool, holders=lambda: self.shared.holders,
                              consumed=lambda: self.shared.ring.consumed, frame=lambda: self.reader.frames)
        self.clock = SampleClock(layout.sample_rate, resync_frames=layout.blocksize)
        self.timed_latency_frames = timed_latency_frames
        self._triggers = self.shared.trigger_log()
        self._record = np.zeros(cr.FIELDS, np.float64)
        self._lock = threading.Lock()
        self._cpu_last: tuple[int, int] | None = None
        self.cpu_share: float | None = None  # the audio process's CPU share over the last sync_clock period

    # ---- commands (any thread) ---------------------------------------------------------------
    def play(self, sound: np.ndarray, *, velocity: float, gain: float, rate: float, choke: int, arrival: float,
             trigger_id: int, pan: float = 0.0, at: float | None = None, attack: float = 0.0, hold: float = 0.0,
             decay: float = 0.0, length: float = 0.0) -> bool:
        """Queue a play; False when the ring is full. ``at`` (perf_counter seconds) makes it timed:
        it starts on the frame the stream plays at ``at``, plus the fixed timed latency. ``attack``,
        ``hold``, ``decay`` and ``length`` (ms) shape the voice (``PlaySound``). Raises PoolFull when
        no sound slot is free."""
        with self._lock:
            slot, samples = self.pool.place(sound)
            target = -1
            if at is not None:
                frame = self.clock.frame_at(at)
                if frame is not None:  # before the stream has run a timed trigger plays as soon as it can
                    target = max(frame + self.timed_latency_frames, 0)
            r = self._record
            r.fill(0.0)
            r[cr.KIND], r[cr.SLOT], r[cr.LENGTH], r[cr.TARGET] = cr.PLAY, slot, samples, target
            r[cr.VELOCITY], r[cr.LEVEL], r[cr.RATE], r[cr.PAN], r[cr.CHOKE] = velocity, gain, rate, pan, choke
            r[cr.TRIGGER_ID], r[cr.ARRIVAL] = trigger_id, arrival
            r[cr.ATTACK], r[cr.HOLD], r[cr.DECAY], r[cr.CUT] = attack, hold, decay, length
            seq = self.shared.ring.push(r)
            if seq < 0:
                return False
            self.pool.sent(slot, seq, target)
            return True

    def _push(self, kind: float, a: float, b: float = 0.0, c: float = 0.0) -> bool:
        with self._lock:
            r = self._record
            r.fill(0.0)
            r[cr.KIND], r[1], r[2], r[3] = kind, a, b, c
            return self.shared.ring.push(r) >= 0

    def set_gain(self, gain: float) -> bool:
        """Output gain (validated by the caller), ramped over a block by the mixer."""
        return self._push(cr.GAIN, gain)

    def set_param(self, effect: int, param: int, value: float) -> bool:
        """An effect change encoded by ``EffectsChain.encode``."""
        return self._push(cr.PARAM, effect, param, value)

    def panic(self) -> None:
        """Fade everything out and drop every play queued so far; never refused, never queued."""
        with self._lock:
            control = self.shared.control
            control[PANIC_CUTOFF] = self.shared.ring.written  # first the cutoff, then the count
            control[PANIC_ASKED] += 1

    # ---- what the mixer counted (any thread) -----------------------------------------------------
    @property
    def underruns(self) -> int:
        """Blocks that missed their deadline or that the device reported as underflowing."""
        return self.reader.underruns

    @property
    def gain(self) -> float:
        """The output gain the mixer has reached."""
        return float(self.shared.values[GAIN])

    @property
    def output_latency_s(self) -> float:
        """What PortAudio reports for the open stream (0 for a file)."""
        return float(self.shared.values[OUTPUT_LATENCY_S])

    def log(self) -> CallbackLog:
        """The callback's timing log (see CallbackReader.log)."""
        return self.reader.log()

    def trigger_records(self) -> list[TriggerRecord]:
        """Trigger records since the last call (one metrics thread)."""
        return self._triggers.read()

    def render_counters(self) -> dict[str, int]:
        """The mixer's counters by name (rejected, effect_errors, nonfinite_blocks, stale_dropped, ...)."""
        values = self.shared.render_counters.copy()
        return {name: int(v) for name, v in zip(RENDER_COUNTERS, values)}

    def limiter_stats(self) -> dict[str, float]:
        """The safety limiter's counters as the mixer last published them."""
        v = self.shared.values
        return {"engaged_blocks": int(v[LIMITER_ENGAGED]), "clipped_blocks": int(v[LIMITER_CLIPPED]),
                "nonfinite_blocks": int(v[LIMITER_NONFINITE]), "max_reduction_db": round(float(v[LIMITER_MAX_REDUCTION_DB]), 3)}

    def sync_clock(self) -> None:
        """Keep the sample clock and the CPU share current (the engine's watch thread, about 5 times a second)."""
        control = self.shared.control
        self.clock.update(self.reader.log(), int(control[EPOCH]), int(control[EPOCH_BLOCK]))
        cpu, wall = int(control[CPU_NS]), int(control[WALL_NS])
        last = self._cpu_last
        if last is not None and wall - last[1] >= 500_000_000:
            self.cpu_share = max(0.0, (cpu - last[0]) / (wall - last[1])) if cpu >= last[0] else None
            self._cpu_last = (cpu, wall)
        elif last is None or wall < last[1]:
            self._cpu_last = (cpu, wall)

    def status(self) -> dict[str, Any]:
        """State, message and the callback's counters (AudioOutput and FileOutput add their own)."""
        return {"state": self.state, "message": self.message, "losses": self.losses, **self.reader.counts()}

    # ---- provided by the subclasses ----------------------------------------------------------------
    @property
    def state(self) -> str:
        """idle, opening, running, failed, lost or stopped."""
        raise NotImplementedError

    @property
    def message(self) -> str:
        """Where it plays, or why it cannot."""
        raise NotImplementedError

    @property
    def losses(self) -> int:
        """Times the output was lost while running."""
        return 0

    def open(self, timeout: float = 20.0) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

