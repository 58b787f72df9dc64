"""Audio-domain distance of candidate sounds to their originals, every sound at the same loudness.

Both sides are matched to ``MATCH_LUFS`` integrated loudness (``match_loudness``) before the
multi-resolution STFT distance (``codec.quality``'s auraloss settings), one sound at a time, so
that a quiet but well-shaped sound is judged by its shape; the loudness gap is reported apart.
"""

from __future__ import annotations

import numpy as np

from gesam_engine.codec.quality import mrstft_per_sound
from gesam_engine.evaluation.loudness import MATCH_LUFS, integrated_lufs, match_loudness


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
