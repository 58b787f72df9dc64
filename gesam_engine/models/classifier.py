"""A small sound classifier: codec frames [T, D] -> training-class logits.

It colours the class map from generated sounds and scores the shipped model (does a sound
generated at a training point keep its original's class?), so it reads frames the way the
codec writes them, pooled over time (mean and max, so a short click and a long tail both
count), then a small head. Two bodies (``arch``):

- ``conv1d``, the first shipped classifier's: a 1-D convolution over time with the bands as
  channels. Every band has its own weights, so a kit tuned or equalised differently from the
  training kits looks new to it (69.5 % on the validation kits).
- ``conv2d``: a small CNN over (time, band) that halves both ``n_down`` times, so the same
  filters slide along the bands and a shifted or tilted spectrum keeps its shape; the band
  position survives coarsely (``ceil(D / 2**n_down)`` bands) for the head to tell a kick
  from a tom. ``gesam train`` uses it by default (``TRAINING_DEFAULTS``).

``input_norm = "max"`` shifts each sound's frames so its loudest bin sits at 1.0: a level
change (a quieter kit, or a generated sound 6 dB under its original) no longer moves it.

``band_pool = N`` (for the linear STFT codec) first averages the frame's rows, read as STFT bins
from 0 Hz to ``sample_rate / 2``, into N mel-spaced bands (a fixed, unlearnt matrix of librosa's
mel filters, each row scaled to sum 1, applied to the frames' dB values; ``codec.mel_filters``
computes them without importing librosa). A kick lives in the lowest dozen of 513 bins, which
stride-2 layers otherwise pool into one row: on the shipped model's held-out originals, 128
bands took the classifier from 79.9 % to 86.8 % (kicks 69 % to 81 %).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from gesam_engine.codec.mel_filters import mel_filters
from gesam_engine.config import check
from gesam_engine.models.vae import MAX_FEATURES, MAX_FRAMES

ARCHS = ("conv1d", "conv2d")
INPUT_NORMS = ("none", "max")

# What ``gesam train`` uses where its [classifier] section says nothing: the recipe measured best
# on the validation kits (measured in training/classifier_trainer.py). The dataclass defaults stay the first shipped
# classifier's, so a model.json written before a key existed loads as the model it was.
TRAINING_DEFAULTS: dict[str, Any] = {"arch": "conv2d", "n_down": 4, "kernel_size": 3, "input_norm": "max",
                                     "label_smoothing": 0.1}


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """Architecture and training recipe of the frame classifier. ``n_frames``/``n_features`` come
    from the codec, ``n_classes`` from the corpus; none of the three is set by hand. Defaults are
    the first shipped classifier's (see ``TRAINING_DEFAULTS`` for what training uses)."""

    n_frames: int = 259
    n_features: int = 128
    n_classes: int = 6
    sample_rate: int = 44100  # of the codec; band_pool reads the rows as STFT bins up to sample_rate / 2
    arch: str = "conv1d"  # one of ARCHS
    band_pool: int = 0  # 0: the frame's rows as they are; N: first pooled into N mel-spaced bands (linear STFT frames)
    input_norm: str = "none"  # "max": every sound shifted (in dB) so its loudest bin is at 1.0
    channels: int = 64  # conv1d: every layer; conv2d: the last layers (the first have 1/4 and 1/2)
    n_down: int = 2  # stride-2 layers (conv2d: over time and bands)
    kernel_size: int = 5
    dropout: float = 0.2
    label_smoothing: float = 0.0  # training only
    augment_copies: int = 0  # training only: waveform-augmented copies per sound (training/augment.py)
    augment_pitch_semitones: float = 2.0
    augment_tilt_db: float = 6.0
    augment_saturation: float = 0.3
    augment_room: float = 0.3

    def __post_init__(self) -> None:
        check(1 <= self.n_frames <= MAX_FRAMES, f"classifier.n_frames must be in 1..{MAX_FRAMES}, got {self.n_frames}")
        check(1 <= self.n_features <= MAX_FEATURES,
              f"classifier.n_features must be in 1..{MAX_FEATURES}, got {self.n_features}")
        check(2 <= self.n_classes <= 1024,
              f"classifier.n_classes must be in 2..1024 (a classifier needs two classes), got {self.n_classes}")
        check(8000 <= self.sample_rate <= 192000, f"classifier.sample_rate must be in 8000..192000, got {self.sample_rate}")
        check(self.band_pool == 0 or 8 <= self.band_pool < self.n_features,
              f"classifier.band_pool must be 0 (off) or 8..n_features-1 ({self.n_features - 1}), got {self.band_pool}")
        check(8 <= self.channels <= 512 and self.channels % 8 == 0,
              f"classifier.channels must be a multiple of 8 in 8..512, got {self.channels}")
        check(self.arch in ARCHS, f"classifier.arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        check(self.input_norm in INPUT_NORMS,
              f"classifier.input_norm must be one of {', '.join(INPUT_NORMS)}, got {self.input_norm!r}")
        check(0 <= self.n_down <= 6, f"classifier.n_down must be in 0..6, got {self.n_down}")
        check(self.arch != "conv2d" or self.n_down >= 1,
              "classifier.n_down must be >= 1 for arch conv2d (it halves the bands before the head)")
        check(self.kernel_size in (3, 5, 7, 9), f"classifier.kernel_size must be one of 3, 5, 7, 9, got {self.kernel_size}")
        check(0.0 <= self.dropout < 1.0, f"classifier.dropout must be in [0, 1), got {self.dropout}")
        check(0.0 <= self.label_smoothing < 1.0, f"classifier.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        check(0 <= self.augment_copies <= 64,
              f"classifier.augment_copies must be in 0..64 (0 = no waveform augmentation), got {self.augment_copies}")
        check(0.0 <= self.augment_pitch_semitones <= 12.0,
              f"classifier.augment_pitch_semitones must be in 0..12, got {self.augment_pitch_semitones}")
        check(0.0 <= self.augment_tilt_db <= 24.0, f"classifier.augment_tilt_db must be in 0..24 dB, got {self.augment_tilt_db}")
        for name in ("augment_saturation", "augment_room"):
            check(0.0 <= getattr(self, name) <= 1.0, f"classifier.{name} is a chance in [0, 1], got {getattr(self, name)}")


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2), nn.GroupNorm(8, c_out), nn.GELU())


def _conv2d_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=2, padding=kernel // 2),
                         nn.GroupNorm(math.gcd(8, c_out), c_out), nn.GELU())


def conv2d_widths(config: ClassifierConfig) -> list[int]:
    """Channels of the conv2d body's layers: a quarter, a half, then all of ``channels``."""
    return [max(8, config.channels >> max(0, 2 - i)) for i in range(config.n_down)]


def band_pool_matrix(config: ClassifierConfig) -> torch.Tensor:
    """The fixed [band_pool, n_features] matrix that averages STFT-bin rows into mel-spaced bands
    (librosa's mel filters over n_fft = 2 * (n_features - 1), each row scaled to sum 1)."""
    fb = mel_filters(config.sample_rate, 2 * (config.n_features - 1), config.band_pool, norm=None)
    fb = fb / np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)
    return torch.from_numpy(fb.astype(np.float32))  # (band_pool, n_features)


def input_rows(config: ClassifierConfig) -> int:
    """Rows the body reads: the frame's features, or ``band_pool`` bands after pooling."""
    return config.band_pool or config.n_features


def pooled_bands(config: ClassifierConfig) -> int:
    """Bands left after the conv2d body: ``ceil(input_rows / 2**n_down)``."""
    bands = input_rows(config)
    for _ in range(config.n_down):
        bands = (bands - 1) // 2 + 1
    return bands


class FrameClassifier(nn.Module):
    """Frames [B, T, D] -> class logits [B, C]."""

    pool: torch.Tensor | None  # (band_pool, D) buffer, or None without band pooling

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        c, k = config.channels, config.kernel_size
        if config.arch == "conv2d":
            widths = conv2d_widths(config)
            self.body = nn.Sequential(*[_conv2d_block(i, o, k) for i, o in zip([1, *widths[:-1]], widths)])
            pooled = 2 * widths[-1] * pooled_bands(config)
        else:
            blocks = [_conv_block(input_rows(config), c, k, 1)]
            blocks += [_conv_block(c, c, k, 2) for _ in range(config.n_down)]
            self.body = nn.Sequential(*blocks)
            pooled = 2 * c
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(pooled, c), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(c, config.n_classes),
        )
        # not a weight: rebuilt from the config, so it is neither stored nor expected in classifier.safetensors
        self.register_buffer("pool", band_pool_matrix(config) if config.band_pool else None, persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [B, T, D] (any T >= 1) -> logits [B, C]; softmax them for probabilities."""
        if self.pool is not None:
            frames = frames @ self.pool.T  # (B, T, band_pool): dB averaged over each band's bins
        if self.config.input_norm == "max":  # the level is the loudness treatment's, not the class's
            frames = frames - frames.amax(dim=(1, 2), keepdim=True) + 1.0  # (B, T, D), the floor moves too
        if self.config.arch == "conv2d":
            h = self.body(frames[:, None])  # (B, C, T', D')
            pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1).flatten(1)  # (B, 2C * D')
        else:
            h = self.body(frames.transpose(1, 2))  # (B, C, T')
            pooled = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1)  # (B, 2C)
        logits: torch.Tensor = self.head(pooled)  # (B, n_classes)
        return logits

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
