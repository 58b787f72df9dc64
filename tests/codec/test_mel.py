"""The mel codec: shapes, round-trip quality on drum-like sounds, determinism, bad input."""

import numpy as np
import pytest
import torch

from gesam_engine.codec import MelCodec, MelCodecConfig, make_codec
from gesam_engine.codec.quality import mrstft_distance
from gesam_engine.errors import CodecError, ConfigError

SR = 44100


def _drum(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.5 * SR)) / SR
    f = 60 + 100 * np.exp(-t * 30)
    body = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t * 8)
    noise = rng.standard_normal(t.size) * np.exp(-t * 40) * 0.3
    return (0.8 * (body + noise) / np.abs(body + noise).max()).astype(np.float32)


def test_shapes_and_config_round_trip():
    codec = make_codec({"n_mels": 64})
    wave = _drum(0)
    frames = codec.encode(wave)
    assert frames.shape == (codec.n_frames(wave.size), 64)
    assert frames.dtype == np.float32 and np.isfinite(frames).all()
    assert 0.0 <= frames.min() and frames.max() < 1.5
    again = make_codec(codec.to_config())
    np.testing.assert_array_equal(again.encode(wave), frames)


def test_round_trip_is_close_and_much_better_than_noise():
    codec = MelCodec()
    wave = _drum(1)
    back = codec.decode(codec.encode(wave), n_samples=wave.size)
    assert back.shape == wave.shape
    good = mrstft_distance(wave, back)
    noise = np.random.default_rng(0).standard_normal(wave.size).astype(np.float32) * 0.1
    assert good < 0.8, good
    assert good < 0.5 * mrstft_distance(wave, noise)


def test_decode_is_deterministic_and_batched_equals_single():
    codec = make_codec({"n_mels": 48, "griffin_lim_iters": 8})
    frames = np.stack([codec.encode(_drum(i)) for i in range(3)])
    single = np.stack([codec.decode(f) for f in frames])
    batched = codec.decode_batch(torch.from_numpy(frames)).numpy()
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_array_equal(codec.decode(frames[0]), single[0])


def test_silence_frames_decode_to_silence():
    codec = make_codec({"n_mels": 32, "griffin_lim_iters": 4})
    wave = codec.decode(np.zeros((50, 32), np.float32))
    assert np.abs(wave).max() < 1e-6


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 3, 4), np.float32), np.full(100, np.nan, np.float32)],
)
def test_bad_waves_are_refused(bad):
    with pytest.raises(CodecError):
        make_codec({"n_mels": 32}).encode(bad)


def test_bad_frames_are_refused():
    codec = make_codec({"n_mels": 32})
    with pytest.raises(CodecError, match=r"\[B, T, 32\]"):
        codec.decode_batch(torch.zeros(1, 10, 31))
    with pytest.raises(CodecError, match="NaN"):
        codec.decode(np.full((10, 32), np.nan, np.float32))


def test_bad_settings_name_the_valid_choices():
    with pytest.raises(ConfigError, match="valid codecs are"):
        make_codec({"name": "encodec24"})
    with pytest.raises(ConfigError, match="unknown key"):
        make_codec({"n_mel": 64})
    with pytest.raises(ConfigError, match="power of two"):
        MelCodecConfig(n_fft=1000)
