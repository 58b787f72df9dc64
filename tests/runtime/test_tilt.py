"""A pad's tilt: the first-order lowpass/highpass baked into a copy of the sound, and its cache."""

import math
import threading

import numpy as np
import pytest

from gesam_engine.runtime.tilt import TiltCache, corner_hz, tilt_sound

SR = 48000


def _noise(n: int = SR // 2, seed: int = 1) -> np.ndarray:
    """A decaying white-noise burst: every frequency at once, so a filter shows in its spectrum."""
    rng = np.random.default_rng(seed)
    return (0.5 * rng.standard_normal(n) * np.exp(-np.arange(n) / (SR * 0.05))).astype(np.float32)


def _kick(n: int = SR // 2) -> np.ndarray:
    """A falling sine, nearly all of it below 150 Hz."""
    phase = 2 * np.pi * np.cumsum(np.linspace(150, 45, n)) / SR
    return (0.9 * np.sin(phase) * np.exp(-np.arange(n) / (SR * 0.15))).astype(np.float32)


def centroid(x: np.ndarray, sample_rate: int = SR) -> float:
    """The magnitude spectrum's centre of mass, Hz."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64)))
    return float((spectrum * np.fft.rfftfreq(x.shape[0], 1 / sample_rate)).sum() / spectrum.sum())


def _reference(x: np.ndarray, tilt: float, sample_rate: int) -> np.ndarray:
    """The bilinear one-pole, sample by sample (before the level make-up)."""
    k = math.tan(math.pi * corner_hz(tilt, sample_rate) / sample_rate)
    pole = (1 - k) / (1 + k)
    b0, b1 = (k / (1 + k), k / (1 + k)) if tilt < 0 else (1 / (1 + k), -1 / (1 + k))
    y = np.zeros(x.shape[0])
    prev_x = prev_y = 0.0
    for i, v in enumerate(x.astype(np.float64)):
        prev_y = b0 * v + b1 * prev_x + pole * prev_y
        prev_x = v
        y[i] = prev_y
    return y


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000, 96000])
@pytest.mark.parametrize("tilt", [-1.0, -0.4, -0.05, -1e-5, 1e-5, 0.05, 0.4, 1.0])
def test_the_filter_is_the_first_order_recursion_up_to_its_make_up_gain(tilt: float, sample_rate: int) -> None:
    x = _noise(3000)
    ref = _reference(x, tilt, sample_rate)
    y = tilt_sound(x, tilt, sample_rate).astype(np.float64)
    gain = float(np.dot(y, ref) / np.dot(ref, ref))  # one gain for the whole sound
    assert 0.0 < gain <= 4.0 + 1e-6  # the make-up: at most +12 dB
    np.testing.assert_allclose(y, gain * ref, atol=2e-6)


def test_tilt_zero_is_the_sound_itself_and_near_zero_is_nearly_it() -> None:
    x = _noise()
    assert tilt_sound(x, 0.0, SR) is x
    for tilt in (-1e-4, 1e-4):
        assert float(np.abs(tilt_sound(x, tilt, SR) - x).max()) < 0.03


def test_below_zero_is_darker_above_zero_brighter_step_by_step() -> None:
    x = _noise()
    dark = [centroid(tilt_sound(x, t, SR)) for t in (0.0, -0.25, -0.5, -0.75, -1.0)]
    bright = [centroid(tilt_sound(x, t, SR)) for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a > b for a, b in zip(dark, dark[1:])), dark
    assert all(a < b for a, b in zip(bright, bright[1:])), bright
    assert dark[-1] < 0.4 * dark[0]
    kick = _kick()
    assert centroid(tilt_sound(kick, 1.0, SR)) > 3 * centroid(kick)  # a highpass thins a kick out


@pytest.mark.parametrize("tilt", [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])
def test_level_is_made_up_but_never_past_the_input_peak(tilt: float) -> None:
    for x in (_noise(), _kick(), np.zeros(500, np.float32), np.full(500, 0.5, np.float32)):
        y = tilt_sound(x, tilt, SR)
        assert y.dtype == np.float32 and y.shape == x.shape and np.all(np.isfinite(y))
        assert float(np.abs(y).max()) <= float(np.abs(x).max()) * (1 + 1e-6)
    noise = _noise()
    rms = float(np.sqrt(np.mean(tilt_sound(noise, tilt, SR).astype(np.float64) ** 2)))
    assert rms > 0.45 * float(np.sqrt(np.mean(noise.astype(np.float64) ** 2)))  # the tone moves, not the level


def test_stereo_keeps_its_shape_and_bad_input_is_refused() -> None:
    x = _noise(2000)
    both = tilt_sound(np.stack([x, x], axis=1), -0.5, SR)
    assert both.shape == (2000, 2) and both.dtype == np.float32
    np.testing.assert_allclose(both[:, 0], tilt_sound(x, -0.5, SR), atol=1e-7)
    np.testing.assert_array_equal(both[:, 0], both[:, 1])
    for bad in (-1.01, 1.5, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"tilt must be in -1\.\.1"):
            tilt_sound(x, bad, SR)
    broken = x.copy()
    broken[10] = np.nan
    with pytest.raises(ValueError, match="finite"):
        tilt_sound(broken, 0.5, SR)
    with pytest.raises(ValueError, match="non-empty"):
        tilt_sound(np.zeros(0, np.float32), 0.5, SR)


def test_the_cache_filters_each_sound_and_tilt_once_and_keeps_one_copy() -> None:
    cache = TiltCache(SR)
    a, b = _noise(seed=1), _noise(seed=2)
    assert cache.get(a, 0.0) is a and cache.filtered == 0
    first = cache.get(a, -0.5)
    assert cache.get(a, -0.5) is first and cache.filtered == 1
    np.testing.assert_array_equal(first, tilt_sound(a, -0.5, SR))
    assert cache.get(a, 0.5) is not first and cache.get(b, -0.5) is not first and cache.filtered == 3
    assert cache.get(a.copy(), -0.5) is not first  # keyed by the array, not its contents


def test_the_cache_forgets_the_least_recently_used_past_its_size() -> None:
    sounds = [_noise(SR // 4, seed=i) for i in range(4)]  # 48 kB each
    cache = TiltCache(SR, max_mb=120_000 / 2**20)  # room for two
    first = cache.get(sounds[0], 0.3)
    cache.get(sounds[1], 0.3)
    assert cache.get(sounds[0], 0.3) is first  # used again: now the newest
    cache.get(sounds[2], 0.3)  # sounds[1] goes
    assert cache.get(sounds[0], 0.3) is first and cache.filtered == 3
    cache.get(sounds[1], 0.3)
    assert cache.filtered == 4


def test_threads_asking_at_once_get_one_copy() -> None:
    cache = TiltCache(SR)
    sound = _noise(SR)
    results: list[np.ndarray] = []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        results.append(cache.get(sound, -0.7))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r is results[0] for r in results)


def test_peek_never_filters_and_latest_is_the_newest_copy_of_a_sound() -> None:
    from gesam_engine.runtime.tilt import TiltCache

    cache = TiltCache(48000)
    sound = np.sin(np.linspace(0, 400, 4800)).astype(np.float32)
    assert cache.peek(sound, 0.5) is None and cache.latest(sound) is None and cache.filtered == 0
    assert cache.peek(sound, 0.0) is sound
    a = cache.get(sound, 0.5)
    b = cache.get(sound, -0.5)
    assert cache.peek(sound, 0.5) is a and cache.latest(sound) is b and cache.filtered == 2
    other = sound.copy()
    assert cache.latest(other) is None  # another array, even with the same samples
