"""Realism as a distance between two sets of sounds: the Fréchet distance of Gaussians fitted in a
fixed, model-free audio feature space (librosa), so that figures compare across models and codecs.

The feature space (``FEATURE_SPACE``, 35 numbers per sound, each sound first matched to the same
integrated loudness, so level is judged by the loudness figures and not here):
- 13 MFCCs (mel power spectrum, 2048-point frames, hop 512), mean and std over all frames (26):
  timbre, and through c0 and the stds, the envelope;
- over the frames within 60 dB of the loudest: spectral centroid (log2 Hz, mean and std),
  bandwidth (log2 Hz), 85 % roll-off (log2 Hz), flatness (log10), zero-crossing rate (6);
- envelope: attack (s, start to loudest frame), decay to -20 dB and to -40 dB of it (s) (3).
Sets are standardised by one reference set (the real held-out sounds: mean 0, std 1 per feature),
so a distance reads in units of that set's spread; ``frechet_distance`` itself is the usual
||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2) (scipy's sqrtm).
"""

from __future__ import annotations

import librosa
import numpy as np
from scipy import linalg

from gesam_engine.evaluation.loudness import MATCH_LUFS, match_loudness

FEATURE_SPACE = "gesam-audio-features-v1: 13 MFCC mean+std, centroid/bandwidth/rolloff/flatness/zcr, attack+decay; -18 LUFS"
N_FFT = 2048
HOP = 512
N_MFCC = 13
ACTIVE_DB = 60.0  # frames within this of the loudest frame carry the spectral statistics
MIN_STD = 1e-3  # a reference feature that never varies is not allowed to blow the scale up

FEATURE_NAMES = (
    [f"mfcc{i}_mean" for i in range(N_MFCC)] + [f"mfcc{i}_std" for i in range(N_MFCC)]
    + ["centroid_log2_mean", "centroid_log2_std", "bandwidth_log2_mean", "rolloff_log2_mean",
       "flatness_log10_mean", "zcr_mean", "attack_s", "decay20_s", "decay40_s"]
)


def _decay_s(level_db: np.ndarray, peak: int, drop_db: float, rate: int) -> float:
    """Seconds from the loudest frame to the last frame within ``drop_db`` of it."""
    above = np.flatnonzero(level_db[peak:] > -drop_db)
    return float(above[-1]) * HOP / rate if above.size else 0.0


def sound_features(wave: np.ndarray, rate: int) -> np.ndarray:
    """One sound [L] (already loudness-matched) -> its ``FEATURE_NAMES`` vector, float64 [35]."""
    y = np.asarray(wave, dtype=np.float32)
    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))  # (F, T)
    power = mag ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=rate)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC)  # (13, T)
    frame_energy = power.sum(axis=0)  # (T,)
    level_db = 10.0 * np.log10(np.maximum(frame_energy, 1e-20) / max(float(frame_energy.max()), 1e-20))  # (T,)
    active = level_db > -ACTIVE_DB
    m = mag[:, active]

    def log2(hz: np.ndarray) -> np.ndarray:
        octaves: np.ndarray = np.log2(np.maximum(hz, 1.0))
        return octaves

    centroid = log2(librosa.feature.spectral_centroid(S=m, sr=rate, n_fft=N_FFT)[0])
    bandwidth = log2(librosa.feature.spectral_bandwidth(S=m, sr=rate, n_fft=N_FFT)[0])
    rolloff = log2(librosa.feature.spectral_rolloff(S=m, sr=rate, n_fft=N_FFT, roll_percent=0.85)[0])
    flatness = np.log10(np.maximum(librosa.feature.spectral_flatness(S=m)[0], 1e-10))
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0][: active.size][active]
    peak = int(np.argmax(level_db))
    return np.concatenate([
        mfcc.mean(axis=1), mfcc.std(axis=1),
        [centroid.mean(), centroid.std(), bandwidth.mean(), rolloff.mean(), flatness.mean(), zcr.mean(),
         peak * HOP / rate, _decay_s(level_db, peak, 20.0, rate), _decay_s(level_db, peak, 40.0, rate)],
    ]).astype(np.float64)


def features(waves: np.ndarray, rate: int) -> np.ndarray:
    """Waves [N, L] -> features [N, 35] in ``FEATURE_SPACE`` (each matched to ``MATCH_LUFS`` first)."""
    matched = match_loudness(waves, rate, MATCH_LUFS)  # (N, L)
    return np.stack([sound_features(w, rate) for w in matched])


def standardise(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std [F] of a reference feature set [N, F] (std at least ``MIN_STD``)."""
    return reference.mean(axis=0), np.maximum(reference.std(axis=0), MIN_STD)


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a [N, F] and b [M, F] (N, M >= 2):
    0 for identical sets, growing with the squared shift of the means and the covariance mismatch."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance needs two sets [N>=2, F] of the same F, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))  # (F, F)
    covmean = linalg.sqrtm(s_a @ s_b)
    if not np.all(np.isfinite(covmean)):  # singular product (fewer sounds than features): regularise
        offset = np.eye(a.shape[1]) * eps
        covmean = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    covmean = np.real(covmean)  # tiny imaginary parts are rounding
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(covmean))
    return max(value, 0.0)  # rounding can leave -1e-9 for identical sets
