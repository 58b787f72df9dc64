"""The safety limiter on its own: the ceiling holds (samples and 4x true peak), quiet audio passes
bit-exact (only delayed), any block size gives the same output, NaN/inf become silence, nothing
is allocated per block, and the [limiter] settings cannot switch it off."""

import math
import tracemalloc

import numpy as np
import pytest
from scipy.signal import resample_poly

from gesam_engine.config import from_dict
from gesam_engine.errors import ConfigError
from gesam_engine.runtime.limiter import LimiterConfig, SafetyLimiter

SR = 48000
CEILING = 10 ** (-0.3 / 20)


def _hit(n: int, seed: int) -> np.ndarray:
    """A full-band drum-like hit peaking at 0.9: white noise and a 60 Hz thump, decaying."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    h = rng.standard_normal(n) * np.exp(-t * 40) + np.sin(2 * np.pi * 60 * t) * np.exp(-t * 6)
    return 0.9 * h / np.abs(h).max()


def _pile(hits: int = 32, gain: float = 4.0, seconds: float = 1.0) -> np.ndarray:
    """``hits`` hits 37 samples apart at ``gain``: float32 [frames, 2], far above full scale."""
    x = np.zeros((int(seconds * SR), 2), dtype=np.float32)
    for i in range(hits):
        s = 2000 + 37 * i
        h = _hit(min(SR // 2, len(x) - s), seed=i)
        x[s : s + h.size, 0] += gain * h
        x[s : s + h.size, 1] += gain * 0.8 * h
    return x


def _run(x: np.ndarray, block: int, config: LimiterConfig = LimiterConfig()) -> tuple[np.ndarray, SafetyLimiter]:
    limiter = SafetyLimiter(config, SR, x.shape[1], block)
    y = x.copy()
    for i in range(0, len(y), block):
        limiter.process(y[i : i + block])  # the last block may be shorter
    return y, limiter


def _true_peak_db(y: np.ndarray) -> float:
    """The 4x-oversampled peak in dBFS, as a BS.1770 true-peak meter reads it (away from the ends,
    where cutting a loud signal off makes the resampler ring)."""
    peak = max(np.abs(resample_poly(y[:, c].astype(np.float64), 4, 1)[400:-400]).max() for c in range(y.shape[1]))
    return 20 * math.log10(peak)


@pytest.mark.reliability
def test_32_hits_at_gain_4_stay_under_the_ceiling_in_samples_and_true_peak() -> None:
    x = _pile()
    assert np.abs(x).max() > 15  # about +25 dBFS going in
    y, limiter = _run(x, 256)
    assert np.all(np.isfinite(y))
    assert np.abs(y).max() < CEILING  # never at or above it
    assert _true_peak_db(y) <= -0.3
    assert np.abs(y).max() > 0.9  # limited, not muted
    stats = limiter.stats()
    assert stats["engaged_blocks"] > 10 and 20 < stats["max_reduction_db"] < 35, stats
    assert stats["clipped_blocks"] == 0  # the gain held it; the hard clip had nothing to do


@pytest.mark.reliability
def test_an_inter_sample_peak_is_caught() -> None:
    """A sine at a quarter of the rate, 45 degrees off: every sample is 3 dB below its true peak."""
    t = np.arange(SR // 2)
    x = np.repeat((1.2 * np.sin(np.pi / 2 * t + np.pi / 4)).astype(np.float32)[:, None], 2, axis=1)
    assert np.abs(x).max() < CEILING and _true_peak_db(x) > 1.0  # a sample-peak limiter would pass it
    y, limiter = _run(x, 512)
    assert _true_peak_db(y[1000:]) <= -0.3 and limiter.engaged_blocks > 0


def test_quiet_audio_passes_bit_exact_only_delayed() -> None:
    x = _pile(hits=1, gain=1.0)  # peaks at 0.9
    y, limiter = _run(x, 256)
    latency = limiter.latency
    assert latency == round(0.001 * SR)  # 1 ms look-ahead: 48 frames of added latency
    np.testing.assert_array_equal(y[latency:], x[:-latency])
    assert np.all(y[:latency] == 0) and limiter.engaged_blocks == 0


@pytest.mark.parametrize("other", [64, 100, 1024])
def test_identical_output_at_any_block_size(other: int) -> None:
    x = _pile(hits=8, gain=3.0, seconds=0.5)
    x[12000:12300] = 0.0  # a gap, so the release runs across block edges
    ref, _ = _run(x, 512)
    y, _ = _run(x, other)
    np.testing.assert_array_equal(y, ref)


@pytest.mark.reliability
def test_nan_and_inf_become_silence_and_the_next_block_plays() -> None:
    limiter = SafetyLimiter(LimiterConfig(), SR, 2, 256)
    tone = (0.5 * np.sin(np.arange(256) / 10)).astype(np.float32)
    good = np.repeat(tone[:, None], 2, axis=1)
    assert limiter.process(good.copy())
    for bad_value in (np.nan, np.inf, -np.inf):
        bad = good.copy()
        bad[100, 1] = bad_value
        assert not limiter.process(bad)
        assert np.all(np.isfinite(bad)) and np.abs(bad).max() < CEILING
        assert np.all(bad[limiter.latency :] == 0)  # the bad block is silence; the delay line's tail plays
    for _ in range(3):
        out = good.copy()
        assert limiter.process(out)
    np.testing.assert_array_equal(out[limiter.latency :], good[: -limiter.latency])  # fully back
    assert limiter.nonfinite_blocks == 3


@pytest.mark.reliability
def test_absurd_but_finite_input_is_held_and_the_limiter_recovers() -> None:
    limiter = SafetyLimiter(LimiterConfig(release_ms=5.0), SR, 2, 256)
    huge = np.full((256, 2), 3e38, dtype=np.float32)
    huge[::2] *= -1  # sums in the interpolator overflow to inf - inf
    assert limiter.process(huge)
    assert np.all(np.isfinite(huge)) and np.abs(huge).max() < CEILING
    quiet = np.full((256, 2), 0.25, dtype=np.float32)
    for _ in range(200):  # about 1 s: the reduction releases
        out = quiet.copy()
        limiter.process(out)
    np.testing.assert_array_equal(out, quiet)


def test_process_allocates_nothing_per_block() -> None:
    block = 4096  # 32 KB of float32 stereo: any per-block array would show
    limiter = SafetyLimiter(LimiterConfig(), SR, 2, block)
    x = _pile(hits=4, seconds=0.2)[:block].copy()
    limiter.process(x)  # the first call of a size may build its weight rows
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            limiter.process(x)
        growth = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert growth < 8192, f"{growth} bytes allocated while limiting"  # small Python objects (views) only


def test_reset_empties_the_delay_line() -> None:
    limiter = SafetyLimiter(LimiterConfig(), SR, 1, 64)
    limiter.process(np.full((64, 1), 0.5, dtype=np.float32))
    limiter.reset()
    out = np.zeros((64, 1), dtype=np.float32)
    limiter.process(out)
    assert np.all(out == 0)


def test_config_is_checked_and_cannot_switch_the_limiter_off() -> None:
    assert from_dict(LimiterConfig, {"ceiling_db": -1.0}, "limiter").ceiling_db == -1.0
    for bad in ({"ceiling_db": 0.0}, {"ceiling_db": 6.0}, {"ceiling_db": -40.0}, {"lookahead_ms": 0.0},
                {"lookahead_ms": 50.0}, {"release_ms": 0.0}, {"release_ms": 1e6}):
        with pytest.raises(ConfigError, match="limiter"):
            from_dict(LimiterConfig, bad, "limiter")
    for hostile in (math.nan, math.inf, -math.inf, 1e308):
        with pytest.raises(ConfigError, match="limiter.ceiling_db"):
            from_dict(LimiterConfig, {"ceiling_db": hostile}, "limiter")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['enabled'\]"):
        from_dict(LimiterConfig, {"enabled": False}, "limiter")
    with pytest.raises(ConfigError, match="cannot be switched off"):
        LimiterConfig(ceiling_db=0.0)


def test_a_lower_ceiling_is_held_too() -> None:
    config = LimiterConfig(ceiling_db=-6.0, lookahead_ms=2.0, release_ms=100.0)
    y, limiter = _run(_pile(hits=8, seconds=0.5), 512, config)
    assert limiter.latency == 96
    assert np.abs(y).max() < 10 ** (-6 / 20) and _true_peak_db(y) <= -6.0
