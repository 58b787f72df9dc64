"""Sample-accurate timed triggers, end to end: 1,000 OSC bundles with time tags go over UDP to the
OSC server, the engine places each pad hit on the sample its tag maps to, the audio process
plays them into a real JACK server (dummy backend), and the capture is checked sample by sample."""

from __future__ import annotations

import math
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from scipy.signal import correlate

from gesam_engine.runtime.engine import Engine
from gesam_engine.runtime.engine_config import serve_config_from_dict
from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer
from tests.runtime.jack_harness import Recorder, jack_server, wait_until  # noqa: F401  (fixture)
from tests.tiny import tiny_model

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PERIOD = 1024
RATE = 48000
HITS = 1000
VELOCITY = 0.5  # gain 0.25 along the default curve: far below the limiter, so the capture is bit-exact


def _tagged_trigger(when: float) -> bytes:
    msg = OscMessageBuilder("/gesam/pad/0/trigger")
    msg.add_arg(VELOCITY)
    bundle = OscBundleBuilder(when)
    bundle.add_content(msg.build())
    return bundle.build().dgram


def test_a_thousand_bundle_tagged_triggers_land_on_their_exact_samples(jack_server, tmp_path: Path) -> None:  # noqa: F811
    """Hits 5-15 ms apart (random, not on block boundaries), each choking the one before (release 0:
    a hard cut), so the capture must equal the sound's opening pieces laid end to end at the
    frames the tags name: one sample off anywhere and it does not."""
    config = serve_config_from_dict({
        "output": {"blocksize": PERIOD, "sample_rate": RATE, "timed_latency_ms": 60.0},
        "cache": {"bake_grid": 3},
        "voices": {"fade_in_ms": 0.0, "release_ms": 0.0},
    })
    engine = Engine(tiny_model(0.3), config, cache_dir=tmp_path / "cache", progress=False).start()
    server = OscServer(Controller(engine, tmp_path), port=0).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    records = []
    try:
        assert wait_until(lambda: engine.output.state == "running", 10), engine.output.message
        engine.set_pad(0, 0.3, 0.7, choke=0)
        assert wait_until(lambda: engine.is_ready((0.3, 0.7)), 10)
        sound = engine.cache.get((0.3, 0.7)).wave
        assert wait_until(lambda: engine.output.clock.offset is not None, 10), "the sample clock never synced"
        resyncs = engine.output.clock.resyncs
        gaps = np.random.default_rng(7).integers(240, 721, HITS - 1)
        steps = np.concatenate(([0], np.cumsum(gaps)))  # sample offsets of the hits
        with Recorder(jack_server.name) as recorder:
            assert recorder.wait_frames(int(0.2 * RATE)), "the recorder captured nothing"
            # the first hit half a second ahead, on a whole frame of the engine's sample clock
            offset = engine.output.clock.offset
            assert offset is not None
            first = math.ceil((time.perf_counter() + 0.5) * RATE + offset)
            t0 = (first - offset) / RATE  # perf_counter time of frame ``first``
            for step in steps:
                sock.sendto(_tagged_trigger(t0 + step / RATE + server.wall_offset), server.address)
            end = first + int(steps[-1]) + engine.timed_latency_frames + len(sound)
            assert wait_until(lambda: engine.output.reader.frames > end + PERIOD, 30), "the stream stalled"
            records = engine.output.trigger_records()
            captured_to = recorder.frames
            assert recorder.wait_frames(captured_to + 2 * PERIOD)
            audio = recorder.take()[:, 0]
        counters = engine.output.render_counters()
    finally:
        sock.close()
        server.stop()
        engine.stop()
    assert len(records) == HITS and all(r.timed for r in records)
    assert counters["timed"] == HITS and counters["timed_late"] == 0, counters
    assert engine.output.clock.resyncs == resyncs, "the sample clock moved during the test"
    expected_frames = (first + engine.timed_latency_frames + steps).tolist()
    assert [r.frame for r in records] == expected_frames  # each on the sample its tag names
    # the capture: each hit's opening, cut where the next one starts, laid end to end
    gain = np.float32(VELOCITY**2)
    want = np.zeros(int(steps[-1]) + len(sound), dtype=np.float32)
    for k, step in enumerate(steps):
        n = len(sound) if k == HITS - 1 else int(steps[k + 1] - step)
        want[step:step + n] = sound[:n] * gain
    start = int(np.argmax(correlate(audio, want, mode="valid", method="fft")))
    got = audio[start:start + len(want)]
    assert len(got) == len(want), "the capture ended before the last hit rang out"
    np.testing.assert_allclose(got, want, atol=1e-6, err_msg="a hit is not on its sample")
