"""Audio-domain distance of candidate sounds to their originals, every sound at the same loudness.

Both sides are matched to ``MATCH_LUFS`` integrated loudness (``match_loudness``) before the
multi-resolution STFT distance (``codec.quality``'s auraloss settings), one sound at a time, so
that a quiet but well-shaped sound is judged by its shape; the loudness gap is reported apart.
"""

from __future__ import annotations

import numpy as np
import torch
from auraloss.freq import MultiResolutionSTFTLoss

from gesam_engine.evaluation.loudness import MATCH_LUFS, integrated_lufs, match_loudness


def mrstft_per_sound(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """MR-STFT distance of each pair of waves [B, L] -> float64 [B] (0 for identical; same settings
    as ``codec.quality.mrstft_distance``, but per sound so spectral convergence is not pooled)."""
    ref = torch.as_tensor(np.atleast_2d(reference), dtype=torch.float32)[:, None]  # (B, 1, L)
    est = torch.as_tensor(np.atleast_2d(estimate), dtype=torch.float32)[:, None]
    if ref.shape != est.shape:
        raise ValueError(f"reference {tuple(ref.shape)} and estimate {tuple(est.shape)} differ in shape")
    loss = MultiResolutionSTFTLoss(
        fft_sizes=[2048, 1024, 512], hop_sizes=[512, 256, 128], win_lengths=[2048, 1024, 512], eps=1e-5
    )
    with torch.no_grad():
        return np.array([float(loss(est[i:i + 1], ref[i:i + 1])) for i in range(ref.shape[0])])


def matched_mrstft(originals: np.ndarray, candidates: np.ndarray, rate: int) -> np.ndarray:
    """Per-sound MR-STFT [B] of candidates [B, L] against originals [B, L], both at ``MATCH_LUFS``."""
    return mrstft_per_sound(match_loudness(originals, rate, MATCH_LUFS), match_loudness(candidates, rate, MATCH_LUFS))


def audio_row(originals: np.ndarray, candidates: np.ndarray, rate: int,
              original_lufs: np.ndarray | None = None) -> dict[str, float]:
    """JSON-ready audio figures of one method: ``mrstft`` (median per sound, loudness-matched),
    its mean, and ``lufs_vs_original`` (median dB the candidate is louder than its original, as played)."""
    dist = matched_mrstft(originals, candidates, rate)
    ref_lufs = integrated_lufs(originals, rate) if original_lufs is None else original_lufs
    gap = integrated_lufs(candidates, rate) - ref_lufs  # (B,)
    return {"mrstft": round(float(np.median(dist)), 4), "mrstft_mean": round(float(dist.mean()), 4),
            "lufs_vs_original": round(float(np.median(gap)), 2)}
