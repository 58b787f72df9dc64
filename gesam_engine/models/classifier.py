"""A small sound classifier: codec frames [T, D] -> training-class logits.

It colours the class map from generated sounds and scores the shipped model (does a sound
generated at a training point keep its original's class?), so it reads frames the way the
codec writes them: a 1-D convolution over time with the mel bands as channels, pooled over
time (mean and max, so a short click and a long tail both count), then a linear head.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from gesam_engine.config import check
from gesam_engine.models.vae import MAX_FEATURES, MAX_FRAMES


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of the frame classifier. ``n_frames``/``n_features`` come from the codec,
    ``n_classes`` from the corpus; none of the three is set by hand."""

    n_frames: int = 259
    n_features: int = 128
    n_classes: int = 6
    channels: int = 64
    n_down: int = 2
    kernel_size: int = 5
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check(1 <= self.n_frames <= MAX_FRAMES, f"classifier.n_frames must be in 1..{MAX_FRAMES}, got {self.n_frames}")
        check(1 <= self.n_features <= MAX_FEATURES,
              f"classifier.n_features must be in 1..{MAX_FEATURES}, got {self.n_features}")
        check(2 <= self.n_classes <= 1024,
              f"classifier.n_classes must be in 2..1024 (a classifier needs two classes), got {self.n_classes}")
        check(8 <= self.channels <= 512 and self.channels % 8 == 0,
              f"classifier.channels must be a multiple of 8 in 8..512, got {self.channels}")
        check(0 <= self.n_down <= 6, f"classifier.n_down must be in 0..6, got {self.n_down}")
        check(self.kernel_size in (3, 5, 7, 9), f"classifier.kernel_size must be one of 3, 5, 7, 9, got {self.kernel_size}")
        check(0.0 <= self.dropout < 1.0, f"classifier.dropout must be in [0, 1), got {self.dropout}")


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2), nn.GroupNorm(8, c_out), nn.GELU())


class FrameClassifier(nn.Module):
    """Frames [B, T, D] -> class logits [B, C]."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        c, k = config.channels, config.kernel_size
        blocks = [_conv_block(config.n_features, c, k, 1)]
        blocks += [_conv_block(c, c, k, 2) for _ in range(config.n_down)]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(2 * c, c), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(c, config.n_classes)
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [B, T, D] (any T >= 1) -> logits [B, C]; softmax them for probabilities."""
        h = self.body(frames.transpose(1, 2))  # (B, C, T')
        pooled = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1)  # (B, 2C)
        return self.head(pooled)  # (B, n_classes)

    @torch.inference_mode()
    def probabilities(self, frames: torch.Tensor, batch: int = 256) -> np.ndarray:
        """Softmax probabilities [B, C] float32 numpy of frames [B, T, D] (any device; moved to the
        module's), ``batch`` items at a time, in eval mode."""
        self.eval()
        device = next(self.parameters()).device
        out = np.empty((frames.shape[0], self.config.n_classes), dtype=np.float32)
        for i in range(0, frames.shape[0], batch):
            logits = self(frames[i : i + batch].to(device, torch.float32))  # (b, C)
            out[i : i + batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return out
