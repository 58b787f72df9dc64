"""librosa features of known sounds, their clipping, and the t-SNE colours."""

from __future__ import annotations

import numpy as np

from gesam_engine.maps.features import FEATURES, audio_features, clip_range, feature_matrix, normalise
from gesam_engine.maps.tsne import tsne_rgb

SR = 44100


def _sounds() -> np.ndarray:
    t = np.arange(int(0.5 * SR)) / SR
    env = np.exp(-t * 8)
    low = np.sin(2 * np.pi * 80 * t) * env  # a kick-like sine
    noise = np.random.default_rng(0).normal(size=t.size) * env * 0.3  # a hat-like noise burst
    quiet = low * 0.05
    return np.stack([low, noise, quiet]).astype(np.float16)


def test_features_tell_a_sine_from_noise() -> None:
    f = audio_features(_sounds(), SR)
    assert list(f) == list(FEATURES)
    assert all(v.shape == (3,) and np.isfinite(v).all() for v in f.values())
    low, noise, quiet = 0, 1, 2
    assert f["centroid"][low] < 300 < 5000 < f["centroid"][noise]
    assert f["flatness"][noise] > 10 * f["flatness"][low]
    assert f["zcr"][noise] > 10 * f["zcr"][low]
    assert f["rolloff"][noise] > f["rolloff"][low] and f["bandwidth"][noise] > f["bandwidth"][low]
    np.testing.assert_allclose(f["rms"][quiet], 0.05 * f["rms"][low], rtol=0.02)
    # the decaying tail does not move the spectral shape: a quieter copy has the same centroid
    np.testing.assert_allclose(f["centroid"][quiet], f["centroid"][low], rtol=0.02)


def test_silence_gives_finite_values() -> None:
    f = audio_features(np.zeros((2, SR // 4), np.float32), SR)
    assert all(np.isfinite(v).all() for v in f.values())


def test_clip_and_normalise() -> None:
    v = np.concatenate([np.linspace(0, 1, 98), [50.0, -50.0]])  # two outliers
    lo, hi = clip_range(v)
    assert -1 < lo < 0.1 and 0.9 < hi < 2
    n = normalise(v, lo, hi)
    assert n.min() == 0.0 and n.max() == 1.0
    np.testing.assert_array_equal(normalise(np.ones(4), 1.0, 1.0), 0.5)
    m = feature_matrix({k: v for k in FEATURES}, {k: (lo, hi) for k in FEATURES})
    assert m.shape == (100, len(FEATURES))


def test_tsne_colours_are_finite_reproducible_and_group_similar_sounds() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0.2, 0.01, (60, 6))
    b = rng.normal(0.8, 0.01, (60, 6))
    x = np.clip(np.concatenate([a, b]), 0, 1)
    rgb = tsne_rgb(x, seed=0)
    assert rgb.shape == (120, 3) and np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_array_equal(rgb, tsne_rgb(x, seed=0))
    group = np.repeat([0, 1], 60)
    assert _nearest_same_group(rgb, group) > 0.9  # chance is 0.5
    # landmarks + placement (max_fit below n) keep the two groups apart too
    assert _nearest_same_group(tsne_rgb(x, seed=0, max_fit=40), group) > 0.9


def _nearest_same_group(rgb: np.ndarray, group: np.ndarray) -> float:
    """Share of points whose nearest other point in colour is of their own group."""
    d = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float((group[d.argmin(axis=1)] == group).mean())


def test_tsne_of_too_few_or_flat_points_is_grey() -> None:
    assert np.all(tsne_rgb(np.random.default_rng(0).random((3, 6))) == 0.5)
    assert np.all(tsne_rgb(np.ones((20, 6))) == 0.5)


def test_the_stft_is_librosas() -> None:
    import librosa

    from gesam_engine.maps.features import HOP, N_FFT, _magnitudes

    y = _sounds().astype(np.float32)
    ref = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=True))
    np.testing.assert_allclose(_magnitudes(y), ref, atol=1e-5 * ref.max())
