"""Loudness as a listener meets it: integrated LUFS per sound, one loudness for every compared
sound, and how loudness (or any per-cell figure) spreads and jumps across a map grid.

LUFS is ITU-R BS.1770 integrated loudness (pyloudnorm, the meter ``prepare_wave`` uses). A sound
too quiet for the meter's gate reads as ``LUFS_FLOOR`` (-70 LUFS, the standard's absolute gate),
so every figure stays finite.
"""

from __future__ import annotations

import warnings

import numpy as np

from gesam_engine.data.preprocess import loudness_meter

LUFS_FLOOR = -70.0  # BS.1770's absolute gate: quieter reads as this
QUIET_LUFS = -24.0  # the "too quiet to use as is" line of the grid figure (broadcast target level)
SILENT_RMS = 1e-9  # below this a wave is digital silence: no gain can make it a sound
MATCH_LUFS = -18.0  # compared sounds are matched to this (the training sounds' level, preprocess.target_lufs)


def integrated_lufs(waves: np.ndarray, rate: int) -> np.ndarray:
    """Integrated loudness of waves [B, L] (or [L]) -> LUFS float64 [B], at least ``LUFS_FLOOR``."""
    w = np.atleast_2d(np.asarray(waves, dtype=np.float64))  # (B, L)
    meter = loudness_meter(rate, w.shape[1])
    out = np.full(w.shape[0], LUFS_FLOOR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns about possible clipping: irrelevant for a measure
        for i, wave in enumerate(w):
            value = meter.integrated_loudness(wave)
            if np.isfinite(value):
                out[i] = max(float(value), LUFS_FLOOR)
    return out


def match_loudness(waves: np.ndarray, rate: int, target_lufs: float) -> np.ndarray:
    """Waves [B, L] each scaled to ``target_lufs`` integrated loudness (RMS in dBFS for a sound the
    meter cannot gate); digital silence stays silent. No limiting: a distance, not playback."""
    w = np.atleast_2d(np.asarray(waves, dtype=np.float64))  # (B, L)
    out = w.copy()
    meter = loudness_meter(rate, w.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, wave in enumerate(w):
            rms = float(np.sqrt(np.mean(np.square(wave))))
            if rms < SILENT_RMS:
                continue
            value = meter.integrated_loudness(wave)
            if np.isfinite(value) and value > LUFS_FLOOR:
                gain_db = target_lufs - float(value)
            else:
                gain_db = target_lufs - 20.0 * np.log10(rms)
            out[i] = wave * 10.0 ** (gain_db / 20.0)
    return out.astype(np.float32)


def grid_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs [P, 2] of an n x n grid (``grid_points`` order): 4-neighbours, and far cells
    (at least n/2 cells apart, Euclidean): the two ends of the smoothness figure."""
    rows, cols = np.divmod(np.arange(n * n), n)
    i, j = np.triu_indices(n * n, k=1)
    dist = np.hypot(rows[i] - rows[j], cols[i] - cols[j])
    near = np.stack([i[dist == 1], j[dist == 1]], axis=1)
    far = np.stack([i[dist >= n / 2], j[dist >= n / 2]], axis=1)
    return near, far


def map_smoothness(values: np.ndarray, n: int) -> dict[str, float]:
    """How a per-cell figure [n*n] changes across the grid: mean absolute difference between
    neighbours and between far cells, their ratio (well under 1 on a smooth map), the largest
    neighbour jump, and the cliff share: neighbour pairs that differ (by more than 0) at least as
    much as the median far pair (0 on a smooth ramp, the pairs across the edge of a step, ~1/2 for noise)."""
    v = np.asarray(values, dtype=np.float64).reshape(n * n)
    near, far = grid_pairs(n)
    d_near = np.abs(v[near[:, 0]] - v[near[:, 1]])
    d_far = np.abs(v[far[:, 0]] - v[far[:, 1]])
    far_mean = float(d_far.mean()) if d_far.size else 0.0
    return {
        "neighbour_diff": round(float(d_near.mean()), 4) if d_near.size else 0.0,
        "far_diff": round(far_mean, 4),
        "neighbour_far_ratio": round(float(d_near.mean()) / far_mean, 4) if far_mean > 0 and d_near.size else 0.0,
        "neighbour_max": round(float(d_near.max()), 4) if d_near.size else 0.0,
        "cliff_share": round(float(((d_near >= np.median(d_far)) & (d_near > 0)).mean()), 4)
        if d_far.size and d_near.size else 0.0,
    }


def grid_loudness(lufs: np.ndarray, n: int) -> dict[str, float]:
    """Loudness spread over an n x n grid from per-cell LUFS [n*n]: median, 10th and 90th
    percentile, their spread, share below ``QUIET_LUFS``, and the smoothness figures in dB."""
    v = np.asarray(lufs, dtype=np.float64).reshape(n * n)
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    smooth = map_smoothness(v, n)
    return {
        "lufs_median": round(float(p50), 2),
        "lufs_p10": round(float(p10), 2),
        "lufs_p90": round(float(p90), 2),
        "lufs_spread_p10_p90": round(float(p90 - p10), 2),
        "lufs_min": round(float(v.min()), 2),
        "lufs_max": round(float(v.max()), 2),
        f"share_below_{QUIET_LUFS:g}_lufs": round(float((v < QUIET_LUFS).mean()), 4),
        **{f"lufs_{k}": val for k, val in smooth.items()},
    }
