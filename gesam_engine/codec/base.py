"""The codec interface: audio <-> frame sequences [T, D] that the models learn.

Models only ever see frames, so a learned codec (EnCodec, or our own) can replace the
default mel codec behind this interface without touching the VAE or the transformer.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Codec(Protocol):
    """What every codec offers. ``name`` and ``to_config()`` are stored in model.json."""

    name: str
    sample_rate: int
    frame_rate: float
    n_features: int

    def to_config(self) -> dict[str, Any]:
        """JSON-ready settings that rebuild this codec with ``make_codec``."""
        ...

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for a wave of ``n_samples`` samples."""
        ...

    def encode(self, wave: np.ndarray) -> np.ndarray:
        """Mono float wave [L] at ``sample_rate`` -> frames [T, D] float32."""
        ...

    def decode(self, frames: np.ndarray) -> np.ndarray:
        """Frames [T, D] -> mono float32 wave [L] at ``sample_rate``."""
        ...

    def encode_batch(self, waves: torch.Tensor) -> torch.Tensor:
        """Waves [B, L] -> frames [B, T, D] (same device)."""
        ...

    def decode_batch(self, frames: torch.Tensor, n_samples: int | None = None) -> torch.Tensor:
        """Frames [B, T, D] -> waves [B, L] (same device); batched so a GPU decodes many at once."""
        ...
