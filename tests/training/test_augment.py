"""Waveform augmentation (pedalboard): shapes, finiteness and level bounds, seeded determinism,
copies that differ from the original and from each other, and a cache that changes nothing."""

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from gesam_engine.codec import make_codec
from gesam_engine.data import build_corpus
from gesam_engine.data.labels import LabelConfig
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.data.synth import synth_drum
from gesam_engine.errors import ConfigError
from gesam_engine.training.augment import WaveAugment, augment_wave, augmented_copy, augmented_frames, copy_rng

PRE = PreprocessConfig(duration_s=0.5)
RATE = PRE.sample_rate
STRONG = WaveAugment(copies=3, saturation=1.0, room=1.0)  # every effect on every copy


def _wave(kind: str = "snare", seed: int = 0) -> np.ndarray:
    from gesam_engine.data.preprocess import prepare_wave

    return prepare_wave(synth_drum(kind, np.random.default_rng(seed), RATE, 0.5), RATE, PRE)


def test_a_copy_is_a_finite_training_wave_at_the_training_loudness():
    wave = _wave()
    ceiling = 10 ** (PRE.peak_ceiling_db / 20)
    meter = pyloudnorm.Meter(RATE, block_size=0.25)
    for k in range(6):
        out = augmented_copy(wave, STRONG, PRE, copy_rng("ab" * 32, k, seed=0))
        assert out.shape == (PRE.n_samples,) and out.dtype == np.float32 and np.isfinite(out).all()
        assert np.abs(out).max() <= ceiling + 1e-6
        assert meter.integrated_loudness(out.astype(np.float64)) == pytest.approx(PRE.target_lufs, abs=1.5)
        assert not np.allclose(out, wave, atol=1e-3)  # the effects did something


def test_tuning_changes_the_length_by_the_semitone_ratio_and_nothing_else_stretches_it():
    wave = _wave()
    only_pitch = WaveAugment(copies=1, tilt_db=0.0, saturation=0.0, room=0.0)
    for seed in range(5):
        out = augment_wave(wave, RATE, only_pitch, copy_rng("cd" * 32, 0, seed))
        ratio = wave.size / out.size  # playback speed 2^(s/12)
        assert 2 ** (-2 / 12) - 1e-3 <= ratio <= 2 ** (2 / 12) + 1e-3
    flat = augment_wave(wave, RATE, WaveAugment(copies=1, pitch_semitones=0.0, tilt_db=0.0, saturation=0.0, room=0.0),
                        copy_rng("cd" * 32, 0, 0))
    np.testing.assert_allclose(flat, wave, atol=1e-4)  # no effect drawn: the wave passes unchanged


def test_copies_are_seeded_per_sound_and_copy():
    wave = _wave("hihat")
    one = augmented_copy(wave, STRONG, PRE, copy_rng("ef" * 32, 1, seed=7))
    np.testing.assert_array_equal(one, augmented_copy(wave, STRONG, PRE, copy_rng("ef" * 32, 1, seed=7)))
    assert not np.allclose(one, augmented_copy(wave, STRONG, PRE, copy_rng("ef" * 32, 2, seed=7)), atol=1e-3)
    assert not np.allclose(one, augmented_copy(wave, STRONG, PRE, copy_rng("ef" * 32, 1, seed=8)), atol=1e-3)


def test_augmented_frames_are_the_same_in_any_order_and_with_or_without_the_cache(synth_kit: Path, tmp_path: Path):
    codec = make_codec({"sample_rate": RATE, "n_mels": 32})
    labels = LabelConfig()
    corpus = build_corpus([synth_kit / "kicks", synth_kit / "hihats"], codec, PRE, labels, None, progress=False)
    items = corpus.items[:4]
    aug = WaveAugment(copies=2)
    plain = augmented_frames(items, codec, PRE, aug, seed=0, progress=False)
    assert plain.shape == (4, 2, *corpus.frames.shape[1:]) and plain.dtype == np.float32
    assert np.isfinite(plain).all() and plain.min() >= 0.0
    assert not np.allclose(plain[:, 0], corpus.frames[:4], atol=1e-3)
    assert not np.allclose(plain[:, 0], plain[:, 1], atol=1e-3)
    cached = augmented_frames(items[::-1], codec, PRE, aug, seed=0, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(cached[::-1], plain, atol=1e-6)
    assert len(list(tmp_path.rglob("*.npy"))) == 8  # one entry per sound and copy
    again = augmented_frames(items, codec, PRE, aug, seed=0, cache_dir=tmp_path, progress=False)  # all from the cache
    np.testing.assert_array_equal(again, cached[::-1])
    other = augmented_frames(items, codec, PRE, aug, seed=1, cache_dir=tmp_path, progress=False)
    assert not np.allclose(other, plain, atol=1e-3)  # another seed, other copies (and other cache entries)
    assert augmented_frames(items, codec, PRE, WaveAugment(copies=0), seed=0, progress=False).shape[1] == 0


@pytest.mark.parametrize(
    "bad, match",
    [({"copies": -1}, "augment_copies"), ({"pitch_semitones": 13.0}, "augment_pitch_semitones"),
     ({"tilt_db": -1.0}, "augment_tilt_db"), ({"saturation": 1.5}, "augment_saturation"),
     ({"room": -0.1}, "augment_room"), ({"drive_db": 1.0}, "augment_drive_db"), ({"room_wet": 2.0}, "room_wet")],
)
def test_settings_are_checked(bad, match):
    with pytest.raises(ConfigError, match=match):
        WaveAugment(**bad)
