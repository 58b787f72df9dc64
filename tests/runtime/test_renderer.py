"""The mixer's code path with real voices and real pedalboard effects: commands, gain, effects,
the safety limiter (1 ms late, bit-exact below the ceiling), the panic that is never dropped and
silences effect tails, the NaN guard, stale triggers, and timed plays on their exact frame."""

import time

import numpy as np
import pytest

from gesam_engine.runtime.effects import EffectsChain, EffectSpec
from gesam_engine.runtime.renderer import PANIC_FADE_MS, QUEUE_SIZE, STALE_S, Renderer, SetGain, StopAll
from gesam_engine.runtime.trigger_log import TriggerLog
from gesam_engine.runtime.voices import PlaySound, VoiceConfig, VoicePool

SR = 48000
LATENCY = 48  # the safety limiter's 1 ms look-ahead at 48 kHz
CEILING = 10 ** (-0.3 / 20)


def _drum(n: int = 3000, seed: int = 0, level: float = 0.6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * np.exp(-np.arange(n) / 600) * rng.standard_normal(n)).astype(np.float32)


def _renderer(block: int = 256, channels: int = 2, voices: VoiceConfig | None = None, **kw: object) -> Renderer:
    pool = VoicePool(voices or VoiceConfig(), SR, channels, block)
    return Renderer(pool, channels, block, **kw)  # type: ignore[arg-type]


class Doubler:
    """A stand-in effects chain: multiplies by ``amount`` (a new array, like pedalboard). Like
    ``EffectsChain``, ``set_param`` refuses at once and queues the change for the next ``process``."""

    def __init__(self) -> None:
        self.amount = 2.0
        self.pending: list[float] = []
        self.resets = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.pending:
            self.amount = self.pending.pop()
        return block * np.float32(self.amount)

    def set_param(self, effect: str, param: str, value: float) -> None:
        if effect != "doubler":
            raise KeyError(effect)
        self.pending.append(value)

    def reset(self) -> None:
        self.resets += 1


def test_offline_render_equals_the_voice_pool_one_millisecond_late() -> None:
    cmd = PlaySound(_drum(level=0.3), gain=0.7, rate=1.25, pan=0.3)
    renderer = _renderer()
    assert renderer.limiter.latency == LATENCY
    renderer.submit(cmd)
    audio = renderer.render_offline(16)
    pool = VoicePool(VoiceConfig(), SR, 2, 256)
    pool.start(cmd)
    expected = np.zeros_like(audio)
    for b in range(16):
        pool.render(expected[b * 256 : (b + 1) * 256])
    assert audio.shape == (16 * 256, 2) and audio.dtype == np.float32
    assert 0.05 < np.max(np.abs(expected)) < CEILING  # under the ceiling: the limiter only delays
    np.testing.assert_array_equal(audio[LATENCY:], expected[:-LATENCY])
    assert np.all(audio[:LATENCY] == 0)
    assert renderer.block_index == 16 and renderer.limiter.engaged_blocks == 0


def test_set_gain_ramps_across_one_block() -> None:
    renderer = _renderer(block=128, channels=1)
    renderer.submit(PlaySound(np.full(SR, 0.5, dtype=np.float32)))
    first = renderer.render_offline(1)
    renderer.submit(SetGain(0.5))
    stream = np.concatenate([first, renderer.render_offline(3)])[:, 0]
    played = stream[LATENCY:]  # the mix as it went into the limiter
    expected = 0.5 * (1.0 + (0.5 - 1.0) * np.arange(1, 129) / 128)
    np.testing.assert_allclose(played[128:256], expected, atol=1e-6)
    np.testing.assert_allclose(played[256:], 0.25, atol=1e-7)
    assert renderer.gain == 0.5


def test_panic_and_effects_changes_go_through() -> None:
    fx = Doubler()
    renderer = _renderer(block=128, channels=1, effects=fx)
    renderer.submit(PlaySound(np.full(SR, 0.25, dtype=np.float32)))
    renderer.render_offline(1)
    assert renderer.render_block()[-1, 0] == pytest.approx(0.5)
    fx.set_param("doubler", "amount", 3.0)  # straight to the chain (a control thread), applied by the next block
    assert renderer.render_block()[-1, 0] == pytest.approx(0.75)
    with pytest.raises(KeyError):
        fx.set_param("reverb", "mix", 1.0)  # unknown effect: refused to the caller, the renderer never sees it
    assert renderer.submit(StopAll())
    tail = renderer.render_offline(6)
    assert renderer.rejected == 0 and renderer.last_error is None
    fade_end = round(PANIC_FADE_MS * SR / 1000) + LATENCY
    assert np.all(tail[fade_end:] == 0) and renderer.voices.active() == 0
    assert float(np.max(np.abs(np.diff(tail[:, 0])))) < 0.01  # a fade, not a click
    assert renderer.panics == 1 and fx.resets == 1  # the effects were reset at the fade's end


def test_bad_commands_and_broken_effects_are_counted_not_raised() -> None:
    renderer = _renderer(block=64, channels=1)
    renderer.submit(SetGain(float("nan")))
    renderer.submit(SetGain(9.0))
    renderer.submit(PlaySound(np.zeros((10, 2), dtype=np.float32)))  # not mono
    renderer.submit(PlaySound(np.zeros(10, dtype=np.float64)))
    renderer.submit("not a command")  # type: ignore[arg-type]
    renderer.render_block()
    assert renderer.rejected == 5 and renderer.gain == 1.0

    class Broken:
        def process(self, block: np.ndarray) -> np.ndarray:
            return block[:10]

        def reset(self) -> None:
            pass

    renderer = _renderer(block=64, channels=1, effects=Broken())
    renderer.submit(PlaySound(np.full(200, 0.5, dtype=np.float32)))
    renderer.render_block()
    block = renderer.render_block()
    assert renderer.effect_errors == 2 and block[-1, 0] == pytest.approx(0.5)  # played dry


@pytest.mark.reliability
def test_32_hits_at_gain_4_never_reach_the_ceiling() -> None:
    renderer = _renderer(block=256)
    renderer.submit(SetGain(4.0))
    for i in range(32):
        renderer.submit(PlaySound(_drum(SR // 4, seed=i, level=0.9)))
    audio = renderer.render_offline(60)
    assert np.all(np.isfinite(audio))
    assert 0.9 < np.max(np.abs(audio)) < CEILING  # limited, not muted, never at the ceiling
    assert renderer.limiter.engaged_blocks > 0 and renderer.limiter.max_reduction_db > 20


def _scripted(block: int) -> np.ndarray:
    """Plays, an effect change and a panic at multiples of 512 frames, with real effects (the gain
    ramps over one block, so it changes while nothing sounds)."""
    specs = (EffectSpec("verb", "Reverb", params={"room_size": 0.7, "wet_level": 0.4}),
             EffectSpec("echo", "Delay", params={"delay_seconds": 0.01, "feedback": 0.6, "mix": 0.4}))
    pool = VoicePool(VoiceConfig(voices=8), SR, 2, block)
    chain = EffectsChain(specs, SR)
    renderer = Renderer(pool, 2, block, effects=chain)
    script: dict[int, list[object]] = {0: [SetGain(3.0)]}
    for i in range(24):
        script.setdefault(512 * (1 + i // 2), []).append(PlaySound(_drum(2500, seed=i, level=0.9), pan=i / 12 - 1))
    script.setdefault(512 * 5, []).append(lambda: chain.set_param("echo", "feedback", 0.9))
    script.setdefault(512 * 14, []).append(StopAll())
    script.setdefault(512 * 18, []).append(PlaySound(_drum(seed=99)))
    out = np.zeros((512 * 28, 2), dtype=np.float32)
    for t in range(0, out.shape[0], block):
        for cmd in script.get(t, []):
            if callable(cmd):  # an effect change: straight to the chain, applied in this block
                cmd()
            else:
                assert renderer.submit(cmd)  # type: ignore[arg-type]
        renderer.render_block(out=out[t : t + block])
    return out


def test_identical_output_at_block_sizes_64_and_512() -> None:
    small, large = _scripted(64), _scripted(512)
    assert np.max(np.abs(large)) > 0.9  # the limiter had work to do
    np.testing.assert_array_equal(small, large)


# ---- panic: never dropped, silences effect tails ---------------------------------------------
@pytest.mark.reliability
def test_a_panic_is_never_dropped_and_drops_the_plays_queued_before_it() -> None:
    renderer = _renderer()
    sound = _drum(SR, level=0.3)
    renderer.submit(PlaySound(sound))
    renderer.render_offline(2)
    t0 = time.perf_counter()
    while renderer.submit(PlaySound(sound, arrival=t0)):  # a flood fills the queue
        pass
    assert renderer.dropped == 1
    assert renderer.submit(StopAll()) is True  # a full queue does not stop a panic
    renderer.panic()  # the same, directly
    late = PlaySound(sound, arrival=time.perf_counter() + 1.0)  # sent after the panic
    audio = renderer.render_offline(8)
    assert renderer.panics == 1 and renderer.panic_dropped == QUEUE_SIZE
    assert np.all(audio[round(PANIC_FADE_MS * SR / 1000) + LATENCY :] == 0)
    assert renderer.voices.active() == 0
    assert renderer.submit(late)
    assert np.max(np.abs(renderer.render_offline(2))) > 0.05  # the next trigger plays


@pytest.mark.reliability
def test_panic_silences_a_delay_ringing_at_feedback_0_99() -> None:
    fx = EffectsChain((EffectSpec("echo", "Delay", params={"delay_seconds": 0.05, "feedback": 0.99, "mix": 0.5}),), SR)
    renderer = _renderer(effects=fx)
    renderer.submit(PlaySound(_drum(level=0.5)))
    ringing = renderer.render_offline(200)  # about 1 s: still ringing
    assert np.max(np.abs(ringing[-SR // 10 :])) > 0.05
    assert renderer.submit(StopAll())
    after = renderer.render_offline(200)
    silent_from = round(PANIC_FADE_MS * SR / 1000) + LATENCY
    assert np.max(np.abs(after[:silent_from])) > 0.05
    assert np.all(after[silent_from:] == 0), "the delay's tail rang on after the panic"


# ---- NaN/inf guard ---------------------------------------------------------------------------
class Poisoned:
    """A real LadderFilter whose input is poisoned with NaN for one block (as a plug-in gone wrong,
    or a Gain of 1e9 dB in front of it): the filter then holds NaN until it is reset."""

    def __init__(self) -> None:
        self.chain = EffectsChain((EffectSpec("lad", "LadderFilter", params={"cutoff_hz": 2000.0}),), SR)
        self.poison = False

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.poison:
            self.poison = False
            block = block * np.float32(np.nan)
        return self.chain.process(block)

    def reset(self) -> None:
        self.chain.reset()


@pytest.mark.reliability
def test_a_nan_block_from_the_effects_is_silenced_the_effects_reset_and_sound_comes_back() -> None:
    fx = Poisoned()
    renderer = _renderer(effects=fx)
    renderer.submit(PlaySound(_drum(SR // 2, level=0.5)))
    assert np.max(np.abs(renderer.render_offline(4))) > 0.01
    fx.poison = True
    audio = renderer.render_offline(20)
    assert np.all(np.isfinite(audio)) and renderer.nonfinite_blocks == 1
    assert np.all(audio[LATENCY : 256 + LATENCY] == 0)  # the poisoned block is silence
    assert np.max(np.abs(audio[256 + LATENCY :])) > 0.01  # the reset filter plays the rest
    renderer.submit(PlaySound(_drum(level=0.5)))
    assert np.max(np.abs(renderer.render_offline(4))) > 0.05  # and the next trigger sounds
    assert renderer.nonfinite_blocks == 1 and renderer.limiter.nonfinite_blocks == 1


# ---- stale triggers --------------------------------------------------------------------------
@pytest.mark.reliability
def test_live_triggers_older_than_the_threshold_are_dropped_and_counted() -> None:
    renderer = _renderer(block=256)
    threshold = renderer.stale_after_s
    assert threshold == STALE_S
    now = time.perf_counter()
    old = [PlaySound(_drum(seed=i, level=0.3), arrival=now - threshold - 0.001, trigger_id=i) for i in range(20)]
    fresh = PlaySound(_drum(seed=99, level=0.3), arrival=now - 0.5 * threshold, trigger_id=99)
    for cmd in (*old, fresh):
        assert renderer.submit(cmd)
    renderer.render_block(now=now)
    assert renderer.stale_dropped == 20 and renderer.voices.active() == 1
    assert [r.trigger_id for r in renderer.trigger_records()] == [99]
    # offline (bounces, tests) nothing is stale, however old its arrival stamp
    for cmd in old:
        renderer.submit(cmd)
    renderer.render_block()
    assert renderer.stale_dropped == 20 and renderer.voices.active() == 21


def test_full_queue_refuses_and_counts_a_drop() -> None:
    renderer = _renderer()
    cmd = SetGain(1.0)
    assert all(renderer.submit(cmd) for _ in range(QUEUE_SIZE))
    assert renderer.submit(cmd) is False
    assert renderer.submit(cmd) is False
    assert renderer.dropped == 2
    renderer.render_block()  # drains everything
    assert renderer.submit(cmd) is True and renderer.dropped == 2


def test_trigger_records_report_each_trigger_once_and_count_overwritten_ones() -> None:
    renderer = _renderer(block=64, records=TriggerLog(4))
    sound = np.ones(10, dtype=np.float32)
    for i in range(3):
        renderer.submit(PlaySound(sound, trigger_id=i, arrival=float(i)))
        renderer.render_block()
    recs = renderer.trigger_records()
    assert [(r.trigger_id, r.arrival, r.frame) for r in recs] == [(0, 0.0, 0), (1, 1.0, 64), (2, 2.0, 128)]
    assert renderer.trigger_records() == []
    for i in range(10):
        renderer.submit(PlaySound(sound, trigger_id=100 + i))
    renderer.render_block()
    recs = renderer.trigger_records()
    # the oldest slot of a full record ring may be mid-rewrite, so it is dropped too
    assert [r.trigger_id for r in recs] == [107, 108, 109]
    assert renderer.records_lost == 7


# ---- timed plays --------------------------------------------------------------------------------
def test_timed_plays_start_on_their_exact_frame_whatever_the_block_size() -> None:
    """A click train placed by frame numbers comes out on those frames (one limiter latency later)
    at block sizes 64 and 256; a play whose frame has passed starts at once and is counted late."""
    click = np.zeros(8, dtype=np.float32)
    click[0] = 0.5
    frames = [100, 101, 333, 640, 641, 1000, 2047, 2048]
    for block in (64, 256):
        renderer = _renderer(block=block, voices=VoiceConfig(fade_in_ms=0.0))
        for i, f in enumerate(frames):
            assert renderer.submit(PlaySound(click, at_frame=f, trigger_id=i))
        audio = renderer.render_offline(4096 // block)[:, 0]
        assert list(np.flatnonzero(audio) - LATENCY) == frames
        assert [r.frame for r in renderer.trigger_records()] == frames
        assert renderer.counters()["timed"] == len(frames) and renderer.counters()["timed_late"] == 0
    renderer.submit(PlaySound(click, at_frame=10))  # long gone
    renderer.render_block()
    assert renderer.counters()["timed_late"] == 1
    assert [r.frame for r in renderer.trigger_records()] == [4096]  # it played at the next block


def test_a_panic_drops_timed_plays_still_waiting() -> None:
    renderer = _renderer(block=64)
    assert renderer.submit(PlaySound(_drum(level=0.3), at_frame=10_000))
    renderer.render_block()
    renderer.panic()
    audio = renderer.render_offline(200)
    assert renderer.panic_dropped == 1 and not np.any(audio)
