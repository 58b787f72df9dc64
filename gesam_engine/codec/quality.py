"""Round-trip quality of a codec: multi-resolution STFT distance (auraloss), lower is better.

Spectral convergence plus log-magnitude L1 at three resolutions; the log floor is 1e-5
(-100 dB) so digital silence in padded tails does not dominate the figure. One setting for the
whole project: the benches, the codec tests and ``gesam evaluate`` all measure with it.
"""

from __future__ import annotations

import numpy as np
import torch
from auraloss.freq import MultiResolutionSTFTLoss


def mrstft_loss() -> MultiResolutionSTFTLoss:
    """The project's MR-STFT: FFT sizes 2048/1024/512, hops a quarter of them, log floor 1e-5."""
    return MultiResolutionSTFTLoss(
        fft_sizes=[2048, 1024, 512], hop_sizes=[512, 256, 128], win_lengths=[2048, 1024, 512], eps=1e-5
    )


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Waves [B, L] (or [L]) as float32 tensors [B, 1, L]; ValueError when the shapes differ."""
    ref = torch.as_tensor(np.atleast_2d(reference), dtype=torch.float32)[:, None]  # (B, 1, L)
    est = torch.as_tensor(np.atleast_2d(estimate), dtype=torch.float32)[:, None]
    if ref.shape != est.shape:
        raise ValueError(f"reference {tuple(ref.shape)} and estimate {tuple(est.shape)} differ in shape")
    return ref, est


def mrstft_distance(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Distance between waves [B, L] (or [L]) at the same rate: 0 for identical, ~4 for silence vs sound."""
    ref, est = _pair(reference, estimate)
    with torch.no_grad():
        return float(mrstft_loss()(est, ref))


def mrstft_per_sound(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """MR-STFT of each pair of waves [B, L] -> float64 [B] (per sound, so spectral convergence is
    not pooled over the batch)."""
    ref, est = _pair(reference, estimate)
    loss = mrstft_loss()
    with torch.no_grad():
        return np.array([float(loss(est[i:i + 1], ref[i:i + 1])) for i in range(ref.shape[0])])
