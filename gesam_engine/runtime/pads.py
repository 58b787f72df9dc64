"""Pads: map points stored under a number, each with a name, pitch, level, choke group, a shape
(envelope and tilt), variation (round robin around its point), velocity layers and a lock.

Every setting is a plain value, so a pad saves to kit TOML and back unchanged (``kits.py``).
"""

from __future__ import annotations

import dataclasses
import math

from gesam_engine.errors import GesamError

VARIATION_MODES = ("cycle", "random")
SHAPE_PARAMS = ("attack", "hold", "decay", "length", "tilt")  # /gesam/pad/<n>/shape/<param>
MAX_ENVELOPE_MS = 10_000.0
MAX_VARIATION = 0.5
MAX_VARIANTS = 16
MAX_LAYERS = 8


class PadError(GesamError, ValueError):
    """A pad number or pad setting out of range."""


@dataclasses.dataclass(frozen=True)
class Pad:
    """One pad. ``pitch`` in semitones (-48..48), ``gain`` linear (0..4), ``choke`` -1 = none.

    Shape (applied to each voice the pad starts):
    ``attack`` ms of linear fade-in (0..10000); ``hold`` ms at full level after the attack and
    ``decay`` ms of linear fade to silence after that (decay 0 = no decay: the sound rings to its
    end); ``length`` ms after which the voice is cut with the release fade (0 = the whole sound);
    ``tilt`` -1..1: below 0 a lowpass (darker), above 0 a highpass (brighter), 0 = flat.

    Variation: ``variation`` is a radius on the map (0..0.5, 0 = off); ``variants`` sounds
    (1..16) are made around the point and played in turn (``variation_mode`` "cycle") or at
    random ("random"). Velocity layers: a hit at velocity v plays the point moved by
    ``(1 - v) * (soft_x, soft_y)`` (so full velocity plays the pad's own point), quantised to
    ``layers`` (1..8) steps. ``locked`` keeps the pad's point when the kit is randomised.
    """

    x: float
    y: float
    name: str = ""
    pitch: float = 0.0
    gain: float = 1.0
    choke: int = -1
    attack: float = 0.0
    hold: float = 0.0
    decay: float = 0.0
    length: float = 0.0
    tilt: float = 0.0
    variation: float = 0.0
    variants: int = 4
    variation_mode: str = "cycle"
    soft_x: float = 0.0
    soft_y: float = 0.0
    layers: int = 4
    locked: bool = False

    def __post_init__(self) -> None:
        numbers = (self.x, self.y, self.pitch, self.gain, self.attack, self.hold, self.decay, self.length, self.tilt,
                   self.variation, self.soft_x, self.soft_y)
        if not all(math.isfinite(v) for v in numbers):
            raise PadError(f"pad values must be finite numbers, got {self}")
        if not 0 <= self.x <= 1 or not 0 <= self.y <= 1:
            raise PadError(f"pad x and y must be in [0, 1], got ({self.x}, {self.y})")
        if not -48 <= self.pitch <= 48:
            raise PadError(f"pad pitch must be in -48..48 semitones, got {self.pitch}")
        if not 0 <= self.gain <= 4:
            raise PadError(f"pad gain must be in 0..4, got {self.gain}")
        if not -1 <= self.choke <= 63:
            raise PadError(f"pad choke group must be in -1..63 (-1 = none), got {self.choke}")
        for key in ("attack", "hold", "decay", "length"):
            value = getattr(self, key)
            if not 0 <= value <= MAX_ENVELOPE_MS:
                raise PadError(f"pad {key} must be in 0..{MAX_ENVELOPE_MS:g} ms, got {value}")
        if not -1 <= self.tilt <= 1:
            raise PadError(f"pad tilt must be in -1..1 (below 0 darker, above 0 brighter), got {self.tilt}")
        if not 0 <= self.variation <= MAX_VARIATION:
            raise PadError(f"pad variation must be a radius in 0..{MAX_VARIATION:g} (0 = off), got {self.variation}")
        if isinstance(self.variants, bool) or not isinstance(self.variants, int) or not 1 <= self.variants <= MAX_VARIANTS:
            raise PadError(f"pad variants must be an integer in 1..{MAX_VARIANTS}, got {self.variants!r}")
        if self.variation_mode not in VARIATION_MODES:
            raise PadError(f"pad variation_mode must be one of {', '.join(VARIATION_MODES)}, got {self.variation_mode!r}")
        if not -1 <= self.soft_x <= 1 or not -1 <= self.soft_y <= 1:
            raise PadError(f"pad soft_x and soft_y must be in -1..1, got ({self.soft_x}, {self.soft_y})")
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or not 1 <= self.layers <= MAX_LAYERS:
            raise PadError(f"pad layers must be an integer in 1..{MAX_LAYERS}, got {self.layers!r}")
        if not isinstance(self.locked, bool):
            raise PadError(f"pad locked must be true or false, got {self.locked!r}")

    @property
    def xy(self) -> tuple[float, float]:
        """The pad's map point."""
        return (self.x, self.y)

    @property
    def rate(self) -> float:
        """Playback-rate ratio for the pad's pitch."""
        return float(2.0 ** (self.pitch / 12.0))

    @property
    def shaped(self) -> bool:
        """Whether the pad changes its sound's envelope or tone at all."""
        return bool(self.attack or self.decay or self.length or self.tilt)


GM_DRUMS = ("kick", "side stick", "snare", "clap", "snare 2", "low floor tom", "closed hat", "high floor tom",
            "pedal hat", "low tom", "open hat", "low-mid tom", "hi-mid tom", "crash", "high tom", "ride")
"""The General MIDI drum names of notes 36..51, the default pads' names: kit randomising keeps each
pad in its name's class region, so a fresh random kit plays like a drum kit from a GM drum track."""


def default_pads(n: int) -> list[Pad]:
    """``n`` pads spread over the map on a square grid (row-major from the bottom left), named as the
    General MIDI drums of their notes (``GM_DRUMS``; "pad N" beyond the sixteenth)."""
    side = math.ceil(math.sqrt(n))
    return [Pad((i % side + 0.5) / side, (i // side + 0.5) / side, name=GM_DRUMS[i] if i < len(GM_DRUMS) else f"pad {i}")
            for i in range(n)]
