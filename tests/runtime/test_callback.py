"""The audio process's callback in this process: the engine's AudioLink pushes commands and
sounds into a real shared segment, ``build_mixer`` builds what the audio process builds, and we
call the callback as sounddevice would."""

import time
import tracemalloc
from typing import Any

import numpy as np
import pytest

from gesam_engine.latency_stats import LatencyStats
from gesam_engine.runtime.audio_link import AudioLink
from gesam_engine.runtime.callback import CallbackLog, MixerCallback
from gesam_engine.runtime.metrics import trigger_latencies
from gesam_engine.runtime.mixer import MixerSpec, build_mixer
from gesam_engine.runtime.shared_audio import AudioLayout
from gesam_engine.runtime.trigger_log import TriggerRecord
from gesam_engine.runtime.voices import VoiceConfig

SR = 48000
LATENCY = 48  # the safety limiter's 1 ms look-ahead at 48 kHz


class Flags:
    """Stands in for sounddevice.CallbackFlags (falsy when no flag is set)."""

    def __init__(self, output_underflow: bool = False) -> None:
        self.output_underflow = output_underflow
        self.output_overflow = self.input_underflow = self.input_overflow = self.priming_output = False

    def __bool__(self) -> bool:
        return self.output_underflow


NO_FLAGS = Flags()


def _link(block: int = 256, slots: int = 16, spec: MixerSpec | None = None) -> tuple[AudioLink, MixerCallback]:
    spec = spec or MixerSpec(VoiceConfig(fade_in_ms=0.0))
    layout = AudioLayout(SR, block, 2, voice_slots=spec.voices.voices + 8, sound_slots=slots, slot_len=SR)
    link = AudioLink(layout, lambda: spec, timed_latency_frames=0)
    return link, build_mixer(link.shared, spec)


def _play(link: AudioLink, sound: np.ndarray, **kw: Any) -> None:
    args: dict[str, Any] = {"velocity": 1.0, "gain": 1.0, "rate": 1.0, "choke": -1, "arrival": 0.0, "trigger_id": 0}
    assert link.play(sound, **{**args, **kw})


def _click(level: float = 0.5) -> np.ndarray:
    click = np.zeros(16, dtype=np.float32)
    click[0] = level
    return click


def _run(cb: MixerCallback, block: int, total: int) -> np.ndarray:
    out = np.empty((block, 2), dtype=np.float32)
    played = np.empty((total, 2), dtype=np.float32)
    for i in range(total // block):
        out.fill(np.nan)  # stale data must be overwritten
        cb(out, block, None, NO_FLAGS)
        played[i * block:(i + 1) * block] = out
    return played


def test_timed_triggers_land_on_their_sample_at_block_sizes_64_and_512() -> None:
    frames = [0, 63, 64, 65, 700, 701, 4095, 4096]
    takes = []
    for block in (64, 512):
        link, cb = _link(block)
        link.clock.offset = 0.0  # perf_counter t plays at frame round(t * SR): exact for the test
        sound = _click()
        for i, f in enumerate(frames):
            _play(link, sound, at=f / SR, trigger_id=i)
        takes.append(_run(cb, block, 8192))
        assert list(np.flatnonzero(takes[-1][:, 0]) - LATENCY) == frames
        assert [r.frame for r in link.trigger_records()] == frames
        assert link.pool.writes == 1  # one sound: copied into shared memory once, then named by slot
    np.testing.assert_array_equal(takes[0], takes[1])


def test_untimed_trigger_starts_on_the_next_block_and_its_latency_is_measured() -> None:
    bs = 256
    link, cb = _link(bs)
    out = np.zeros((bs, 2), dtype=np.float32)
    cb(out, bs, None, NO_FLAGS)
    arrival = time.perf_counter()
    sound = np.random.default_rng(3).uniform(0.2, 0.9, 1000).astype(np.float32)
    _play(link, sound, velocity=0.8, arrival=arrival, trigger_id=7)
    cb(out, bs, None, NO_FLAGS)
    gain = np.float32(0.8**2)
    np.testing.assert_allclose(out[LATENCY:, 1], sound[: bs - LATENCY] * gain, atol=1e-7)
    (rec,) = link.trigger_records()
    assert rec.trigger_id == 7 and rec.frame == bs and not rec.timed
    (lat,) = trigger_latencies([rec], link.log(), bs, SR)
    assert lat.offset_ms == 0.0 and lat.ms == pytest.approx(1000 * (link.log().time[1] - arrival))


def test_gain_effects_and_panic_travel_through_the_ring() -> None:
    spec = MixerSpec(VoiceConfig(fade_in_ms=0.0), effects=({"name": "g", "type": "Gain", "params": {"gain_db": 0.0}},))
    link, cb = _link(128, spec=spec)
    from gesam_engine.runtime.effects import EffectsChain, load_effect_specs

    mirror = EffectsChain(load_effect_specs(list(spec.effects)), SR)
    _play(link, np.full(SR, 0.25, dtype=np.float32))
    _run(cb, 128, 512)
    assert link.set_param(*mirror.encode("g", "gain_db", -6.0))
    assert link.set_gain(2.0)
    played = _run(cb, 128, 512)
    assert played[-1, 0] == pytest.approx(0.25 * 10 ** (-6 / 20) * 2.0, rel=1e-5)
    assert link.gain == 2.0
    for _ in range(link.shared.ring.free()):  # fill the ring: a panic still gets through
        link.set_gain(1.0)
    assert not link.set_gain(1.0)
    link.panic()
    tail = _run(cb, 128, 4096)
    assert np.all(tail[1024:] == 0) and link.render_counters()["panics"] == 1


def test_a_pads_shape_travels_through_the_ring_to_the_voice() -> None:
    link, cb = _link(64)
    sound = np.full(SR, 0.25, dtype=np.float32)  # two together stay under the safety limiter
    _play(link, sound, attack=1.0, hold=0.5, decay=2.0)  # 48, 24 and 96 frames: silent from frame 168
    _play(link, sound, length=3.0, trigger_id=1)  # released at frame 144, over the 5 ms (240 frames) release
    played = _run(cb, 64, 1024)[LATENCY:, 0]
    k = np.arange(played.shape[0])
    decaying = 0.25 * np.concatenate(((k[:48] + 1) / 48, np.ones(24), (168 - k[72:168]) / 96, np.zeros(k.size - 168)))
    cut = 0.25 * np.clip((384 - k) / 240, 0.0, 1.0)
    np.testing.assert_allclose(played, decaying + cut, atol=1e-6)
    assert not np.any(link.shared.holders >= 0) and link.render_counters()["rejected"] == 0  # both slots free


def test_a_record_the_mixer_cannot_read_is_rejected_counted_and_the_sound_goes_on() -> None:
    from gesam_engine.runtime import command_ring as cr

    link, cb = _link(64)
    _play(link, np.full(SR, 0.25, dtype=np.float32))
    bad_kind = np.zeros(cr.FIELDS)
    bad_kind[cr.KIND] = 9.0
    bad_slot = np.zeros(cr.FIELDS)
    bad_slot[cr.KIND], bad_slot[cr.SLOT], bad_slot[cr.LENGTH] = cr.PLAY, 10_000.0, 100.0  # no such pool slot
    assert link.shared.ring.push(bad_kind) >= 0 and link.shared.ring.push(bad_slot) >= 0
    played = _run(cb, 64, 1024)
    assert link.render_counters()["rejected"] == 2
    assert np.all(played[LATENCY:, 0] == np.float32(0.25)) and link.shared.ring.consumed == 3


def test_a_sound_slot_is_reused_only_when_nothing_can_read_it() -> None:
    link, cb = _link(64, slots=16)
    long = np.full(SR // 2, 0.1, dtype=np.float32)
    sounds = [long.copy() for _ in range(16)]
    for s in sounds:
        _play(link, s)
    with pytest.raises(Exception, match="all 16 sound slots"):  # all queued: nothing may be overwritten
        _play(link, long.copy())
    _run(cb, 64, 640)  # every one is playing now, holding its slot
    assert int(np.count_nonzero(link.shared.holders >= 0)) == 16
    with pytest.raises(Exception, match="all 16 sound slots"):
        _play(link, long.copy())
    _run(cb, 64, SR // 2 + 640)  # they end
    _play(link, long.copy())
    assert link.pool.writes == 17


def test_no_memory_growth_over_ten_thousand_calls() -> None:
    link, cb = _link(256)
    out = np.empty((256, 2), dtype=np.float32)
    sound = np.full(2000, 0.1, dtype=np.float32)

    def cycle(i: int) -> None:
        if i % 8 == 0:
            _play(link, sound)
        if i % 8 == 4:  # shaped voices too: a length release and a decay end
            _play(link, sound, attack=0.5, hold=1.0, decay=5.0, length=20.0)
        cb(out, 256, None, NO_FLAGS)

    for i in range(200):  # warm-up: caches, first-time attribute creation
        cycle(i)
    tracemalloc.start()
    try:
        for i in range(200):
            cycle(i)
        base = tracemalloc.get_traced_memory()[0]
        for i in range(10_000):
            cycle(i)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert link.reader.blocks == 10_400 and link.render_counters()["rejected"] == 0
    assert grown < 4096, f"memory grew by {grown} bytes over 10,000 calls"


def test_status_flags_late_blocks_and_errors_are_counted() -> None:
    link, cb = _link(16)
    out = np.zeros((16, 2), dtype=np.float32)
    cb(out, 16, None, Flags(output_underflow=True))
    cb(out, 16, None, NO_FLAGS)
    counts = link.reader.counts()
    assert counts["output_underflow"] == 1 and counts["underruns"] >= 1 and link.reader.xruns() == 1

    class Slow:  # an effect slower than the block lasts (16 frames = 0.33 ms)
        def process(self, block: np.ndarray) -> np.ndarray:
            deadline = time.perf_counter() + 0.002
            while time.perf_counter() < deadline:
                pass
            return block

        def reset(self) -> None:
            pass

    cb.renderer.effects = Slow()
    before = link.reader.counts()["late_blocks"]
    cb(out, 16, None, NO_FLAGS)
    assert link.reader.counts()["late_blocks"] == before + 1
    cb.renderer.voices = None  # type: ignore[assignment]  # a bug in the mixer: silence, counted
    out.fill(1.0)
    cb(out, 16, None, NO_FLAGS)
    assert np.all(out == 0) and link.reader.counts()["callback_errors"] == 1


def test_status_flags_from_sounddevice() -> None:
    sd = pytest.importorskip("sounddevice")
    link, cb = _link(16)
    out = np.zeros((16, 2), dtype=np.float32)
    flags = sd.CallbackFlags()
    flags.output_underflow = True
    cb(out, 16, None, flags)
    cb(out, 16, None, sd.CallbackFlags())
    assert link.reader.counts()["output_underflow"] == 1


def test_log_maps_blocks_to_times_stream_frames_and_render_time() -> None:
    layout = AudioLayout(SR, 64, 2, voice_slots=40, sound_slots=16, slot_len=64, log_blocks=4)
    link = AudioLink(layout, MixerSpec, timed_latency_frames=0)
    cb = build_mixer(link.shared, MixerSpec())
    out = np.zeros((64, 2), dtype=np.float32)
    for _ in range(6):
        cb(out, 64, None, NO_FLAGS)
    log = link.log()
    np.testing.assert_array_equal(log.block, [3, 4, 5])  # the oldest slot could be mid-write
    np.testing.assert_array_equal(log.stream_frame, [192, 256, 320])
    assert np.all(np.diff(log.time) >= 0) and np.all(log.render_s > 0)


def test_trigger_latencies_from_a_log() -> None:
    log = CallbackLog(block=np.arange(4), time=np.array([10.0, 10.01, 10.02, 10.03]),
                      stream_frame=np.arange(4) * 480, render_s=np.full(4, 0.001))
    records = [TriggerRecord(1, 9.995, 480), TriggerRecord(2, 10.0, 992), TriggerRecord(3, 10.0, 1920),
               TriggerRecord(4, 10.0, 500, timed=True)]
    lats = trigger_latencies(records, log, 480, SR)
    assert [x.trigger_id for x in lats] == [1, 2]  # 3 not played yet, 4 timed
    assert lats[0].ms == pytest.approx(15.0)  # frame 480 went out with the callback at 10.01
    assert lats[1].ms == pytest.approx(20.0)  # frame 992 is in [960, 1440): the callback at 10.02
    assert lats[1].offset_ms == pytest.approx(1000 * 32 / SR)


def test_latency_stats() -> None:
    stats = LatencyStats.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats.to_dict() == {"count": 5, "median": 3.0, "p99": pytest.approx(96.16), "max": 100.0}
    assert LatencyStats.of([]).count == 0
