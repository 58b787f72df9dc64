import threading
import time

import numpy as np
import pytest

from gesam_engine.runtime.callback import AudioCallback
from gesam_engine.runtime.commands import PlaySound, SetEffectParam, SetGain, StopAll
from gesam_engine.runtime.renderer import QUEUE_SIZE, Renderer
from gesam_engine.runtime.ring_buffer import AudioRing
from gesam_engine.runtime.voices import VoiceConfig, VoicePool

SR = 48000


def _drum(n: int = 3000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.6 * np.exp(-np.arange(n) / 600) * rng.standard_normal(n)).astype(np.float32)


def _renderer(block: int = 256, channels: int = 2, ring: AudioRing | None = None, **kw: object) -> Renderer:
    pool = VoicePool(VoiceConfig(), SR, channels, block)
    return Renderer(pool, channels, block, ring, **kw)  # type: ignore[arg-type]


class Doubler:
    """A stand-in effects chain: multiplies by ``amount`` (a new array, like pedalboard)."""

    def __init__(self) -> None:
        self.amount = 2.0
        self.applied: list[SetEffectParam] = []

    def process(self, block: np.ndarray) -> np.ndarray:
        return block * np.float32(self.amount)

    def apply(self, cmd: SetEffectParam) -> None:
        if cmd.effect != "doubler":
            raise KeyError(cmd.effect)
        self.applied.append(cmd)
        self.amount = cmd.value


def test_offline_render_equals_the_voice_pool() -> None:
    cmd = PlaySound(_drum(), gain=0.7, rate=1.25, pan=0.3)
    renderer = _renderer()
    renderer.submit(cmd)
    audio = renderer.render_offline(16)
    pool = VoicePool(VoiceConfig(), SR, 2, 256)
    pool.start(cmd)
    expected = np.zeros_like(audio)
    for b in range(16):
        pool.render(expected[b * 256 : (b + 1) * 256])
    assert audio.shape == (16 * 256, 2) and audio.dtype == np.float32
    assert np.max(np.abs(audio)) > 0.05
    np.testing.assert_array_equal(audio, expected)
    assert renderer.block_index == 16


def test_set_gain_ramps_across_one_block() -> None:
    renderer = _renderer(block=128, channels=1)
    renderer.submit(PlaySound(np.ones(SR, dtype=np.float32)))
    renderer.render_offline(1)
    renderer.submit(SetGain(0.5))
    ramp_block = renderer.render_block().copy()
    after = renderer.render_block().copy()
    expected = 1.0 + (0.5 - 1.0) * np.arange(1, 129) / 128
    np.testing.assert_allclose(ramp_block[:, 0], expected, atol=1e-6)
    np.testing.assert_allclose(after, 0.5, atol=1e-7)
    assert renderer.gain == 0.5


def test_stop_all_and_effects_go_through_the_queue() -> None:
    fx = Doubler()
    renderer = _renderer(block=128, channels=1, effects=fx)
    renderer.submit(PlaySound(np.full(SR, 0.25, dtype=np.float32)))
    renderer.render_offline(1)
    assert renderer.render_block()[0, 0] == pytest.approx(0.5)
    renderer.submit(SetEffectParam("doubler", "amount", 3.0))
    assert renderer.render_block()[0, 0] == pytest.approx(0.75)
    renderer.submit(SetEffectParam("reverb", "mix", 1.0))  # unknown effect: counted, not raised
    renderer.submit(StopAll())
    tail = renderer.render_offline(4)
    assert renderer.rejected == 1 and isinstance(renderer.last_error, KeyError)
    assert np.all(tail[-128:] == 0) and renderer.voices.active() == 0


def test_bad_commands_and_broken_effects_are_counted_not_raised() -> None:
    renderer = _renderer(block=64, channels=1)
    renderer.submit(SetGain(float("nan")))
    renderer.submit(SetGain(9.0))
    renderer.submit(SetEffectParam("eq", "gain", 1.0))  # no effects chain
    renderer.submit(PlaySound(np.zeros(10, dtype=np.float64)))
    renderer.submit("not a command")  # type: ignore[arg-type]
    renderer.render_block()
    assert renderer.rejected == 5 and renderer.gain == 1.0

    class Broken:
        def process(self, block: np.ndarray) -> np.ndarray:
            return block[:10]

        def apply(self, cmd: SetEffectParam) -> None:
            pass

    renderer = _renderer(block=64, channels=1, effects=Broken())
    renderer.submit(PlaySound(np.full(100, 0.5, dtype=np.float32)))
    block = renderer.render_block()
    assert renderer.effect_errors == 1 and block[-1, 0] == pytest.approx(0.5)  # played dry


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
    renderer = _renderer(block=64, max_records=4)
    sound = np.ones(10, dtype=np.float32)
    for i in range(3):
        renderer.submit(PlaySound(sound, trigger_id=i, arrival=float(i)))
        renderer.render_block()
    recs = renderer.trigger_records()
    assert [(r.trigger_id, r.arrival, r.block_index) for r in recs] == [(0, 0.0, 0), (1, 1.0, 1), (2, 2.0, 2)]
    assert renderer.trigger_records() == []
    for i in range(10):
        renderer.submit(PlaySound(sound, trigger_id=100 + i))
    renderer.render_block()
    recs = renderer.trigger_records()
    # the oldest slot of a full record ring may be mid-rewrite, so it is dropped too
    assert [r.trigger_id for r in recs] == [107, 108, 109]
    assert renderer.records_lost == 7


def test_live_thread_keeps_the_ring_filled_without_underruns() -> None:
    bs = 1024
    ring = AudioRing(4 * bs, 2)
    renderer = _renderer(block=bs, ring=ring)
    callback = AudioCallback(ring, 2)
    with pytest.raises(RuntimeError):
        _renderer(block=bs).start()  # no ring
    renderer.start()
    assert renderer.running and renderer.ring_origin == (0, 0)
    with pytest.raises(RuntimeError):
        renderer.render_offline(1)

    outdata = np.empty((bs, 2), dtype=np.float32)
    period = bs / SR
    deadline_blocks = int(1.0 / period) + 1  # 1 s of audio
    heard = np.zeros(deadline_blocks * bs, dtype=np.float32)

    def device() -> None:  # a real-time consumer, like PortAudio calling the callback
        t0 = time.perf_counter()
        for i in range(deadline_blocks):
            wait = t0 + i * period - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            callback(outdata, bs, None, None)
            heard[i * bs : (i + 1) * bs] = outdata[:, 0]

    consumer = threading.Thread(target=device)
    consumer.start()
    time.sleep(0.1)
    for i in range(10):
        renderer.submit(PlaySound(_drum(2000, seed=i), arrival=time.perf_counter(), trigger_id=i))
        time.sleep(0.05)
    consumer.join(timeout=5)
    renderer.stop()
    assert not renderer.running and renderer._thread is None
    assert callback.started and callback.underruns == 0, callback.counts()
    assert np.max(np.abs(heard)) > 0.1  # the triggers were heard
    assert len(renderer.trigger_records()) == 10
    assert ring.available() <= ring.capacity


def test_stop_reports_a_render_thread_failure() -> None:
    class FailingRing(AudioRing):
        def write(self, block: np.ndarray) -> int:
            raise OSError("simulated failure in the render path")

    renderer = _renderer(block=256, ring=FailingRing(512, 2))
    renderer.start()
    time.sleep(0.05)
    assert not renderer.running
    with pytest.raises(RuntimeError, match="render thread failed"):
        renderer.stop()
