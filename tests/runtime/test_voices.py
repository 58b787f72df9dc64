import numpy as np
import pytest

from gesam_engine.config import from_dict
from gesam_engine.errors import ConfigError
from gesam_engine.runtime.renderer import StopAll
from gesam_engine.runtime.voices import PlaySound, VoiceConfig, VoicePool, release_slots

SR = 48000


def _drum(n: int = 2000, seed: int = 0) -> np.ndarray:
    """A noisy decaying hit; starts at full level so fades and cuts are visible."""
    rng = np.random.default_rng(seed)
    env = np.exp(-np.arange(n) / (n / 5))
    return (0.5 * env * (0.5 + 0.5 * rng.standard_normal(n))).astype(np.float32)


def _render(pool: VoicePool, frames: int, block: int) -> np.ndarray:
    out = np.zeros((frames, pool.channels), dtype=np.float32)
    for t in range(0, frames, block):
        pool.render(out[t : t + block])
    return out


def test_config_validates_and_loads_from_dict() -> None:
    assert from_dict(VoiceConfig, {"voices": 8, "release_ms": 2.0}, "voices").voices == 8
    for bad in ({"voices": 0}, {"voices": 257}, {"velocity_curve": -1.0}, {"fade_in_ms": -0.1}, {"release_ms": float("nan")}):
        with pytest.raises(ConfigError):
            VoiceConfig(**bad)
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(VoiceConfig, {"polyphony": 8}, "voices")


def test_trigger_is_sample_exact_at_velocity_curve_gain() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=2.0), SR, 1, 256)
    sound = _drum(1000)
    pool.start(PlaySound(sound, velocity=0.5))
    out = _render(pool, 1280, 256)
    np.testing.assert_allclose(out[:1000, 0], sound * np.float32(0.25), rtol=0, atol=1e-7)
    assert np.all(out[1000:] == 0)
    assert pool.active() == 0  # freed once past its end


def test_fade_in_is_a_short_linear_ramp() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.5, velocity_curve=1.0), SR, 1, 64)
    sound = np.ones(200, dtype=np.float32)
    pool.start(PlaySound(sound))
    out = _render(pool, 256, 64)[:, 0]
    n = round(0.5 * SR / 1000)  # 24 samples
    np.testing.assert_allclose(out[:n], (np.arange(n) + 1) / n, atol=1e-6)
    np.testing.assert_array_equal(out[n:200], 1.0)


def test_stereo_pan_is_equal_power_and_unity_at_centre() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=1.0), SR, 2, 64)
    sound = np.ones(64, dtype=np.float32)
    for pan in (-1.0, -0.3, 0.0, 0.7, 1.0):
        pool.start(PlaySound(sound, pan=pan))
        out = _render(pool, 64, 64)
        left, right = float(out[0, 0]), float(out[0, 1])
        assert left**2 + right**2 == pytest.approx(2.0, rel=1e-6)
        if pan == 0.0:
            assert left == pytest.approx(1.0) and right == pytest.approx(1.0)
        if pan == -1.0:
            assert right == pytest.approx(0.0, abs=1e-7)


def test_pitch_rate_two_halves_the_length_and_interpolates() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=1.0), SR, 1, 128)
    sound = _drum(1000)
    pool.start(PlaySound(sound, rate=2.0))
    out = _render(pool, 1024, 128)[:, 0]
    np.testing.assert_allclose(out[:500], sound[::2], atol=1e-7)
    assert np.all(out[500:] == 0) and out[499] != 0

    pool.start(PlaySound(sound, rate=0.5))
    out = _render(pool, 2048, 128)[:, 0]
    np.testing.assert_allclose(out[0:1998:2], sound[:999], atol=1e-7)
    np.testing.assert_allclose(out[1:1998:2], (sound[:999] + sound[1:1000]) / 2, atol=1e-6)
    assert out[1999] == pytest.approx(sound[999] / 2, abs=1e-7)  # past the end reads as silence
    assert np.all(out[2000:] == 0)


def test_polyphony_is_bounded_and_stealing_does_not_click() -> None:
    voices = 4
    pool = VoicePool(VoiceConfig(voices=voices, velocity_curve=1.0), SR, 1, 64)
    long_dc = np.full(SR, 0.2, dtype=np.float32)
    out = np.zeros((64 * 48, 1), dtype=np.float32)
    for i in range(48):
        if i % 2 == 0 and i < 40:  # a new voice every 128 frames: steals from the 5th on
            pool.start(PlaySound(long_dc))
            assert pool.playing() <= voices
            assert pool.active() <= voices + release_slots(voices)
        pool.render(out[i * 64 : (i + 1) * 64])
    assert pool.steals == 20 - voices and pool.hard_cuts == 0
    assert pool.playing() == voices
    # the level settles at voices * 0.2; a steal fades one voice out while one fades in
    assert out[-1, 0] == pytest.approx(voices * 0.2, abs=1e-5)
    jump = float(np.max(np.abs(np.diff(out[:, 0]))))
    assert jump < 0.02, f"discontinuity {jump} at a steal or start"


def test_choke_group_fades_the_first_hat_when_the_second_starts() -> None:
    cfg = VoiceConfig(release_ms=5.0, fade_in_ms=0.0, velocity_curve=1.0)
    pool = VoicePool(cfg, SR, 1, 256)
    open_hat = np.full(SR, 0.5, dtype=np.float32)
    other = np.full(SR, 0.25, dtype=np.float32)
    silent_closed_hat = np.zeros(2000, dtype=np.float32)
    pool.start(PlaySound(open_hat, choke=1))
    pool.start(PlaySound(other, choke=2))  # another group is untouched
    first = _render(pool, 512, 256)
    np.testing.assert_allclose(first[:, 0], 0.75)
    pool.start(PlaySound(silent_closed_hat, choke=1))
    out = _render(pool, 1024, 256)[:, 0]
    n = round(5.0 * SR / 1000)  # 240
    expected_fade = 0.5 * (n - np.arange(n)) / n
    np.testing.assert_allclose(out[:n], 0.25 + expected_fade, atol=1e-6)
    np.testing.assert_allclose(out[n:], 0.25, atol=1e-7)
    assert pool.active() == 2  # the open hat is gone, the other voice and the closed hat remain


def test_stop_all_silences_within_release_ms() -> None:
    pool = VoicePool(VoiceConfig(release_ms=5.0), SR, 2, 128)
    for i in range(6):
        pool.start(PlaySound(np.full(SR, 0.3, dtype=np.float32), pan=i / 5 - 0.5))
    before = _render(pool, 256, 128)
    assert np.all(np.abs(before[-1]) > 1.0)
    pool.stop_all()
    out = _render(pool, 512, 128)
    n = round(5.0 * SR / 1000)
    assert np.all(out[n:] == 0) and np.any(out[n - 1] != 0)
    assert float(np.max(np.abs(np.diff(out[:, 0])))) < 0.01  # a fade, not a cut
    assert pool.active() == 0


def test_bad_commands_are_refused() -> None:
    pool = VoicePool(VoiceConfig(), SR, 2, 64)
    for cmd in (
        PlaySound(np.zeros(10, dtype=np.float64)),
        PlaySound(np.zeros((10, 2), dtype=np.float32)),
        PlaySound(np.zeros(0, dtype=np.float32)),
        PlaySound(np.zeros(10, dtype=np.float32), rate=0.0),
        PlaySound(np.zeros(10, dtype=np.float32), velocity=float("nan")),
    ):
        with pytest.raises(ValueError):
            pool.start(cmd)
    with pytest.raises(ValueError):
        pool.render(np.zeros((65, 2), dtype=np.float32))
    assert pool.active() == 0


def _scripted(block: int) -> tuple[np.ndarray, VoicePool]:
    """A sequence of triggers, chokes, steals and a panic at multiples of 512 frames."""
    pool = VoicePool(VoiceConfig(voices=4), SR, 2, 512)
    sounds = [_drum(1500 + 700 * i, seed=i) for i in range(5)]
    script: dict[int, list[PlaySound | StopAll]] = {}
    for i in range(36):
        script.setdefault(512 * (i // 2 + i % 3), []).append(
            PlaySound(
                sounds[i % 5],
                velocity=0.2 + 0.15 * (i % 5),
                rate=(1.0, 1.37, 0.61, 2.0, 0.9)[i % 5],
                pan=(-1.0, 0.0, 0.35, 1.0)[i % 4],
                choke=(-1, 1, -1, 2)[i % 4],
            )
        )
    script.setdefault(512 * 14, []).append(StopAll())
    frames = 512 * 32
    out = np.zeros((frames, 2), dtype=np.float32)
    for t in range(0, frames, block):
        for cmd in script.get(t, []):
            pool.stop_all() if isinstance(cmd, StopAll) else pool.start(cmd)
        pool.render(out[t : t + block])
    return out, pool


def test_identical_output_at_block_sizes_64_and_512() -> None:
    small, pool_small = _scripted(64)
    large, pool_large = _scripted(512)
    assert np.max(np.abs(large)) > 0.1
    assert pool_small.steals == pool_large.steals > 0
    np.testing.assert_allclose(small, large, rtol=0, atol=1e-6)


@pytest.mark.reliability
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e20])
def test_a_sound_with_nan_inf_or_absurd_samples_never_enters_the_mix(bad: float) -> None:
    pool = VoicePool(VoiceConfig(), SR, 2, 64)
    sound = _drum(500)
    sound[250] = bad
    with pytest.raises(ValueError, match="finite"):
        pool.start(PlaySound(sound))
    for gain in (np.nan, np.inf):  # gains, velocities and pans are refused the same way
        with pytest.raises(ValueError, match="finite"):
            pool.start(PlaySound(_drum(500), gain=gain))
    assert pool.active() == 0
    pool.start(PlaySound(_drum(500)))
    out = _render(pool, 640, 64)
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 0.1


def test_kill_all_frees_every_voice_at_once() -> None:
    pool = VoicePool(VoiceConfig(release_ms=500.0), SR, 1, 64)
    for _ in range(3):
        pool.start(PlaySound(np.full(SR, 0.2, dtype=np.float32)))
    pool.stop_all()  # a long release: still sounding
    assert _render(pool, 64, 64)[-1, 0] > 0.5 and pool.active() == 3
    pool.kill_all()
    assert pool.active() == 0 and np.all(_render(pool, 64, 64) == 0)


# ---- shape: attack, hold, decay, length --------------------------------------------------------
def test_attack_hold_decay_ramps_at_known_frames_and_the_voice_ends_at_silence() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=1.0), SR, 1, 64)
    pool.start(PlaySound(np.ones(SR, dtype=np.float32), attack=1.0, hold=0.5, decay=2.0))  # 48, 24, 96 frames
    out = _render(pool, 512, 64)[:, 0]
    k = np.arange(512)
    np.testing.assert_allclose(out[:48], (k[:48] + 1) / 48, atol=1e-7)
    np.testing.assert_array_equal(out[48:72], 1.0)
    np.testing.assert_allclose(out[72:168], (168 - k[72:168]) / 96, atol=1e-7)
    assert out[72] == 1.0 and out[167] == pytest.approx(1 / 96) and np.all(out[168:] == 0)
    assert pool.active() == 0  # the decay reached silence: its slot is free


def test_the_shape_counts_output_time_whatever_the_pitch() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=1.0), SR, 1, 128)
    sound = np.ones(SR, dtype=np.float32)
    for rate in (0.5, 1.0, 2.0):
        pool.start(PlaySound(sound, rate=rate, attack=1.0, decay=1.0))
        out = _render(pool, 256, 128)[:, 0]
        assert out[47] == 1.0 and out[95] == pytest.approx(1 / 48) and np.all(out[96:] == 0)
        assert pool.active() == 0


def test_length_releases_the_voice_with_the_release_fade_and_frees_its_slot() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=1.0, release_ms=5.0), SR, 1, 64)
    pool.start(PlaySound(np.full(SR, 0.5, dtype=np.float32), length=2.0))  # released at frame 96, over 240
    out = _render(pool, 128, 64)[:, 0]
    assert pool.playing() == 0 and pool.active() == 1  # releasing: no longer counted as playing
    out = np.concatenate((out, _render(pool, 384, 64)[:, 0]))
    np.testing.assert_array_equal(out[:96], 0.5)
    np.testing.assert_allclose(out[96:336], 0.5 * (336 - np.arange(96, 336)) / 240, atol=1e-7)
    assert np.all(out[336:] == 0) and pool.active() == 0

    hard = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=1.0, release_ms=0.0), SR, 1, 64)
    hard.start(PlaySound(np.full(SR, 0.5, dtype=np.float32), length=1.0))  # 48 frames, then a cut
    out = _render(hard, 128, 64)[:, 0]
    assert np.all(out[:48] == 0.5) and np.all(out[48:] == 0) and hard.active() == 0


def test_a_choke_during_a_length_release_goes_on_with_it_and_an_earlier_one_wins() -> None:
    cfg = VoiceConfig(fade_in_ms=0.0, velocity_curve=1.0, release_ms=5.0)
    later = VoicePool(cfg, SR, 1, 64)
    later.start(PlaySound(np.full(SR, 0.5, dtype=np.float32), length=1.0, choke=1))  # release from frame 48
    first = _render(later, 128, 64)[:, 0]
    later.choke(1)  # at frame 128, inside the release: it goes on, no jump back up
    out = np.concatenate((first, _render(later, 256, 64)[:, 0]))
    np.testing.assert_allclose(out[48:288], 0.5 * (288 - np.arange(48, 288)) / 240, atol=1e-7)
    assert np.all(out[288:] == 0) and later.active() == 0

    earlier = VoicePool(cfg, SR, 1, 64)
    earlier.start(PlaySound(np.full(SR, 0.5, dtype=np.float32), length=100.0, choke=1))
    _render(earlier, 64, 64)
    earlier.choke(1)  # at frame 64, long before the length: the choke's release
    out = _render(earlier, 320, 64)[:, 0]
    np.testing.assert_allclose(out[:240], 0.5 * (240 - np.arange(240)) / 240, atol=1e-7)
    assert np.all(out[240:] == 0) and earlier.active() == 0


def test_shape_values_are_checked_and_clamped() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=1.0), SR, 1, 64)
    for name in ("attack", "hold", "decay", "length"):
        with pytest.raises(ValueError, match="finite ms"):
            pool.start(PlaySound(np.ones(100, dtype=np.float32), **{name: float("nan")}))
    assert pool.active() == 0
    pool.start(PlaySound(np.ones(100, dtype=np.float32), attack=-5.0, decay=-1.0, length=-1.0))  # below 0: none
    np.testing.assert_array_equal(_render(pool, 128, 64)[:100, 0], 1.0)
    pool.start(PlaySound(np.ones(100, dtype=np.float32), decay=1e-6))  # above 0: at least one frame
    assert _render(pool, 64, 64)[0, 0] == 1.0 and pool.active() == 0


def _shaped_script(block: int) -> tuple[np.ndarray, VoicePool]:
    """Shaped triggers (some timed inside a block), chokes during length releases, steals, a panic."""
    pool = VoicePool(VoiceConfig(voices=4, release_ms=3.0), SR, 2, 512)
    sounds = [_drum(1500 + 700 * i, seed=i) for i in range(5)]
    script: dict[int, list[tuple[int, PlaySound | StopAll]]] = {}
    for i in range(40):
        cmd = PlaySound(
            sounds[i % 5],
            velocity=0.3 + 0.15 * (i % 5),
            rate=(1.0, 1.37, 0.61, 2.0, 0.9)[i % 5],
            pan=(-1.0, 0.0, 0.35, 1.0)[i % 4],
            choke=(-1, 1, -1, 2)[i % 4],
            attack=(0.0, 2.3, 0.0, 11.0, 0.7)[i % 5],
            hold=(0.0, 1.1, 4.0)[i % 3],
            decay=(0.0, 9.7, 30.0, 0.0)[i % 4],
            length=(0.0, 0.0, 13.3, 25.0, 4.1, 0.0, 7.0)[i % 7],
        )
        t = 512 * (i // 2 + i % 3)
        script.setdefault(t, []).append((t + (0, 100, 333)[i % 3], cmd))
    script.setdefault(512 * 15, []).append((512 * 15, StopAll()))
    frames = 512 * 32
    out = np.zeros((frames, 2), dtype=np.float32)
    for t in range(0, frames, block):
        for at, cmd in script.get(t, []):
            pool.stop_all() if isinstance(cmd, StopAll) else pool.start(cmd, at=at)
        pool.render(out[t : t + block])
    return out, pool


def test_shaped_voices_render_the_same_samples_at_block_sizes_64_and_512() -> None:
    small, pool_small = _shaped_script(64)
    large, pool_large = _shaped_script(512)
    assert np.max(np.abs(large)) > 0.1
    assert pool_small.steals == pool_large.steals > 0
    np.testing.assert_array_equal(small, large)
