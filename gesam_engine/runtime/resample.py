"""Sample-rate conversion of generated sounds to the output device's rate (soxr, high quality)."""

from __future__ import annotations

import numpy as np
import soxr


def to_rate(wave: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Mono float32 [L] at ``from_rate`` -> float32 at ``to_rate`` (the same array if equal)."""
    if from_rate == to_rate:
        return np.ascontiguousarray(wave, dtype=np.float32)
    resampled: np.ndarray = soxr.resample(np.asarray(wave, dtype=np.float32), from_rate, to_rate, quality="HQ")
    return resampled.astype(np.float32)
