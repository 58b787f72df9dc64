"""What the audio process builds over the shared segment: voices, effects, limiter and the
callback that runs them, fed by the command ring.

``MixerSpec`` is everything the audio process needs besides the segment's layout (voice and
limiter settings, the effect chain with its current values, the output gain); it travels as
JSON. ``build_mixer`` is the same for the live audio process and for ``FileOutput``, so a bounce
renders exactly what the device would have played. Nothing here imports torch; pedalboard is
imported only when there are effects.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from gesam_engine.runtime import command_ring as cr
from gesam_engine.runtime.callback import FRAMES, MixerCallback
from gesam_engine.runtime.limiter import LimiterConfig
from gesam_engine.runtime.renderer import RenderCommand, Renderer, SetGain, SetParam
from gesam_engine.runtime.shared_audio import PANIC_ASKED, PANIC_CUTOFF, RT_PRIORITY, SharedAudio
from gesam_engine.runtime.voices import PlaySound, VoiceConfig, VoicePool


class BadRecord:
    """A ring record of an unknown kind or with an impossible slot: the mixer rejects and counts it."""


_BAD = BadRecord()


@dataclasses.dataclass(frozen=True)
class MixerSpec:
    """Voices, limiter, effects (as ``EffectSpec`` dicts, with current values) and the output gain."""

    voices: VoiceConfig = VoiceConfig()
    limiter: LimiterConfig = LimiterConfig()
    effects: tuple[dict[str, Any], ...] = ()
    gain: float = 1.0

    def to_json(self) -> str:
        return json.dumps({"voices": dataclasses.asdict(self.voices), "limiter": dataclasses.asdict(self.limiter),
                           "effects": list(self.effects), "gain": self.gain})

    @classmethod
    def from_json(cls, text: str) -> "MixerSpec":
        d = json.loads(text)
        return cls(VoiceConfig(**d["voices"]), LimiterConfig(**d["limiter"]), tuple(d["effects"]), float(d["gain"]))


class RingCommands:
    """The mixer's command source over the shared command ring and sound pool (the audio thread only)."""

    def __init__(self, shared: SharedAudio) -> None:
        self.ring = shared.ring
        self.pool = shared.pool
        self.control = shared.control
        self._record = np.zeros(cr.FIELDS, np.float64)

    def next(self) -> tuple[int, RenderCommand] | None:
        seq = self.ring.peek_into(self._record)
        if seq < 0:
            return None
        return seq, self._decode(self._record)

    def _decode(self, r: np.ndarray) -> Any:
        kind = r[cr.KIND]
        if kind == cr.PLAY:
            slot, length = int(r[cr.SLOT]), int(r[cr.LENGTH])
            if not (0 <= slot < self.pool.shape[0] and 0 < length <= self.pool.shape[1]):
                return _BAD
            return PlaySound(self.pool[slot, :length], velocity=float(r[cr.VELOCITY]), gain=float(r[cr.LEVEL]),
                             rate=float(r[cr.RATE]), pan=float(r[cr.PAN]), choke=int(r[cr.CHOKE]),
                             arrival=float(r[cr.ARRIVAL]), trigger_id=int(r[cr.TRIGGER_ID]),
                             at_frame=int(r[cr.TARGET]), tag=slot, attack=float(r[cr.ATTACK]),
                             hold=float(r[cr.HOLD]), decay=float(r[cr.DECAY]), length=float(r[cr.CUT]))
        if kind == cr.GAIN:
            return SetGain(float(r[cr.VALUE]))
        if kind == cr.PARAM:
            return SetParam(int(r[cr.EFFECT]), int(r[cr.PARAMETER]), float(r[cr.PARAM_VALUE]))
        return _BAD

    def release(self) -> None:
        self.ring.pop()

    def panic_request(self) -> tuple[int, int]:
        asked = int(self.control[PANIC_ASKED])  # the engine stores the cutoff before the count
        return asked, int(self.control[PANIC_CUTOFF])


def raise_priority(priority: int) -> int:
    """Put the calling thread under SCHED_FIFO at ``priority`` unless it already runs realtime (JACK
    does that for its clients when its server is realtime); the priority it has then, -1 if refused."""
    import os

    try:
        if os.sched_getscheduler(0) in (os.SCHED_FIFO, os.SCHED_RR):
            return int(os.sched_getparam(0).sched_priority)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return priority
    except (AttributeError, OSError):  # not Linux, or no right to (no rtprio limit)
        return -1


def build_mixer(shared: SharedAudio, spec: MixerSpec, realtime_priority: int = 0) -> MixerCallback:
    """Voices, effects and limiter over ``shared``, continuing its sample clock; the callback to run.
    ``realtime_priority`` > 0: the callback's thread asks for SCHED_FIFO at its first call.

    Raises ConfigError when an effect cannot be built (the audio process reports it and exits).
    """
    lay = shared.layout
    voices = VoicePool(spec.voices, lay.sample_rate, lay.channels, max_block=lay.blocksize, tags=shared.holders)
    voices.frame = int(shared.arrays.counters[FRAMES])  # a new audio process continues the stream's count
    effects = None
    if spec.effects:
        from gesam_engine.runtime.effects import EffectsChain, load_effect_specs  # pedalboard: only with effects

        effects = EffectsChain(load_effect_specs(list(spec.effects)), lay.sample_rate, lay.channels)
        effects.prepare(lay.blocksize)
    renderer = Renderer(voices, lay.channels, lay.blocksize, effects, spec.limiter, source=RingCommands(shared),
                        counters=shared.render_counters, records=shared.trigger_log(), gain=spec.gain)
    first = None
    if realtime_priority > 0:
        def first() -> None:
            shared.control[RT_PRIORITY] = raise_priority(realtime_priority)
    return MixerCallback(renderer, shared.arrays, shared.values, on_first_call=first)
