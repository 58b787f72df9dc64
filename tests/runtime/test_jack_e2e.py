"""End to end on a real JACK server (dummy backend): the engine's output process plays into
JACK, a JACK-Client recorder captures ``system:monitor_*``, and we check what was played."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

from gesam_engine.runtime.engine import Engine
from gesam_engine.runtime.engine_config import serve_config_from_dict
from tests.runtime.jack_harness import Recorder, jack_server, wait_until  # noqa: F401  (fixture)
from tests.tiny import tiny_model

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ZAMCOMP = Path("/usr/lib/vst3/ZamCompX2.vst3")
PERIOD = 1024


def _engine(tmp_path: Path, effects: list[dict] | None = None) -> Engine:
    config = serve_config_from_dict({
        # a wide render margin: these tests check what is played; latency and underruns are benchmarked
        "output": {"blocksize": PERIOD, "sample_rate": 48000, "reopen_interval_s": 0.5, "timed_latency_ms": 50.0},
        "cache": {"bake_grid": 3},
        "voices": {"fade_in_ms": 0.0},
        "effects": effects or [],
    })
    return Engine(tiny_model(0.3), config, cache_dir=tmp_path / "cache", progress=False)


def _ready_sound(engine: Engine, xy: tuple[float, float]) -> np.ndarray:
    engine.move(*xy)
    assert wait_until(lambda: engine.is_ready(xy), 10), "the exact point never became ready"
    return engine.cache.get(xy).wave


def _onset(audio: np.ndarray, threshold: float = 1e-3) -> int:
    loud = np.flatnonzero(np.abs(audio).max(axis=1) > threshold)
    assert loud.size, "nothing was played: the capture is silent"
    return int(loud[0])


def _capture_one_trigger(engine: Engine, recorder: Recorder, sound: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Trigger once; (capture [frames, 2], the recorder's frame count at the trigger, underruns during it)."""
    before = engine.output.underruns
    frames_at_trigger = recorder.frames
    info = engine.trigger(1.0)
    assert info.exact
    assert recorder.wait_frames(frames_at_trigger + len(sound) + 4 * PERIOD + int(0.2 * recorder.rate))
    return recorder.take()[frames_at_trigger:], frames_at_trigger, engine.output.underruns - before


def test_a_trigger_plays_the_right_sound_at_the_right_time(jack_server, tmp_path):  # noqa: F811
    """Bit-exact through JACK. An underrun (a deadline missed on a loaded machine: a benchmark figure,
    not a failure) puts zeros into the capture, so a take with an underrun is tried again, 3 at most."""
    engine = _engine(tmp_path).start()
    takes: list[tuple[np.ndarray, int]] = []
    try:
        assert wait_until(lambda: engine.output.state == "running", 10), engine.output.message
        sound = _ready_sound(engine, (0.3, 0.7))
        with Recorder(jack_server.name) as recorder:
            assert recorder.wait_frames(int(0.3 * recorder.rate)), "the recorder captured nothing"
            for _ in range(3):
                audio, _, underruns = _capture_one_trigger(engine, recorder, sound)
                takes.append((audio, underruns))
                if underruns == 0:
                    break
                assert recorder.wait_frames(recorder.frames + int(0.3 * recorder.rate))  # let it ring out
    finally:
        metrics = engine.metrics()
        engine.stop()
    audio, underruns = takes[-1]
    assert underruns == 0, f"every take had underruns: {[u for _, u in takes]} (machine too loaded)"
    # align by cross-correlation: the sound's first samples may be quieter than any threshold
    lags = correlate(audio[:, 0], sound, mode="valid")
    start = int(np.argmax(lags))
    assert abs(start - _onset(audio)) < len(sound), "the loudest match is not where the sound begins"
    # it starts within a few JACK periods of the trigger (engine block + JACK's own buffering)
    assert 0 <= start <= 4 * PERIOD, start
    played = audio[start : start + len(sound), 0]
    expected = sound[: len(played)]
    # velocity 1, no effects, centred: JACK carries the engine's float32 samples unchanged
    np.testing.assert_allclose(played, expected, atol=1e-6, err_msg="the captured sound is not the triggered one")
    np.testing.assert_allclose(audio[start : start + len(sound), 1], played, atol=1e-6)  # centred: L == R
    # the latency report names what JACK adds; latency is a benchmark figure, but with no underrun in
    # any take it stays within two blocks
    lat = metrics["latency"]
    assert lat["block_ms"] == pytest.approx(metrics["block_ms"], abs=1e-3) and lat["output_ms"] > 0
    assert lat["trigger_ms"] == pytest.approx(lat["block_ms"] + lat["limiter_ms"] + lat["output_ms"], abs=2e-3)
    assert metrics["trigger_latency_blocks"]["count"] == len(takes)
    if len(takes) == 1:
        assert metrics["trigger_latency_blocks"]["max"] <= 2.0


@pytest.mark.skipif(not ZAMCOMP.exists(), reason="Debian's zam-plugins (ZamCompX2.vst3) is not installed")
def test_vst3_compressor_and_reverb_change_the_output_as_expected(jack_server, tmp_path):  # noqa: F811
    effects = [
        {"name": "comp", "type": "vst3", "path": str(ZAMCOMP),
         "params": {"threshold_db": -40.0, "ratio": 20.0, "attack_ms": 0.1, "makeup_db": 0.0}},
        {"name": "verb", "type": "Reverb", "params": {"room_size": 0.9, "wet_level": 0.5, "dry_level": 1.0}},
    ]
    engine = _engine(tmp_path, effects).start()
    recorder = None
    try:
        assert wait_until(lambda: engine.output.state == "running", 10), engine.output.message
        sound = _ready_sound(engine, (0.6, 0.4))
        recorder = Recorder(jack_server.name)
        assert recorder.wait_frames(int(0.2 * recorder.rate)), "the recorder captured nothing"
        at_trigger = recorder.frames
        engine.trigger(1.0)
        assert recorder.wait_frames(at_trigger + int(2.0 * recorder.rate))
        audio = recorder.take()[:, 0]
    finally:
        if recorder is not None:
            recorder.close()
        engine.stop()
    start = _onset(audio[:, None])
    dry_len = len(sound)
    wet = audio[start : start + dry_len]
    tail = audio[start + dry_len + 4800 : start + dry_len + 24000]  # 0.1 .. 0.5 s after the dry sound ends
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    assert rms(tail) > 1e-3, "no reverb tail after the sound ended"
    crest = lambda a: float(np.abs(a).max() / rms(a))  # noqa: E731
    assert crest(wet) < crest(sound) * 0.9 or rms(wet) < rms(sound) * 0.7, "the compressor changed nothing"


@pytest.mark.reliability
def test_losing_the_jack_server_stops_nothing_and_output_resumes(jack_server, tmp_path):  # noqa: F811
    engine = _engine(tmp_path).start()
    try:
        assert wait_until(lambda: engine.output.state == "running", 10), engine.output.message
        _ready_sound(engine, (0.5, 0.5))
        jack_server.stop()
        assert wait_until(lambda: engine.output.state != "running", 10), "the loss was not noticed"
        info = engine.trigger(0.8)  # still answers, keeps its state
        assert info.exact and engine.cursor == (0.5, 0.5)
        assert wait_until(lambda: engine.output.losses >= 1, 5)
        jack_server.start()
        assert wait_until(lambda: engine.output.state == "running", 20), engine.output.message
        with Recorder(jack_server.name) as recorder:
            assert recorder.wait_frames(int(0.2 * recorder.rate)), "the recorder captured nothing"
            at_trigger = recorder.frames
            engine.trigger(1.0)
            assert recorder.wait_frames(at_trigger + int(0.6 * recorder.rate))
            audio = recorder.take()
        _onset(audio)  # sound again after the server came back
    finally:
        engine.stop()
