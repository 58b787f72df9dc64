"""The realism figure: features of real sounds are finite, and the Fréchet distance is 0 for
identical sets, grows with a shift, and tells synthetic drum classes apart."""

from __future__ import annotations

import numpy as np
import pytest

from gesam_engine.data.synth import synth_drum
from gesam_engine.evaluation.frechet import FEATURE_NAMES, features, frechet_distance, standardise

RATE = 44100


def _kit(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([synth_drum(kind, rng, RATE, seconds=0.75) for _ in range(n)]).astype(np.float32)


def test_identical_sets_are_0_and_a_shift_grows_as_its_square() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 6))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifts = [frechet_distance(a, a + d) for d in (0.5, 1.0, 2.0)]
    assert shifts == pytest.approx([6 * 0.25, 6 * 1.0, 6 * 4.0], rel=1e-6)  # ||delta||^2, covariances equal
    wider = frechet_distance(a, 2.0 * a)  # same mean, twice the spread: the covariance term alone
    assert wider > 0.5


def test_fewer_sounds_than_features_still_give_a_finite_distance() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 35)), rng.standard_normal((7, 35)) + 1.0
    assert np.isfinite(frechet_distance(a, b)) and frechet_distance(a, b) > frechet_distance(a, a)
    with pytest.raises(ValueError, match="two sets"):
        frechet_distance(a[:1], b)


def test_features_of_drum_sounds_are_finite_and_level_free() -> None:
    kicks = _kit("kick", 6, seed=0)
    feats = features(kicks, RATE)
    assert feats.shape == (6, len(FEATURE_NAMES)) and np.all(np.isfinite(feats))
    assert np.allclose(features(0.1 * kicks, RATE), feats, rtol=1e-4, atol=0.05)  # matched first (a frame may cross -60 dB)
    silence = features(np.zeros((2, kicks.shape[1]), np.float32), RATE)
    assert np.all(np.isfinite(silence))


def test_a_set_of_other_drums_is_further_than_more_of_the_same() -> None:
    kicks, more_kicks = _kit("kick", 24, seed=0), _kit("kick", 24, seed=1)
    hats = _kit("hihat", 24, seed=2)
    ref = features(kicks, RATE)
    mean, std = standardise(ref)
    z = lambda w: (features(w, RATE) - mean) / std  # noqa: E731
    same, other = frechet_distance(z(more_kicks), z(kicks)), frechet_distance(z(hats), z(kicks))
    assert other > 3 * same
