from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from gesam_engine.config import from_dict
from gesam_engine.data.audio_io import read_audio
from gesam_engine.data.preprocess import PreprocessConfig, prepare_wave
from gesam_engine.data.synth import synth_drum
from gesam_engine.errors import AudioFileError, ConfigError

CFG = PreprocessConfig()
N = round(CFG.duration_s * CFG.sample_rate)


def _hit(seconds: float = 0.5, rate: int = 44100, seed: int = 1) -> np.ndarray:
    return synth_drum("snare", np.random.default_rng(seed), rate, seconds=seconds)


def _onset(wave: np.ndarray, rel_db: float = -40.0) -> int:
    peak = np.max(np.abs(wave))
    return int(np.argmax(np.abs(wave) > peak * 10 ** (rel_db / 20)))


@pytest.mark.parametrize("seconds", [0.05, 0.4, 1.5, 3.0])
def test_exact_length_float32_finite(seconds: float) -> None:
    out = prepare_wave(_hit(seconds), 44100, CFG)
    assert out.shape == (N,) and out.dtype == np.float32 and np.all(np.isfinite(out))


def test_peak_ceiling_respected_even_for_a_loud_spiky_input() -> None:
    wave = np.zeros(44100, dtype=np.float32)
    wave[100] = 1.0  # a click: loudness normalisation alone would push it far above 0 dBFS
    wave[101:2000] = 0.001
    out = prepare_wave(wave, 44100, CFG)
    assert np.max(np.abs(out)) <= 10 ** (CFG.peak_ceiling_db / 20) + 1e-7
    cfg = PreprocessConfig(peak_ceiling_db=-6.0)
    assert np.max(np.abs(prepare_wave(_hit(), 44100, cfg))) <= 10 ** (-6 / 20) + 1e-7


def test_loudness_is_normalised_to_target() -> None:
    tom = synth_drum("tom", np.random.default_rng(1), 44100, seconds=0.8)
    quiet = prepare_wave(tom * 0.05, 44100, CFG)
    loud = prepare_wave(tom, 44100, CFG)
    meter = pyloudnorm.Meter(CFG.sample_rate, block_size=0.4)
    for out in (quiet, loud):
        assert np.max(np.abs(out)) < 10 ** (CFG.peak_ceiling_db / 20) - 1e-3  # not peak-limited
        assert abs(meter.integrated_loudness(out.astype(np.float64)) - CFG.target_lufs) < 0.1
    np.testing.assert_allclose(quiet, loud, atol=1e-3)  # gain differences are removed


def test_leading_silence_is_trimmed_to_preroll() -> None:
    hit = _hit()
    lead = 3000
    wave = np.concatenate([np.zeros(lead, dtype=np.float32), hit])
    out = prepare_wave(wave, 44100, CFG)
    limit = round((CFG.preroll_ms + 1.0) * CFG.sample_rate / 1000)
    assert _onset(out) <= limit
    assert _onset(out) >= round(CFG.preroll_ms * CFG.sample_rate / 1000) - 2


def test_leading_noise_is_cut_with_a_fade_in() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(4000) * 1e-4).astype(np.float32)  # well below -40 dB re peak
    out = prepare_wave(np.concatenate([noise, _hit()]), 44100, CFG)
    assert out[0] == 0.0  # the fade-in starts from zero, no step at the cut
    assert _onset(out) <= round(2.0 * CFG.sample_rate / 1000)


def test_long_sound_is_cropped_with_fade_out() -> None:
    tone = (0.5 * np.sin(2 * np.pi * 220 * np.arange(3 * 44100) / 44100)).astype(np.float32)
    out = prepare_wave(tone, 44100, CFG)
    assert out.shape == (N,)
    assert abs(out[-1]) < 1e-3
    assert np.max(np.abs(out[-300:])) < 0.2 * np.max(np.abs(out[N // 2: N // 2 + 1000]))


def test_short_sound_is_zero_padded_without_fade_out() -> None:
    out = prepare_wave(_hit(0.2), 44100, CFG)
    assert np.all(out[round(0.3 * 44100):] == 0.0)


@pytest.mark.parametrize("level", [0.0, 1e-4])
def test_silent_raises(level: float) -> None:
    with pytest.raises(AudioFileError, match="silent"):
        prepare_wave(np.full(44100, level, dtype=np.float32), 44100, CFG)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_raises(bad: float) -> None:
    wave = _hit()
    wave[500] = bad
    with pytest.raises(AudioFileError, match="contains NaN"):
        prepare_wave(wave, 44100, CFG)


def test_empty_and_multichannel_raise() -> None:
    with pytest.raises(AudioFileError, match="empty"):
        prepare_wave(np.zeros(0, dtype=np.float32), 44100, CFG)
    with pytest.raises(AudioFileError, match="mono"):
        prepare_wave(np.zeros((100, 2), dtype=np.float32), 44100, CFG)


def test_48k_input_is_resampled_to_the_same_result() -> None:
    t = np.arange(int(0.5 * 48000)) / 48000
    wave48 = (np.sin(2 * np.pi * 200 * t) * np.exp(-t / 0.1)).astype(np.float32)
    t44 = np.arange(int(0.5 * 44100)) / 44100
    wave44 = (np.sin(2 * np.pi * 200 * t44) * np.exp(-t44 / 0.1)).astype(np.float32)
    a = prepare_wave(wave48, 48000, CFG)
    b = prepare_wave(wave44, 44100, CFG)
    assert a.shape == b.shape == (N,)
    assert np.max(np.abs(a - b)) < 0.02


def test_stereo_and_48k_files_from_the_kit(synth_kit: Path) -> None:
    assert sf.info(synth_kit / "kicks" / "kick_1.wav").samplerate == 48000
    assert sf.info(synth_kit / "kicks" / "kick_2.wav").channels == 2
    for name in ("kick_1.wav", "kick_2.wav"):
        wave, rate = read_audio(synth_kit / "kicks" / name, CFG.max_input_s)
        out = prepare_wave(wave, rate, CFG)
        assert out.shape == (N,) and np.all(np.isfinite(out))
        assert _onset(out) <= round(2.0 * CFG.sample_rate / 1000)


def test_very_short_duration_uses_a_smaller_loudness_block() -> None:
    cfg = PreprocessConfig(duration_s=0.1)
    out = prepare_wave(_hit(0.5), 44100, cfg)
    assert out.shape == (4410,) and np.max(np.abs(out)) > 0.01


@pytest.mark.parametrize(
    "data",
    [{"duration_s": 0.0}, {"sample_rate": 100}, {"peak_ceiling_db": 3.0}, {"trim_threshold_db": 10.0}, {"max_input_s": 0.0}],
)
def test_bad_config_is_refused(data: dict) -> None:
    with pytest.raises(ConfigError):
        from_dict(PreprocessConfig, data, "preprocess")
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(PreprocessConfig, {"sr": 1}, "preprocess")
