"""MIDI benchmark on a real JACK dummy server: MIDI in -> command executed.

For each JACK period a sender (a mido output on the JACK backend) plays ~1000 messages (CC 16,
CC 17 and note-ons in turn, at random gaps) into ``MidiInput``'s virtual ``gesam_in`` port.
Two figures per period, as median / p99 / max in ms:
  receipt_to_executed: backend callback -> execute() returned (gesam's own path: queue, worker,
                       mapper, execute);
  send_to_executed:    sender's send() -> execute() returned (adds JACK's delivery, which
                       waits for the next process cycle, so it grows with the period).
Plus the mapper alone (MidiMapper.map per message, microseconds). Writes JSON, prints a table.
Usage: python benchmarks/bench_midi.py [--messages 1000] [--periods 64 256 1024] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.runtime.jack_harness import JackServer, jack_available, wait_until  # noqa: E402


def _figures(values_s: list[float]) -> dict[str, float | int]:
    """count, median, p99, max of ``values_s`` (seconds) in milliseconds (gesam's one LatencyStats, as MidiInput.stats)."""
    from gesam_engine.latency_stats import LatencyStats

    return LatencyStats.of(1e3 * v for v in values_s).to_dict()


def _messages(n: int) -> list[Any]:
    import mido

    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append(mido.Message("control_change", control=16, value=i % 128))
        elif kind == 1:
            out.append(mido.Message("control_change", control=17, value=(3 * i) % 128))
        else:
            out.append(mido.Message("note_on", note=36 + i % 16, velocity=1 + i % 127, channel=9))
    return out


def run_period(period: int, n: int, mean_gap_ms: float, seed: int) -> dict[str, Any]:
    """One JACK server with this period; ``n`` messages through MidiInput; the figures."""
    import mido

    from osc_bridge.midi.input import BACKENDS, MidiInput

    server = JackServer(period=period)
    server.start()
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    done: list[tuple[float, Any]] = []

    def execute(cmd: Any) -> list[Any]:
        done.append((time.perf_counter(), cmd))
        return []

    rng = random.Random(seed)
    messages = _messages(n)
    sent: list[float] = []
    try:
        midi = MidiInput(execute, backend="jack", latency_log=n + 16).start()
        backend = mido.Backend(BACKENDS["jack"], load=True, use_environ=False)
        [name] = [p for p in backend.get_output_names() if "gesam_in" in p]
        out = backend.open_output(name)
        try:
            time.sleep(0.5)  # let both clients settle into the cycle
            for msg in messages:
                sent.append(time.perf_counter())
                out.send(msg)
                time.sleep(rng.uniform(0.0, 2.0 * mean_gap_ms) / 1e3)
            wait_until(lambda: len(done) >= n, 5.0)  # JACK drops events in a cycle missed (xrun)
        finally:
            out.close()
            midi.close()
        stats = midi.stats()
    finally:
        server.stop()
    return {"period": period, "rate": server.rate, "period_ms": 1e3 * period / server.rate, "messages": n,
            "receipt_to_executed_ms": _figures(midi.latencies()),
            "send_to_executed_ms": _figures(_send_to_done(messages, sent, done)),
            "lost_in_jack": n - stats["received"], "errors": stats["errors"], "dropped": stats["dropped"]}


def _send_to_done(messages: list[Any], sent: list[float], done: list[tuple[float, Any]]) -> list[float]:
    """Seconds from each send to its command's execution, pairing in order and skipping lost messages."""
    from osc_bridge.midi.map import MidiMapper

    mapper = MidiMapper()
    expected = [(t, mapper.map(m)[0]) for m, t in zip(messages, sent)]
    out, i = [], 0
    for t_done, cmd in done:
        while i < len(expected) and expected[i][1] != cmd:
            i += 1  # a message JACK dropped
        if i == len(expected):
            break
        out.append(t_done - expected[i][0])
        i += 1
    return out


def bench_mapper(n: int) -> dict[str, float]:
    """MidiMapper.map alone, microseconds per message."""
    from osc_bridge.midi.map import MidiMapper

    mapper, messages = MidiMapper(), _messages(n)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for msg in messages:
            mapper.map(msg)
        best = min(best, time.perf_counter() - t0)
    return {"messages": n, "us_per_message": 1e6 * best / n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--periods", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--gap-ms", type=float, default=2.0, help="mean gap between messages")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/midi.json")
    args = parser.parse_args()
    if not jack_available():
        print("jackd / JACK-Client missing: apt-get install jackd2; pip install JACK-Client", file=sys.stderr)
        return 2
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "mapper": bench_mapper(args.messages),
        "jack": [run_period(p, args.messages, args.gap_ms, seed=i) for i, p in enumerate(args.periods)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"mapper alone: {result['mapper']['us_per_message']:.2f} us per message")
    print(f"{'period':>14}  {'receipt->executed ms':>24}  {'send->executed ms':>24}  lost errors dropped")
    print(f"{'':>14}  {'median':>7} {'p99':>7} {'max':>8}  {'median':>7} {'p99':>7} {'max':>8}")
    for r in result["jack"]:
        a, b = r["receipt_to_executed_ms"], r["send_to_executed_ms"]
        print(f"{r['period']:5d} ({r['period_ms']:5.2f} ms)  {a['median']:7.3f} {a['p99']:7.3f} {a['max']:8.3f}  "
              f"{b['median']:7.3f} {b['p99']:7.3f} {b['max']:8.3f}  {r['lost_in_jack']:4d} {r['errors']:6d} {r['dropped']:7d}")
    print(f"{result['jack'][0]['messages']} messages per period; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
