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


# model.json of models trained before PGHI: these keys and nothing else
OLD_SETTINGS = {"name": "mel", "sample_rate": 44100, "n_fft": 1024, "hop_length": 256, "n_mels": 128, "fmin": 0.0,
                "fmax": None, "db_floor": -100.0, "griffin_lim_iters": 32, "momentum": 0.99, "seed": 0}


def _old_decode(codec: MelCodec, frames: torch.Tensor, length: int, n_iter: int) -> torch.Tensor:
    """The mel decode as it was before PGHI (seeded random phase + fast Griffin-Lim), kept as the reference."""
    c = codec.config
    window = torch.hann_window(c.n_fft)
    stft = lambda x: torch.stft(x, c.n_fft, c.hop_length, window=window, center=True, return_complex=True)  # noqa: E731
    istft = lambda s: torch.istft(s, c.n_fft, c.hop_length, window=window, center=True, length=length)  # noqa: E731
    mag = codec.frames_to_magnitude(frames)
    gen = torch.Generator().manual_seed(c.seed)
    phase = torch.rand(mag.shape[1:], generator=gen).to(frames.device) * (2 * torch.pi)
    angles = torch.polar(torch.ones_like(mag), phase.expand_as(mag))
    previous = torch.zeros_like(angles)
    alpha = c.momentum / (1.0 + c.momentum)
    for _ in range(n_iter):
        rebuilt = stft(istft(mag * angles))
        angles = rebuilt - alpha * previous
        angles = angles / angles.abs().clamp_min(1e-16)
        previous = rebuilt
    return istft(mag * angles)


def test_old_settings_decode_exactly_as_before_and_keep_their_identity():
    codec = make_codec(dict(OLD_SETTINGS))
    assert codec.to_config() == OLD_SETTINGS  # bakes and feature caches keyed on it stay valid
    frames = torch.from_numpy(np.stack([codec.encode(_drum(i)) for i in range(2)]))
    with torch.inference_mode():
        for iters in (0, 3):
            new = codec.decode_batch(frames, 22050, iters=iters)
            np.testing.assert_array_equal(new.numpy(), _old_decode(codec, frames, 22050, iters).numpy())


def test_mel_with_pghi_start_round_trips_its_config_and_beats_the_random_start():
    pghi = make_codec({**OLD_SETTINGS, "phase_init": "pghi"})
    assert pghi.to_config() == {**OLD_SETTINGS, "phase_init": "pghi", "pghi_tol": 1e-5}
    assert make_codec(pghi.to_config()).to_config() == pghi.to_config()
    rand = make_codec(dict(OLD_SETTINGS))
    waves = [_drum(i) for i in range(3)]
    ours = [mrstft_distance(w, pghi.decode_batch(torch.from_numpy(pghi.encode(w))[None], w.size, iters=4)[0].numpy())
            for w in waves]
    theirs = [mrstft_distance(w, rand.decode_batch(torch.from_numpy(rand.encode(w))[None], w.size, iters=4)[0].numpy())
              for w in waves]
    assert np.median(ours) < np.median(theirs), (ours, theirs)
