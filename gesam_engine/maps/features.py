"""The paper's six audio features of each baked sound, with librosa, and their picture scaling.

One STFT per sound feeds librosa's five spectral features; zero crossings come from the wave.
The STFT itself is torch's (the same centred, zero-padded Hann STFT as ``librosa.stft``, to
1e-6, about five times faster here: librosa's numpy FFT dominated a 200 x 200 map). A drum
one-shot is mostly a decaying tail, so the per-frame values are averaged with each frame's
energy as its weight: the attack and body decide, not the near-silent end (where centroid and
flatness are noise). RMS energy is the plain mean over frames.
"""

from __future__ import annotations

from typing import Iterator

import librosa
import numpy as np
import torch
from tqdm.auto import tqdm

FEATURES: tuple[str, ...] = ("rms", "centroid", "bandwidth", "flatness", "rolloff", "zcr")
TITLES: dict[str, str] = {
    "rms": "RMS energy", "centroid": "Spectral centroid", "bandwidth": "Spectral bandwidth",
    "flatness": "Spectral flatness", "rolloff": "Spectral roll-off (85 %)", "zcr": "Zero-crossing rate",
}
UNITS: dict[str, str] = {
    "rms": "linear RMS", "centroid": "Hz", "bandwidth": "Hz", "flatness": "ratio 0..1", "rolloff": "Hz",
    "zcr": "crossings per sample",
}
N_FFT = 2048
HOP = 512


def _batches(n: int, size: int) -> Iterator[slice]:
    for lo in range(0, n, size):
        yield slice(lo, min(lo + size, n))


def _magnitudes(y: np.ndarray) -> np.ndarray:
    """|STFT| [B, 1 + N_FFT/2, F] float32 of waves [B, L], as ``np.abs(librosa.stft(y, n_fft, hop))``."""
    spec = torch.stft(torch.from_numpy(y), N_FFT, HOP, window=torch.hann_window(N_FFT), center=True,
                      pad_mode="constant", return_complex=True)
    return spec.abs().numpy()


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over the last axis of ``values`` [B, F] weighted by ``weights`` [B, F] (plain mean if all 0)."""
    total = weights.sum(axis=-1)
    plain = values.mean(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        weighted = (values * weights).sum(axis=-1) / total
    mean: np.ndarray = np.where(total > 0, weighted, plain)
    return mean


def audio_features(waves: np.ndarray, sample_rate: int, batch: int = 128, progress: bool = False) -> dict[str, np.ndarray]:
    """Waves [N, L] (any float dtype, e.g. a float16 memmap) -> {feature: float64 [N]} in FEATURES order."""
    waves = np.asarray(waves)  # a memmap stays a view: sounds are read batch by batch below
    if waves.ndim != 2 or waves.shape[1] < N_FFT:
        raise ValueError(f"waves must be [N, L] with L >= {N_FFT}, got shape {waves.shape}")
    n = waves.shape[0]
    out = {name: np.empty(n, dtype=np.float64) for name in FEATURES}
    bar = tqdm(total=n, desc="features", unit="sound", disable=not progress, dynamic_ncols=True)
    for part in _batches(n, batch):
        y = np.nan_to_num(np.asarray(waves[part], dtype=np.float32))
        s = _magnitudes(y)  # (B, 1 + N_FFT/2, F)
        rms = librosa.feature.rms(S=s, frame_length=N_FFT)[:, 0, :]  # (B, F)
        weight = rms**2
        per_frame = {
            "centroid": librosa.feature.spectral_centroid(S=s, sr=sample_rate)[:, 0, :],
            "bandwidth": librosa.feature.spectral_bandwidth(S=s, sr=sample_rate)[:, 0, :],
            "flatness": librosa.feature.spectral_flatness(S=s)[:, 0, :],
            "rolloff": librosa.feature.spectral_rolloff(S=s, sr=sample_rate, roll_percent=0.85)[:, 0, :],
            "zcr": librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[:, 0, :],
        }
        out["rms"][part] = rms.mean(axis=-1)
        for name, values in per_frame.items():
            frames = min(values.shape[-1], weight.shape[-1])
            out[name][part] = _weighted_mean(values[:, :frames], weight[:, :frames])
        bar.update(part.stop - part.start)
    bar.close()
    return out


def clip_range(values: np.ndarray, low_pct: float = 2.0, high_pct: float = 98.0) -> tuple[float, float]:
    """The [low, high] percentiles of ``values``: the range a feature picture spans."""
    lo, hi = np.percentile(np.asarray(values, dtype=np.float64), [low_pct, high_pct])
    return float(lo), float(hi)


def normalise(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``values`` clipped to [lo, hi] and scaled to [0, 1] (0.5 everywhere when lo == hi)."""
    values = np.asarray(values, dtype=np.float64)
    if not hi > lo:
        return np.full(values.shape, 0.5)
    return np.clip((values - lo) / (hi - lo), 0.0, 1.0)


def feature_matrix(features: dict[str, np.ndarray], clip: dict[str, tuple[float, float]]) -> np.ndarray:
    """The normalised features as [N, len(FEATURES)] (the t-SNE input)."""
    return np.stack([normalise(features[name], *clip[name]) for name in FEATURES], axis=1)
