"""Commands the engine sends to its render thread, through one bounded queue (a StopAll
through its own counter, so a full queue never drops a panic).

They carry everything the render thread needs (the sound is already resolved and resampled),
so rendering never waits on the model, the cache or any lock held by another thread.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, slots=True)
class PlaySound:
    """Start a voice. ``sound`` is mono float32 [L] at the output rate and is never modified."""

    sound: np.ndarray
    velocity: float = 1.0  # 0..1; the voice pool turns it into gain along its velocity curve
    gain: float = 1.0  # extra linear gain (a pad's level), 0..4
    rate: float = 1.0  # playback-rate ratio: 2.0 = an octave up (pitch by resampling)
    choke: int = -1  # choke group; -1 = none. Starting a voice fades out the others of its group
    pan: float = 0.0  # -1 left .. +1 right (equal-power)
    arrival: float = 0.0  # time.perf_counter() when the trigger reached the engine
    trigger_id: int = 0  # ties the trigger to its latency record


@dataclasses.dataclass(frozen=True, slots=True)
class StopAll:
    """Panic: fade the whole output out (a few ms, so nothing clicks), then stop every voice and
    reset every effect. ``Renderer.submit`` never queues it: it becomes ``Renderer.panic()``."""


@dataclasses.dataclass(frozen=True, slots=True)
class SetGain:
    """Output gain (linear, 0..4), ramped over one block so it does not click."""

    gain: float


@dataclasses.dataclass(frozen=True, slots=True)
class SetEffectParam:
    """Set ``param`` of effect ``effect`` (its name in the chain) to ``value`` between two blocks."""

    effect: str
    param: str
    value: float


RenderCommand = PlaySound | StopAll | SetGain | SetEffectParam
