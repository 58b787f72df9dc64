"""OSC bridge benchmarks: message-in -> command-executed latency at a moderate rate, and the
sustained rate of /gesam/xy the server takes while the newest point still reaches the engine.

The engine (an untrained default-size model on CPU unless --model says otherwise) plays into a
real-time paced WAV file, so no sound card is needed. Clients run in another process and send
UDP to 127.0.0.1. Writes one JSON file (medians and p99, one run) and prints a short table.
Usage: python benchmarks/bench_osc.py [--model DIR|tiny] [--rate 200] [--latency-seconds 10]
                                      [--flood-seconds 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _stats(values_ms: list[float]) -> dict[str, float | int]:
    """count, median, p99, max in ms (gesam's one LatencyStats, as the server's own stats)."""
    from gesam_engine.latency_stats import LatencyStats

    return LatencyStats.of(values_ms).to_dict()


# ---- clients (child processes: their own interpreter, their own GIL) -------------------------------
def _message(address: str, *args: Any) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def paced_client(server: tuple[str, int], rate: float, seconds: float, seed: int, out: Any) -> None:
    """Alternate /gesam/xy (new points) and /gesam/trigger at ``rate`` messages/s; time each
    /gesam/xy until its /gesam/state/xy comes back."""
    from pythonosc.osc_message import OscMessage

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    rng = random.Random(seed)
    sent_at: dict[tuple[float, float], float] = {}
    rtt: list[float] = []
    done = threading.Event()

    def receive() -> None:
        while not done.is_set():
            try:
                msg = OscMessage(sock.recv(65536))
            except (TimeoutError, OSError):
                continue
            if msg.address == "/gesam/state/xy":
                t = sent_at.pop(tuple(msg.params), None)
                if t is not None:
                    rtt.append(1000 * (time.perf_counter() - t))

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    n = int(rate * seconds)
    start = time.perf_counter()
    for i in range(n):
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        if i % 2 == 0:
            x, y = rng.randrange(1, 4096) / 4096, rng.randrange(1, 4096) / 4096  # exact in float32
            sent_at[(x, y)] = time.perf_counter()
            sock.sendto(_message("/gesam/xy", x, y), server)
        else:
            sock.sendto(_message("/gesam/trigger", 0.8), server)
    time.sleep(0.5)
    done.set()
    reader.join()
    out.put({"sent": n, "client_rtt_ms": rtt})


def flood_client(server: tuple[str, int], seconds: float, rate: float | None, out: Any) -> None:
    """Send /gesam/xy for ``seconds``, as fast as one process can (``rate`` None) or at ``rate``
    messages/s in chunks of 64; report how many and the last point sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    points = [(i / 4096, 1 - i / 4096) for i in range(4096)]  # exact in float32
    dgrams = [_message("/gesam/xy", x, y) for x, y in points]
    chunk = 64 if rate else 256
    n, start = 0, time.perf_counter()
    end = start + seconds
    while True:
        for k in range(n, n + chunk):
            sock.sendto(dgrams[k % 4096], server)
        n += chunk
        now = time.perf_counter()
        if now >= end:
            break
        if rate:
            time.sleep(max(0.0, start + n / rate - now))
    out.put({"sent": n, "seconds": time.perf_counter() - start, "last": points[(n - 1) % 4096]})


# ---- the run ----------------------------------------------------------------------------------------
def _model(spec: str | None) -> tuple[Any, str]:
    """--model tiny (tests/tiny.py), a model directory, or the default-size untrained one."""
    if spec == "tiny":
        from tests.tiny import tiny_model

        return tiny_model(0.3), "tiny untrained (tests/tiny.py)"
    from benchmarks.bench_engine import _model as default_or_loaded

    return default_or_loaded(Path(spec) if spec else None), spec or "untrained default size"


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return bool(condition())


def _flood(ctx: Any, q: Any, server: Any, engine: Any, seconds: float, rate: float | None) -> dict[str, Any]:
    s0 = server.stats()
    p = ctx.Process(target=flood_client, args=(server.address, seconds, rate, q))
    p.start()
    flood = q.get(timeout=seconds + 120)
    sender_done = time.perf_counter()
    p.join()

    def drained() -> bool:
        s = server.stats()
        lost = (s["kernel_drops"] or 0) - (s0["kernel_drops"] or 0)
        return s["queued"] == 0 and s["datagrams"] - s0["datagrams"] + lost >= flood["sent"]

    _wait(drained, 30)
    drained_s = time.perf_counter() - sender_done
    s1 = server.stats()
    ping = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ping.settimeout(2)
    t = time.perf_counter()
    ping.sendto(_message("/gesam/ping"), server.address)
    ping.recv(256)
    ping_ms = 1000 * (time.perf_counter() - t)
    elapsed = flood["seconds"] + drained_s
    received = s1["datagrams"] - s0["datagrams"]
    handled = s1["handled"] - s0["handled"]
    last = tuple(flood["last"])
    return {
        "rate_asked_per_s": rate, "seconds": flood["seconds"], "sent": flood["sent"],
        "sent_per_s": flood["sent"] / flood["seconds"], "received": received, "received_per_s": received / elapsed,
        "handled": handled, "handled_per_s": handled / elapsed, "coalesced": s1["coalesced"] - s0["coalesced"],
        "kernel_drops": None if s1["kernel_drops"] is None else s1["kernel_drops"] - s0["kernel_drops"],
        "drain_after_sender_ms": 1000 * drained_s, "ping_after_ms": ping_ms,
        "last_sent": last, "final_cursor": engine.cursor, "final_cursor_is_last_sent": engine.cursor == last,
        "server_errors": s1["errors"] - s0["errors"], "internal_errors": s1["internal_errors"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory, or 'tiny'; default: untrained default size")
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s in the latency run (half moves)")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--flood-seconds", type=float, default=3.0)
    parser.add_argument("--flood-rate", type=float, default=20000.0, help="messages/s of the paced flood")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/osc.json")
    args = parser.parse_args()

    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import serve_config_from_dict
    from osc_bridge.controller import Controller
    from osc_bridge.osc.server import OscServer

    model, label = _model(args.model)
    cache = Path(os.environ.get("GESAM_CACHE", Path.home() / ".cache/gesam"))
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        config = serve_config_from_dict({"output": {"blocksize": 256}})
        engine = Engine(model, config, output_file=Path(tmp) / "out.wav", realtime=True, cache_dir=cache,
                        progress=False).start()
        engine.generator.wait_warm_up(120)  # steady state: the first sound's one-off costs (numba, imports) are paid
        server = OscServer(Controller(engine, Path(tmp) / "renders"), port=0).start()
        try:
            result: dict[str, Any] = {
                "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                            "python": platform.python_version()},
                "model": label, "model_device": str(model.device),
            }
            # 1. latency at a moderate rate
            q = ctx.Queue()
            before, s0 = len(server.latencies_ms()), server.stats()
            p = ctx.Process(target=paced_client, args=(server.address, args.rate, args.latency_seconds, 0, q))
            p.start()
            client = q.get(timeout=args.latency_seconds + 120)
            p.join()
            _wait(lambda: server.stats()["queued"] == 0, 5)
            s1 = server.stats()
            result["latency"] = {
                "rate_per_s": args.rate, "seconds": args.latency_seconds, "sent": client["sent"],
                "handled": s1["handled"] - s0["handled"], "errors": s1["errors"] - s0["errors"],
                "coalesced": s1["coalesced"] - s0["coalesced"],
                "in_to_executed_ms": _stats(server.latencies_ms()[before:]),
                "client_xy_round_trip_ms": _stats(client["client_rtt_ms"]),
                "generated": engine.metrics()["generated"],
            }
            # 2. floods of moves from another process: as fast as it can send, and at --flood-rate
            for key, rate in (("flood_max", None), ("flood_paced", args.flood_rate)):
                time.sleep(0.5)
                result[key] = _flood(ctx, q, server, engine, args.flood_seconds, rate)
        finally:
            server.stop()
            engine.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    lat = result["latency"]
    a, b = lat["in_to_executed_ms"], lat["client_xy_round_trip_ms"]
    print(f"model: {label} on {result['model_device']}; {result['machine']['cpus']} CPUs")
    print(f"{'':34}{'median':>9}{'p99':>9}{'max':>9}")
    print(f"{'datagram in -> executed (ms)':34}{a['median']:9.3f}{a['p99']:9.3f}{a['max']:9.3f}   "
          f"{a['count']} messages at {lat['rate_per_s']:.0f}/s")
    print(f"{'client /gesam/xy round trip (ms)':34}{b['median']:9.3f}{b['p99']:9.3f}{b['max']:9.3f}   "
          f"{b['count']} moves, {lat['generated']} points generated")
    for key in ("flood_max", "flood_paced"):
        fl = result[key]
        print(f"{key:<12} {fl['seconds']:.1f} s: sent {fl['sent_per_s']:>9,.0f}/s  "
              f"received {fl['received_per_s']:>9,.0f}/s  handled {fl['handled_per_s']:>7,.0f}/s  "
              f"coalesced {fl['coalesced']:>9,}  kernel drops {fl['kernel_drops']}")
        print(f"{'':13}drained {fl['drain_after_sender_ms']:.1f} ms after the sender stopped; "
              f"ping {fl['ping_after_ms']:.1f} ms; "
              f"final cursor {'==' if fl['final_cursor_is_last_sent'] else '!='} last sent {fl['last_sent']}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
