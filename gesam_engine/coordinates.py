"""Normalised map coordinates (x, y in [0, 1], y up) <-> the VAE's latent plane.

Everything a person or a controller sees uses normalised coordinates; the model file stores
the extent: a square around the training points, so the map is not stretched.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from gesam_engine.errors import GesamError


class CoordinateError(GesamError, ValueError):
    """A map coordinate was NaN, infinite, or not a pair of numbers."""


@dataclasses.dataclass(frozen=True)
class MapExtent:
    """A square in the latent plane: centre (cx, cy) and half side ``half``."""

    cx: float = 0.0
    cy: float = 0.0
    half: float = 1.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.cx, self.cy, self.half)) or self.half <= 0:
            raise CoordinateError(f"map extent must be finite with half > 0, got {self}")

    @classmethod
    def around(cls, points: np.ndarray, margin: float = 0.05) -> "MapExtent":
        """The smallest square holding ``points`` [N, 2], widened by ``margin`` of its side."""
        pts = np.asarray(points, dtype=np.float64)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        centre = (lo + hi) / 2
        half = max(float((hi - lo).max()) / 2, 1e-3) * (1 + 2 * margin)
        return cls(float(centre[0]), float(centre[1]), half)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MapExtent":
        """From model.json's ``map.extent``."""
        try:
            return cls(float(data["cx"]), float(data["cy"]), float(data["half"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CoordinateError(f"map extent needs numbers cx, cy, half; got {data!r} ({exc})") from None

    def to_dict(self) -> dict[str, float]:
        """For model.json."""
        return dataclasses.asdict(self)

    def to_latent(self, xy: np.ndarray) -> np.ndarray:
        """Normalised [..., 2] -> latent [..., 2]; values outside [0, 1] are clamped, NaN/inf refused."""
        xy = np.asarray(xy, dtype=np.float64)
        if xy.shape[-1:] != (2,):
            raise CoordinateError(f"map coordinates must be (x, y) pairs, got shape {xy.shape}")
        if not np.isfinite(xy).all():
            raise CoordinateError("map coordinates must be finite numbers in [0, 1]; got NaN or infinity")
        xy = np.clip(xy, 0.0, 1.0)
        centre = np.array([self.cx, self.cy])
        return (centre + (xy * 2 - 1) * self.half).astype(np.float32)

    def to_normalised(self, z: np.ndarray) -> np.ndarray:
        """Latent [..., 2] -> normalised [..., 2] (not clamped, so outliers stay visible)."""
        z = np.asarray(z, dtype=np.float64)
        centre = np.array([self.cx, self.cy])
        normalised: np.ndarray = ((z - centre) / self.half + 1) / 2
        return normalised
