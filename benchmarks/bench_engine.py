"""Live-engine benchmarks on a real JACK dummy server: trigger latency (blocks, ms) at block
sizes 128 and 256, generation-to-ready time for new points on CPU, underruns during a load of
50 triggers/s with continuous cursor moves to new points (at blocks 256 and 128, and again with
two busy processes beside the engine), the audio process's render time and CPU share, the
latency report, and memory.

Writes one JSON file (medians and p99, one run) and prints a short table.
Usage: python benchmarks/bench_engine.py [--model DIR] [--load-seconds 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gesam_engine.peak_memory import peak_rss_mb  # noqa: E402
from tests.runtime.jack_harness import JackServer, jack_available, wait_until  # noqa: E402


def _model(path: Path | None) -> Any:
    """The model to measure: --model, else a default-size untrained one (speed does not need training)."""
    from gesam_engine.gesam_model import GesamModel

    if path is not None:
        return GesamModel.load(path)
    import torch

    from gesam_engine.coordinates import MapExtent
    from gesam_engine.models import MapTransformer, MapVAE
    from gesam_engine.training import settings_from_dict

    torch.manual_seed(0)
    s = settings_from_dict({})
    n = round(s.preprocess.duration_s * s.preprocess.sample_rate)
    return GesamModel(s.make_codec(), MapVAE(s.vae).eval(), MapTransformer(s.transformer).eval(),
                      MapExtent(), n, [], {"note": "untrained, default size"})


def _child_rss_mb(engine: Any) -> float:
    pid = engine.output.pid
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _busy(n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` processes that each keep a core busy (what else a musician's laptop runs)."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def run_session(model: Any, blocksize: int, seconds: float, trigger_hz: float, move_hz: float,
                cache: Path, seed: int = 0, busy: int = 0, jack_realtime: bool = False) -> dict[str, Any]:
    """One engine on a fresh JACK server with period = blocksize; triggers and moves for ``seconds``,
    with ``busy`` CPU-bound processes running beside it."""
    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import serve_config_from_dict

    server = JackServer(period=blocksize, realtime=jack_realtime)
    server.start()
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    os.environ["JACK_NO_START_SERVER"] = "1"
    config = serve_config_from_dict({"output": {"blocksize": blocksize, "sample_rate": 48000}})
    engine = Engine(model, config, cache_dir=cache, progress=False)
    rng = random.Random(seed)
    burners: list[subprocess.Popen[bytes]] = []
    try:
        engine.start()
        if not wait_until(lambda: engine.output.state == "running", 20):
            raise RuntimeError(f"output did not start: {engine.output.message}")
        engine.generator.wait_warm_up(120)  # steady state: the first sound's one-off costs are paid
        time.sleep(1.0)
        burners = _busy(busy)
        start_underruns = engine.output.underruns
        start_counts = engine.output.reader.counts()
        start_xruns = engine.output.reader.xruns()
        t0 = time.perf_counter()
        next_trigger, next_move, next_collect, triggers = t0, t0, t0 + 1.0, 0
        while time.perf_counter() - t0 < seconds:
            now = time.perf_counter()
            if now >= next_collect:  # collect latencies before the callback's timing log wraps
                engine.metrics()
                next_collect += 1.0
            if move_hz and now >= next_move:
                engine.move(rng.random(), rng.random())
                next_move += 1.0 / move_hz
            if now >= next_trigger:
                engine.trigger(rng.uniform(0.5, 1.0))
                triggers += 1
                next_trigger += 1.0 / trigger_hz
            time.sleep(max(0.0, min(next_trigger, next_move if move_hz else next_trigger) - time.perf_counter()))
        time.sleep(0.5)
        m = engine.metrics()
        m["child_rss_mb"] = _child_rss_mb(engine)
        counts = engine.output.reader.counts()
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
        engine.stop()
        server.stop()
    return {"blocksize": blocksize, "seconds": seconds, "trigger_hz": trigger_hz, "move_hz": move_hz,
            "triggers": triggers, "underruns": m["output"]["underruns"] - start_underruns,
            "trigger_latency_blocks": m["trigger_latency_blocks"], "trigger_latency_ms": m["trigger_latency_ms"],
            "generation_ready_ms": m["generation_ready_ms"], "generated": m["generated"],
            "render_margin_ms": m["render_margin_ms"], "engine_rss_mb": m["rss_mb"], "audio_process_rss_mb": m["child_rss_mb"],
            "cache": m["cache"], "busy_processes": busy,
            "xruns": engine.output.reader.xruns() - start_xruns,
            "late_blocks": counts["late_blocks"] - start_counts["late_blocks"],
            "render_ms": m["audio"]["render_ms"], "audio_cpu_share": m["audio"]["cpu_share"],
            "latency": m["latency"], "stale_dropped": m["render"]["stale_dropped"], "jack_realtime": jack_realtime,
            "callback_realtime_priority": m["audio"]["realtime_priority"],
            "counts": {k: counts[k] - start_counts[k] for k in counts}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/engine.json")
    parser.add_argument("--jack-realtime", action="store_true",
                        help="run jackd with realtime scheduling (-R), as on a musician's machine; needs the right to")
    args = parser.parse_args()
    if not jack_available():
        print("jackd / JACK-Client missing: apt-get install jackd2; pip install JACK-Client", file=sys.stderr)
        return 2
    model = _model(args.model)
    cache = Path(os.environ.get("GESAM_CACHE", Path.home() / ".cache/gesam"))
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "model": str(args.model or "untrained default size"), "jack_realtime": args.jack_realtime,
    }
    rt = args.jack_realtime
    for bs in (128, 256):  # latency: 20 triggers/s, no generation load
        result[f"latency_block_{bs}"] = run_session(model, bs, args.latency_seconds, 20.0, 0.0, cache, jack_realtime=rt)
    # generation to ready with a light hand: a new point every 0.5 s, a trigger every 0.5 s
    result["ready_block_256"] = run_session(model, 256, args.latency_seconds * 2, 2.0, 2.0, cache, seed=2,
                                           jack_realtime=rt)
    # load: 50 triggers/s while the cursor jumps to a new point 5 times a second (each one generated)
    for bs in (256, 128):
        result[f"load_block_{bs}"] = run_session(model, bs, args.load_seconds, 50.0, 5.0, cache, seed=1, jack_realtime=rt)
    # the same with two CPU-bound processes beside it (this VM is not a realtime system: see the note)
    for bs in (256, 128):
        result[f"load_block_{bs}_busy2"] = run_session(model, bs, args.load_seconds, 50.0, 5.0, cache, seed=1, busy=2,
                                                       jack_realtime=rt)
    result["peak_rss_mb_bench_process"] = peak_rss_mb()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key in ("latency_block_128", "latency_block_256", "load_block_256", "load_block_128", "load_block_256_busy2",
                "load_block_128_busy2"):
        r = result[key]
        lb, lm, rm = r["trigger_latency_blocks"], r["trigger_latency_ms"], r["render_ms"]
        print(f"{key:<22} triggers {r['triggers']:5d}  latency median {lb['median']:.2f} blocks ({lm['median']:.2f} ms) "
              f"p99 {lb['p99']:.2f} blocks ({lm['p99']:.2f} ms)  underruns {r['underruns']} (late {r['late_blocks']}, "
              f"xruns {r['xruns']})  render p99 {rm['p99']:.3f} ms max {rm['max']:.2f} ms  "
              f"audio cpu {r['audio_cpu_share']}")
    for key in ("ready_block_256", "load_block_256"):
        g = result[key]["generation_ready_ms"]
        print(f"generation to ready, {key}: median {g['median']:.1f} ms, p99 {g['p99']:.1f} ms over {g['count']} new points")
    print(f"RSS: engine {result['load_block_256']['engine_rss_mb']:.0f} MB, "
          f"audio process {result['load_block_256']['audio_process_rss_mb']:.0f} MB")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
