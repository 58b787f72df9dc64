"""Round-trip quality of a codec: multi-resolution STFT distance (auraloss), lower is better.

Spectral convergence plus log-magnitude L1 at three resolutions; the log floor is 1e-5
(-100 dB) so digital silence in padded tails does not dominate the figure.
"""

from __future__ import annotations

import numpy as np
import torch
from auraloss.freq import MultiResolutionSTFTLoss


def mrstft_distance(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Distance between waves [B, L] (or [L]) at the same rate: 0 for identical, ~4 for silence vs sound."""
    ref = torch.as_tensor(np.atleast_2d(reference), dtype=torch.float32)[:, None]  # (B, 1, L)
    est = torch.as_tensor(np.atleast_2d(estimate), dtype=torch.float32)[:, None]
    if ref.shape != est.shape:
        raise ValueError(f"reference {tuple(ref.shape)} and estimate {tuple(est.shape)} differ in shape")
    loss = MultiResolutionSTFTLoss(
        fft_sizes=[2048, 1024, 512], hop_sizes=[512, 256, 128], win_lengths=[2048, 1024, 512], eps=1e-5
    )
    with torch.no_grad():
        return float(loss(est, ref))
