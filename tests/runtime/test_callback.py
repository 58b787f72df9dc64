import time
import tracemalloc

import numpy as np
import pytest

from gesam_engine.latency_stats import LatencyStats
from gesam_engine.runtime.callback import AudioCallback
from gesam_engine.runtime.metrics import trigger_latencies
from gesam_engine.runtime.renderer import Renderer, TriggerRecord
from gesam_engine.runtime.ring_buffer import AudioRing
from gesam_engine.runtime.voices import PlaySound, VoiceConfig, VoicePool

SR = 48000


class Flags:
    """Stands in for sounddevice.CallbackFlags (falsy when no flag is set)."""

    def __init__(self, output_underflow: bool = False) -> None:
        self.output_underflow = output_underflow
        self.output_overflow = self.input_underflow = self.input_overflow = self.priming_output = False

    def __bool__(self) -> bool:
        return self.output_underflow


NO_FLAGS = Flags()


def _content(frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((frames, 2)).astype(np.float32)


def _play(blocksize: int, content: np.ndarray, total: int) -> np.ndarray:
    ring = AudioRing(8192, 2)
    ring.write(content)
    cb = AudioCallback(ring, 2)
    outdata = np.empty((blocksize, 2), dtype=np.float32)
    played = np.empty((total, 2), dtype=np.float32)
    for i in range(total // blocksize):
        outdata.fill(np.nan)  # stale data must be overwritten
        cb(outdata, blocksize, None, NO_FLAGS)
        played[i * blocksize : (i + 1) * blocksize] = outdata
    return played


def test_identical_output_at_block_sizes_64_and_512() -> None:
    content = _content(5000)
    small = _play(64, content, 6144)
    large = _play(512, content, 6144)
    np.testing.assert_array_equal(small, large)
    np.testing.assert_array_equal(small[:5000], content)
    assert np.all(small[5000:] == 0)


def test_no_memory_growth_over_ten_thousand_calls() -> None:
    ring = AudioRing(4096, 2)
    cb = AudioCallback(ring, 2, max_blocks_log=1024)
    block = _content(256)
    outdata = np.empty((256, 2), dtype=np.float32)

    def cycle() -> None:
        ring.write(block)  # the producer side, so the callback copies real audio each time
        cb(outdata, 256, None, NO_FLAGS)

    for _ in range(200):  # warm-up: caches, first-time attribute creation
        cycle()
    tracemalloc.start()
    try:
        for _ in range(200):
            cycle()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(10_000):
            cycle()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert cb.blocks == 10_400 and cb.underruns == 0
    assert grown < 2048, f"memory grew by {grown} bytes over 10,000 calls"


def test_underrun_counted_after_start_not_during_pre_roll() -> None:
    ring = AudioRing(1024, 2)
    cb = AudioCallback(ring, 2)
    out = np.full((128, 2), 5.0, dtype=np.float32)
    for _ in range(3):  # pre-roll: nothing rendered yet
        cb(out, 128, None, NO_FLAGS)
    assert cb.underruns == 0 and not cb.started and np.all(out == 0)
    ring.write(_content(128 + 100))
    cb(out, 128, None, NO_FLAGS)  # a full block
    assert cb.underruns == 0 and cb.started
    cb(out, 128, None, NO_FLAGS)  # 100 frames, then 28 zeros
    assert cb.underruns == 1 and np.all(out[100:] == 0) and np.all(out[:100] != 0)
    cb(out, 128, None, NO_FLAGS)  # dry
    assert cb.underruns == 2
    assert cb.counts()["underrun_frames"] == 28 + 128
    assert cb.blocks == 6 and cb.frames == 6 * 128


def test_status_flags_are_counted() -> None:
    cb = AudioCallback(AudioRing(64, 2), 2)
    out = np.zeros((16, 2), dtype=np.float32)
    cb(out, 16, None, Flags(output_underflow=True))
    cb(out, 16, None, NO_FLAGS)
    assert cb.counts()["output_underflow"] == 1


def test_status_flags_from_sounddevice() -> None:
    sd = pytest.importorskip("sounddevice")
    cb = AudioCallback(AudioRing(64, 2), 2)
    out = np.zeros((16, 2), dtype=np.float32)
    flags = sd.CallbackFlags()
    flags.output_underflow = True
    cb(out, 16, None, flags)
    cb(out, 16, None, sd.CallbackFlags())
    assert cb.counts()["output_underflow"] == 1


def test_log_maps_blocks_to_times_and_ring_frames() -> None:
    ring = AudioRing(1024, 2)
    cb = AudioCallback(ring, 2, max_blocks_log=4)
    out = np.zeros((64, 2), dtype=np.float32)
    for i in range(6):
        ring.write(_content(64 if i != 3 else 10))
        cb(out, 64, None, NO_FLAGS)
    log = cb.log()
    np.testing.assert_array_equal(log.block, [3, 4, 5])  # the oldest slot could be mid-write
    np.testing.assert_array_equal(log.stream_frame, [192, 256, 320])
    np.testing.assert_array_equal(log.ring_frame, [192, 202, 266])
    np.testing.assert_array_equal(log.ring_frames, [10, 64, 64])
    assert np.all(np.diff(log.time) >= 0)


def test_trigger_lands_in_the_block_after_its_arrival() -> None:
    pool = VoicePool(VoiceConfig(fade_in_ms=0.0, velocity_curve=2.0), SR, 2, 256)
    renderer = Renderer(pool, 2, 256, ring=None)
    renderer.render_block()
    sound = np.random.default_rng(3).uniform(0.2, 0.9, 1000).astype(np.float32)
    assert renderer.submit(PlaySound(sound, velocity=0.8, arrival=time.perf_counter(), trigger_id=7))
    block = renderer.render_block()
    gain = np.float32(0.8**2)
    late = renderer.limiter.latency  # the safety limiter's look-ahead (1 ms) delays every sample
    assert block[late, 0] == pytest.approx(sound[0] * gain, abs=1e-7)
    np.testing.assert_allclose(block[late:, 1], sound[: 256 - late] * gain, atol=1e-7)
    (rec,) = renderer.trigger_records()
    assert rec.trigger_id == 7 and rec.block_index == 1


def test_trigger_latency_through_ring_and_callback() -> None:
    bs = 256
    pool = VoicePool(VoiceConfig(), SR, 2, bs)
    ring = AudioRing(4 * bs, 2)
    renderer = Renderer(pool, 2, bs, ring)
    cb = AudioCallback(ring, 2)
    out = np.zeros((bs, 2), dtype=np.float32)
    origin = (renderer.block_index, ring.written)
    ring.write(renderer.render_block())  # one block of lookahead already queued
    arrival = time.perf_counter()
    renderer.submit(PlaySound(np.ones(100, dtype=np.float32), arrival=arrival, trigger_id=1))
    ring.write(renderer.render_block())  # the trigger's block
    cb(out, bs, None, NO_FLAGS)  # delivers the lookahead block
    cb(out, bs, None, NO_FLAGS)  # delivers the trigger's block
    (lat,) = trigger_latencies(renderer.trigger_records(), cb.log(), bs, SR, origin)
    assert lat.trigger_id == 1 and lat.offset_ms == 0.0
    assert lat.ms == pytest.approx(1000 * (cb.log().time[1] - arrival))
    assert lat.blocks == pytest.approx(lat.ms / (1000 * bs / SR))


def test_trigger_latencies_with_a_callback_blocksize_different_from_the_renderer() -> None:
    from gesam_engine.runtime.callback import CallbackLog

    log = CallbackLog(
        block=np.arange(4),
        time=np.array([10.0, 10.01, 10.02, 10.03]),
        stream_frame=np.arange(4) * 480,
        ring_frame=np.array([0, 0, 480, 960]),  # first callback was pre-roll
        ring_frames=np.array([0, 480, 480, 480]),
    )
    records = [TriggerRecord(1, 9.995, 0), TriggerRecord(2, 10.0, 2), TriggerRecord(3, 10.0, 9)]
    lats = trigger_latencies(records, log, 256, SR, ring_origin=(0, 0))
    assert [x.trigger_id for x in lats] == [1, 2]  # 3 not delivered yet
    assert lats[0].ms == pytest.approx(15.0)  # frame 0 went out with the callback at 10.01
    assert lats[1].ms == pytest.approx(20.0)  # frame 512 is in [480, 960): the callback at 10.02
    assert lats[1].offset_ms == pytest.approx(1000 * 32 / SR)


def test_latency_stats() -> None:
    stats = LatencyStats.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats.to_dict() == {"count": 5, "median": 3.0, "p99": pytest.approx(96.16), "max": 100.0}
    assert LatencyStats.of([]).count == 0
