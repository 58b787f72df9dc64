"""The default codec: log-mel frames, decoded by a pseudo-inverse mel filterbank plus fast
Griffin-Lim (Perraudin et al. 2013), written in torch so decoding batches and runs on a GPU.
Griffin-Lim starts from a seeded random phase, or from PGHI with ``phase_init = "pghi"``.

It needs no downloaded weights. ``mel_filters`` builds the mel filterbank (librosa's numbers,
without importing librosa); torch.stft/istft do the transforms (librosa.griffinlim is
numpy-only and cannot batch on a GPU, hence our own loop).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from gesam_engine.codec.mel_filters import mel_filters
from gesam_engine.codec.phase import check_phase_init, griffin_lim, griffin_lim_reference, initial_angles
from gesam_engine.config import check, from_dict, to_dict
from gesam_engine.errors import CodecError


@dataclasses.dataclass(frozen=True)
class MelCodecConfig:
    """Settings of the mel codec; frames are dB mel magnitudes scaled to about [0, 1]."""

    sample_rate: int = 44100
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    db_floor: float = -100.0
    griffin_lim_iters: int = 32
    momentum: float = 0.99
    seed: int = 0
    phase_init: str = "random"  # "pghi": PGHI start, as good after 4 iterations as "random" after 32
    pghi_tol: float = 1e-5  # bins this far under the loudest (amplitude ratio) keep the random phase

    def __post_init__(self) -> None:
        check(8000 <= self.sample_rate <= 192000, f"codec.sample_rate must be in 8000..192000, got {self.sample_rate}")
        check(self.n_fft >= 64 and self.n_fft & (self.n_fft - 1) == 0,
              f"codec.n_fft must be a power of two >= 64, got {self.n_fft}")
        check(0 < self.hop_length <= self.n_fft, f"codec.hop_length must be in 1..n_fft, got {self.hop_length}")
        check(8 <= self.n_mels <= self.n_fft // 2 + 1, f"codec.n_mels must be in 8..n_fft/2+1, got {self.n_mels}")
        top = self.fmax if self.fmax is not None else self.sample_rate / 2
        check(0 <= self.fmin < top <= self.sample_rate / 2,
              f"codec.fmin/fmax must satisfy 0 <= fmin < fmax <= sample_rate/2, got {self.fmin}, {self.fmax}")
        check(self.db_floor < 0, f"codec.db_floor must be negative dB, got {self.db_floor}")
        check(0 <= self.griffin_lim_iters <= 1000, f"codec.griffin_lim_iters must be in 0..1000, got {self.griffin_lim_iters}")
        check(0 <= self.momentum < 1, f"codec.momentum must be in [0, 1), got {self.momentum}")
        check_phase_init(self.phase_init)
        check(0 < self.pghi_tol < 1, f"codec.pghi_tol must be in (0, 1), got {self.pghi_tol}")


class MelCodec:
    """Log-mel analysis and Griffin-Lim synthesis. Stateless after construction; thread-safe."""

    name = "mel"

    def __init__(self, config: MelCodecConfig | None = None) -> None:
        self.config = config or MelCodecConfig()
        c = self.config
        self.sample_rate = c.sample_rate
        self.frame_rate = c.sample_rate / c.hop_length
        self.n_features = c.n_mels
        fb = mel_filters(c.sample_rate, c.n_fft, c.n_mels, fmin=c.fmin, fmax=c.fmax)
        self._fb = torch.from_numpy(fb.astype(np.float32))  # (M, F)
        self._fb_pinv = torch.from_numpy(np.linalg.pinv(fb).astype(np.float32))  # (F, M)
        self._window = torch.hann_window(c.n_fft)

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> "MelCodec":
        """Rebuild from the dict written by ``to_config`` (the ``name`` key is ignored)."""
        data = {k: v for k, v in data.items() if k != "name"}
        return cls(from_dict(MelCodecConfig, data, "codec"))

    def to_config(self) -> dict[str, Any]:
        """JSON-ready settings, including the codec name.

        With the old random start, the PGHI keys are left out: the settings, and so the identity of
        every cache and bake made from them (the shipped model's included), stay what they were.
        """
        data = {"name": self.name, **to_dict(self.config)}
        if self.config.phase_init == "random":
            del data["phase_init"], data["pghi_tol"]
        return data

    def n_frames(self, n_samples: int) -> int:
        """Frames for ``n_samples`` (centred STFT)."""
        return 1 + n_samples // self.config.hop_length

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._fb.to(device), self._fb_pinv.to(device), self._window.to(device)

    def _stft(self, x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        c = self.config
        return torch.stft(x, c.n_fft, c.hop_length, window=window, center=True, return_complex=True)

    def encode_batch(self, waves: torch.Tensor) -> torch.Tensor:
        """Waves [B, L] float -> frames [B, T, M] float32 in about [0, 1] (0 = floor dB)."""
        if waves.ndim != 2:
            raise CodecError(f"encode_batch expects waves [B, L], got shape {tuple(waves.shape)}")
        if not torch.isfinite(waves).all():
            raise CodecError("waves contain NaN or infinity")
        fb, _, window = self._on(waves.device)
        mag = self._stft(waves.float(), window).abs()  # (B, F, T)
        mel = torch.matmul(fb, mag)  # (B, M, T)
        db = 20.0 * torch.log10(mel.clamp_min(1e-10))
        floor = self.config.db_floor
        frames = (db.clamp_min(floor) - floor) / -floor  # (B, M, T)
        return frames.transpose(1, 2).contiguous()  # (B, T, M)

    def frames_to_magnitude(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [B, T, M] -> linear STFT magnitude [B, F, T] via the filterbank pseudo-inverse."""
        _, pinv, _ = self._on(frames.device)
        floor = self.config.db_floor
        db = frames.float().clamp_min(0.0) * -floor + floor
        mel = torch.pow(10.0, db / 20.0).transpose(1, 2)  # (B, M, T)
        mel = torch.where(db.transpose(1, 2) <= floor + 1e-3, torch.zeros_like(mel), mel)
        return torch.matmul(pinv, mel).clamp_min(0.0)  # (B, F, T)

    def decode_batch(
        self, frames: torch.Tensor, n_samples: int | None = None, iters: int | None = None
    ) -> torch.Tensor:
        """Frames [B, T, M] -> waves [B, L] by fast Griffin-Lim; deterministic (seeded phase or PGHI)."""
        if frames.ndim != 3 or frames.shape[-1] != self.n_features:
            raise CodecError(
                f"decode_batch expects frames [B, T, {self.n_features}], got shape {tuple(frames.shape)}"
            )
        if not torch.isfinite(frames).all():
            raise CodecError("frames contain NaN or infinity")
        c = self.config
        n_iter = c.griffin_lim_iters if iters is None else iters
        length = n_samples if n_samples is not None else (frames.shape[1] - 1) * c.hop_length
        _, _, window = self._on(frames.device)
        mag = self.frames_to_magnitude(frames)  # (B, F, T)
        angles = initial_angles(mag, c.phase_init, c.n_fft, c.hop_length, c.seed, c.pghi_tol)  # (B, F, T)
        # the random start keeps the reference loop: models made before PGHI decode bit for bit as they did
        run = griffin_lim_reference if c.phase_init == "random" else griffin_lim
        return run(mag, angles, c.n_fft, c.hop_length, window, length, n_iter, c.momentum)  # (B, L)

    def encode(self, wave: np.ndarray) -> np.ndarray:
        """Mono wave [L] -> frames [T, M] float32."""
        w = np.asarray(wave, dtype=np.float32)
        if w.ndim != 1:
            raise CodecError(f"encode expects a mono wave [L], got shape {w.shape}")
        return self.encode_batch(torch.from_numpy(w)[None])[0].numpy()

    def decode(self, frames: np.ndarray, n_samples: int | None = None) -> np.ndarray:
        """Frames [T, M] -> mono wave [L] float32."""
        f = np.asarray(frames, dtype=np.float32)
        if f.ndim != 2:
            raise CodecError(f"decode expects frames [T, {self.n_features}], got shape {f.shape}")
        with torch.inference_mode():
            return self.decode_batch(torch.from_numpy(f)[None], n_samples)[0].numpy()
