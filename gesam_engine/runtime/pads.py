"""Pads: map points stored under a number, each with a name, pitch, level and choke group."""

from __future__ import annotations

import dataclasses
import math

from gesam_engine.errors import GesamError


class PadError(GesamError, ValueError):
    """A pad number or pad setting out of range."""


@dataclasses.dataclass(frozen=True)
class Pad:
    """One pad. ``pitch`` in semitones (-48..48), ``gain`` linear (0..4), ``choke`` -1 = none."""

    x: float
    y: float
    name: str = ""
    pitch: float = 0.0
    gain: float = 1.0
    choke: int = -1

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.x, self.y, self.pitch, self.gain)):
            raise PadError(f"pad values must be finite numbers, got {self}")
        if not 0 <= self.x <= 1 or not 0 <= self.y <= 1:
            raise PadError(f"pad x and y must be in [0, 1], got ({self.x}, {self.y})")
        if not -48 <= self.pitch <= 48:
            raise PadError(f"pad pitch must be in -48..48 semitones, got {self.pitch}")
        if not 0 <= self.gain <= 4:
            raise PadError(f"pad gain must be in 0..4, got {self.gain}")
        if not -1 <= self.choke <= 63:
            raise PadError(f"pad choke group must be in -1..63 (-1 = none), got {self.choke}")

    @property
    def xy(self) -> tuple[float, float]:
        """The pad's map point."""
        return (self.x, self.y)

    @property
    def rate(self) -> float:
        """Playback-rate ratio for the pad's pitch."""
        return float(2.0 ** (self.pitch / 12.0))


def default_pads(n: int) -> list[Pad]:
    """``n`` pads spread over the map on a square grid (row-major from the bottom left)."""
    side = math.ceil(math.sqrt(n))
    return [Pad((i % side + 0.5) / side, (i // side + 0.5) / side, name=f"pad {i}") for i in range(n)]
