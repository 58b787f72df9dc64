"""The linear STFT codec: round trip on the synth kit, against noise and the mel codec; batches,
determinism, config round trip, silence and bad input."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gesam_engine.codec import StftCodec, StftCodecConfig, make_codec
from gesam_engine.codec.quality import mrstft_distance
from gesam_engine.data import PreprocessConfig, prepare_wave, read_audio
from gesam_engine.errors import CodecError, ConfigError

PREP = PreprocessConfig(duration_s=0.75)


@pytest.fixture(scope="module")
def kit_waves(synth_kit: Path) -> np.ndarray:
    """One prepared sound of each synth-kit class, [5, L] float32."""
    folders = ("kicks", "snares", "hihats", "toms", "claps")
    files = [sorted((synth_kit / f).iterdir())[0] for f in folders]
    return np.stack([prepare_wave(*read_audio(p, 30.0), PREP) for p in files])


def _per_sound(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    return np.array([mrstft_distance(r, e) for r, e in zip(reference, estimate)])


def test_shapes_range_and_config_round_trip(kit_waves: np.ndarray) -> None:
    codec = make_codec({"name": "stft", "griffin_lim_iters": 4})
    assert isinstance(codec, StftCodec) and codec.n_features == 513
    frames = codec.encode(kit_waves[0])
    assert frames.shape == (codec.n_frames(kit_waves.shape[1]), 513) and frames.dtype == np.float32
    assert 0.0 <= frames.min() and frames.max() <= 1.0  # prepared sounds peak under a full-scale sine
    again = make_codec(codec.to_config())
    assert again.to_config() == codec.to_config()
    assert codec.to_config()["name"] == "stft" and codec.to_config()["griffin_lim_iters"] == 4
    np.testing.assert_array_equal(again.encode(kit_waves[0]), frames)
    np.testing.assert_array_equal(again.decode(frames, kit_waves.shape[1]), codec.decode(frames, kit_waves.shape[1]))


def test_round_trip_beats_noise_and_the_mel_codec_on_the_synth_kit(kit_waves: np.ndarray) -> None:
    n = kit_waves.shape[1]
    stft, mel = make_codec({"name": "stft"}), make_codec({"name": "mel"})
    with torch.inference_mode():
        back = stft.decode_batch(stft.encode_batch(torch.from_numpy(kit_waves)), n, iters=8).numpy()
        mel_back = mel.decode_batch(mel.encode_batch(torch.from_numpy(kit_waves)), n, iters=8).numpy()
    noise = np.random.default_rng(0).standard_normal(kit_waves.shape).astype(np.float32) * 0.1
    ours, theirs, noisy = _per_sound(kit_waves, back), _per_sound(kit_waves, mel_back), _per_sound(kit_waves, noise)
    assert np.median(ours) < 0.4, ours
    assert np.all(ours < 0.3 * noisy), (ours, noisy)
    assert np.median(ours) < 0.8 * np.median(theirs), (ours, theirs)
    # more iterations (bakes) do no worse than the engine's few
    with torch.inference_mode():
        more = stft.decode_batch(torch.from_numpy(np.stack([stft.encode(w) for w in kit_waves])), n, iters=32).numpy()
    assert np.median(_per_sound(kit_waves, more)) <= np.median(ours) + 1e-3


def test_decode_is_deterministic_and_batched_equals_single(kit_waves: np.ndarray) -> None:
    codec = make_codec({"name": "stft", "griffin_lim_iters": 4})
    frames = np.stack([codec.encode(w) for w in kit_waves[:3]])
    single = np.stack([codec.decode(f) for f in frames])
    batched = codec.decode_batch(torch.from_numpy(frames)).numpy()
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_array_equal(codec.decode(frames[0]), single[0])


def test_pghi_start_beats_a_random_start_at_equal_iterations(kit_waves: np.ndarray) -> None:
    n = kit_waves.shape[1]
    pghi, rand = make_codec({"name": "stft"}), make_codec({"name": "stft", "phase_init": "random"})
    frames = torch.from_numpy(np.stack([pghi.encode(w) for w in kit_waves]))
    with torch.inference_mode():
        a = _per_sound(kit_waves, pghi.decode_batch(frames, n, iters=4).numpy())
        b = _per_sound(kit_waves, rand.decode_batch(frames, n, iters=4).numpy())
    assert np.median(a) < 0.8 * np.median(b), (a, b)


def test_silence_frames_decode_to_silence() -> None:
    codec = make_codec({"name": "stft", "griffin_lim_iters": 4})
    assert np.abs(codec.decode(np.zeros((50, 513), np.float32))).max() < 1e-6


def test_a_haze_under_the_gate_decodes_to_silence_and_what_is_above_it_stays(kit_waves: np.ndarray) -> None:
    codec = make_codec({"name": "stft", "griffin_lim_iters": 4})
    haze = np.full((50, 513), 0.04, np.float32)  # -96 dB everywhere: a generator's frames in a silent stretch
    assert np.abs(codec.decode(haze)).max() == 0.0
    loose = make_codec({"name": "stft", "griffin_lim_iters": 4, "gate_db": -100.0})
    assert np.abs(loose.decode(haze)).max() > 0.0  # without the gate the haze plays
    frames = codec.encode(kit_waves[0])
    gated = np.where(frames <= 0.05, 0.0, frames).astype(np.float32)  # what the gate keeps of a real hit
    np.testing.assert_array_equal(codec.decode(frames), codec.decode(gated))
    with pytest.raises(ConfigError, match="gate_db"):
        StftCodecConfig(gate_db=-120.0)


def test_bad_frames_and_waves_are_refused() -> None:
    codec = make_codec({"name": "stft"})
    with pytest.raises(CodecError, match=r"\[B, T, 513\]"):
        codec.decode_batch(torch.zeros(1, 10, 128))
    with pytest.raises(CodecError, match="NaN"):
        codec.decode(np.full((10, 513), np.nan, np.float32))
    with pytest.raises(CodecError, match="mono"):
        codec.encode(np.zeros((2, 100), np.float32))


def test_bad_settings_name_the_valid_choices() -> None:
    with pytest.raises(ConfigError, match="valid codecs are .*stft"):
        make_codec({"name": "linear"})
    with pytest.raises(ConfigError, match=r"one of \['random', 'pghi'\]"):
        make_codec({"name": "stft", "phase_init": "zeros"})
    with pytest.raises(ConfigError, match="overlapping"):
        StftCodecConfig(hop_length=1024)
    with pytest.raises(ConfigError, match="unknown key"):
        make_codec({"name": "stft", "n_mels": 128})
