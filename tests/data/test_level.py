"""Generated sounds play at the training sounds' level: loudness target, capped boost, peak ceiling."""

import numpy as np

from gesam_engine.data.level import level_like_training
from gesam_engine.evaluation import integrated_lufs

RATE = 44100


def _hit(amplitude: float, decay_s: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(1.5 * RATE)) / RATE
    noise = np.random.default_rng(seed).standard_normal(t.size)
    return (amplitude * noise * np.exp(-t / decay_s)).astype(np.float32)


def test_quiet_and_loud_sounds_come_out_at_the_target_under_the_ceiling():
    waves = np.stack([_hit(0.03, 0.3), _hit(0.9, 0.3, 1), _hit(0.05, 0.05, 2)])  # -36.7, -7.8, -34.9 LUFS
    out = level_like_training(waves, RATE, -18.0, -1.0)
    lufs = integrated_lufs(out, RATE)
    ceiling = 10 ** (-1 / 20)
    assert out.dtype == np.float32 and out.shape == waves.shape
    assert np.abs(out).max() <= ceiling + 1e-6
    for i in range(3):  # at the target, or lower only because the peak ceiling held it down
        peak = np.abs(out[i]).max()
        assert abs(lufs[i] + 18.0) < 0.3 or peak > 0.99 * ceiling, (lufs[i], peak)
    # by default nothing but a gain: the sound keeps its shape
    np.testing.assert_allclose(out[0] / np.abs(out[0]).max(), waves[0] / np.abs(waves[0]).max(), atol=1e-5)


def test_peaky_sounds_reach_the_target_through_at_most_the_limit_and_keep_their_shape_without():
    spiky = _hit(0.02, 0.3)
    spiky[100] = 1.0  # a click 40 dB over the body: scaling to the ceiling would leave it very quiet
    limited = level_like_training(spiky[None], RATE, -18.0, -1.0, max_limit_db=6.0)
    scaled = level_like_training(spiky[None], RATE, -18.0, -1.0, max_limit_db=0.0)
    ceiling = 10 ** (-1 / 20)
    assert np.abs(limited).max() <= ceiling + 1e-6 and np.abs(scaled).max() <= ceiling + 1e-6
    gained = integrated_lufs(limited, RATE)[0] - integrated_lufs(scaled, RATE)[0]
    assert 3.0 < gained < 6.5  # up to 6 dB of the click taken off by the limiter (its release dips the body a little)
    np.testing.assert_allclose(scaled[0] / np.abs(scaled[0]).max(), spiky / np.abs(spiky).max(), atol=1e-5)


def test_a_near_silent_sound_is_raised_at_most_the_cap_and_silence_stays_silent():
    faint = _hit(1e-4, 0.3)[None]
    out = level_like_training(faint, RATE, -18.0, -1.0, max_boost_db=24.0)
    gain_db = 20 * np.log10(np.abs(out).max() / np.abs(faint).max())
    assert 23.9 < gain_db < 24.1
    silent = np.zeros((1, 1000), np.float32)
    assert not level_like_training(silent, RATE, -18.0, -1.0).any()


def test_a_non_finite_sound_is_left_for_the_callers_check():
    bad = _hit(0.1, 0.3)[None].copy()
    bad[0, 10] = np.nan
    out = level_like_training(bad, RATE, -18.0, -1.0)
    assert np.isnan(out[0, 10])
