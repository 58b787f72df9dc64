"""LatencyStats: one definition of median and p99 for the engine's, OSC's and MIDI's figures."""

from __future__ import annotations

import collections
import json
import math
import subprocess
import sys

import pytest

from gesam_engine.latency_stats import LatencyStats


def test_known_samples_give_known_figures() -> None:
    # linear interpolation between ranks (numpy's default): rank 0.99 * (n - 1) of the sorted values
    one_to_100 = LatencyStats.of(float(v) for v in range(100, 0, -1))  # order does not matter
    assert one_to_100 == LatencyStats(100, 50.5, pytest.approx(99.01), 100.0)  # type: ignore[arg-type]
    assert LatencyStats.of([4.0, 1.0, 3.0, 2.0]).to_dict() == {"count": 4, "median": 2.5, "p99": pytest.approx(3.97),
                                                               "max": 4.0}
    assert LatencyStats.of([7]).to_dict() == {"count": 1, "median": 7.0, "p99": 7.0, "max": 7.0}


def test_no_samples_are_none_in_json() -> None:
    empty = LatencyStats.of(collections.deque())
    assert empty.count == 0 and math.isnan(empty.median) and math.isnan(empty.p99) and math.isnan(empty.max)
    assert json.loads(json.dumps(empty.to_dict())) == {"count": 0, "median": None, "p99": None, "max": None}


def test_osc_and_midi_report_the_same_figures_as_the_engine() -> None:
    """The OSC server and the MIDI input summarise their latencies with the same LatencyStats."""
    from osc_bridge.midi.input import MidiInput
    from osc_bridge.osc.server import OscServer

    samples = [0.5, 0.25, 2.0, 1.0, 0.75, 40.0]
    expected = LatencyStats.of(samples).to_dict()
    server = OscServer(object())  # never started: stats() only reads its counters
    server._latencies.extend(samples)
    assert server.stats()["latency_ms"] == expected
    midi = MidiInput(lambda command: None, backend="jack")  # never started: no backend, no ports
    assert midi.stats()["latency_ms"] == {"count": 0, "median": None, "p99": None, "max": None}
    midi._latency.extend(ms / 1e3 for ms in samples)  # seconds, as the worker logs them
    assert midi.stats()["latency_ms"] == pytest.approx(expected)

def test_it_imports_neither_torch_nor_the_runtime() -> None:
    code = ("import sys, gesam_engine.latency_stats; "
            "print([m for m in sys.modules if m == 'torch' or m.startswith('gesam_engine.runtime')])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert run.stdout.strip() == "[]"
