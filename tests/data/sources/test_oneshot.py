import hashlib
import io

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.data.sources.oneshot import OneShotConfig, fingerprint, make_oneshot, trim
from gesam_engine.errors import AudioFileError, ConfigError

RATE = 44100
CONFIG = OneShotConfig()


def _hit(seconds: float = 0.5, silence: float = 0.1, decay: float = 0.05, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Leading silence, then decaying noise, then silence to ``seconds`` of tail."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    sound = (rng.standard_normal(t.size) * np.exp(-t / decay)).astype(np.float32)
    return np.concatenate([np.zeros(int(silence * rate), np.float32), 0.3 * sound, np.zeros(rate // 2, np.float32)])


def test_trim_cuts_leading_silence_and_the_silent_tail_and_sets_the_peak() -> None:
    wave = _hit()
    out = trim(wave, RATE, CONFIG)
    assert np.argmax(np.abs(out) > 0.01 * np.abs(out).max()) <= int(0.002 * RATE)  # 1 ms preroll
    # -60 dB below the peak is reached about 6.9 decay constants in: far shorter than the input
    assert 0.2 * RATE < out.size < 0.6 * RATE
    assert np.isclose(np.abs(out).max(), 10 ** (-1 / 20), atol=1e-4)
    assert abs(out[-1]) < 1e-6  # faded to zero


def test_long_sounds_are_cut_at_max_s_with_a_fade() -> None:
    wave = _hit(seconds=5.0, decay=3.0)
    out = trim(wave, RATE, CONFIG)
    assert out.size == int(CONFIG.max_s * RATE)
    assert abs(out[-1]) < 1e-6


def test_other_rates_are_resampled() -> None:
    out = trim(_hit(rate=48000), 48000, CONFIG)
    ref = trim(_hit(rate=RATE), RATE, CONFIG)
    assert abs(out.size - ref.size) < 0.01 * RATE


@pytest.mark.reliability
@pytest.mark.parametrize("wave, match", [
    (np.zeros(1000, np.float32), "silent"),
    (np.array([], np.float32), "empty"),
    (np.array([0.0, np.nan, 0.1], np.float32), "NaN"),
    (np.zeros((10, 2), np.float32), "mono"),
    (np.concatenate([np.zeros(100), [0.5, -0.5], np.zeros(100)]).astype(np.float32), "shorter than"),
])
def test_unusable_hits_raise_with_a_reason(wave: np.ndarray, match: str) -> None:
    with pytest.raises(AudioFileError, match=match):
        trim(wave, RATE, CONFIG)


def test_equal_sounds_give_equal_bytes_whatever_their_gain_and_offset() -> None:
    a = make_oneshot(_hit(), RATE, CONFIG)
    b = make_oneshot(0.25 * _hit(silence=0.3), RATE, CONFIG)
    assert a.sha256 == b.sha256 == hashlib.sha256(a.wav).hexdigest()
    wave, rate = sf.read(io.BytesIO(a.wav), dtype="float32")
    assert rate == RATE and wave.ndim == 1 and sf.info(io.BytesIO(a.wav)).subtype == "PCM_16"
    assert np.isclose(a.seconds, wave.size / RATE)
    assert make_oneshot(_hit(seed=1), RATE, CONFIG).sha256 != a.sha256


def test_fingerprint_is_relative_to_the_peak_and_floored() -> None:
    f = fingerprint(trim(_hit(), RATE, CONFIG), RATE)
    assert f.dtype == np.float32 and f.ndim == 1 and f.size % 40 == 0
    assert f.max() == 0.0 and f.min() == -60.0
    assert np.allclose(fingerprint(0.1 * trim(_hit(), RATE, CONFIG), RATE), f, atol=1e-3)


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="max_s"):
        OneShotConfig(max_s=0.0)
    with pytest.raises(ConfigError, match="tail_db"):
        OneShotConfig(tail_db=-20.0, onset_db=-40.0)
