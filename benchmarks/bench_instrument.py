"""Instrument benchmarks (issue 14): what playing gesam like an instrument costs, on the shipped model.

One engine (the model's shipped bake, a real-time WAV output, CPU), measured in one run:

- locate: query by example of real drum recordings (Debian's Hydrogen kits, files the model was
  not trained on), read and prepared as in training, ms per file (``Engine.locate``);
- pad trigger: the time a ``trigger_pad`` call takes (what a control thread waits) for a plain
  pad and for one with round robin (4 variants), 4 velocity layers, an envelope and a tilt, once
  its sounds are made; their ratio;
- variants: 16 pads x 4 variants x 4 layers asked for at once: seconds until every one is made
  (the generator's background work), and sounds per second;
- kit randomize: ms per ``randomize_kit`` (class regions from the model's maps) and undo;
- model switch: seconds from ``switch_model`` to the swap (load, shipped bake, cursor and pad
  sounds), with triggers every 5 ms during it: how many raised (must be 0) and the slowest call.

Writes one JSON file and prints a short table.
Usage: python benchmarks/bench_instrument.py [--model DIR] [--out FILE] [--files N] [--triggers N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KITS = Path("/usr/share/hydrogen/data/drumkits")


def stats_ms(values: list[float]) -> dict[str, float]:
    """Median, p99 and max of ``values`` (seconds) in ms."""
    from gesam_engine.latency_stats import LatencyStats

    s = LatencyStats.of([1000.0 * v for v in values])
    return {"median_ms": round(s.median or 0.0, 4), "p99_ms": round(s.p99 or 0.0, 4), "max_ms": round(s.max or 0.0, 4),
            "n": len(values)}


def wait(condition: Any, timeout: float) -> bool:
    """Poll ``condition`` every 5 ms until it holds; False on timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def time_triggers(engine: Any, pad: int, n: int) -> list[float]:
    """Seconds per ``trigger_pad`` call, ``n`` calls at velocities across the range, 2 ms apart."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        engine.trigger_pad(pad, 0.05 + 0.95 * (i % 20) / 19)
        out.append(time.perf_counter() - t0)
        time.sleep(0.002)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "instrument.json")
    parser.add_argument("--files", type=int, default=40, help="recordings to locate")
    parser.add_argument("--triggers", type=int, default=400, help="pad triggers per kind")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from gesam_engine.gesam_model import GesamModel
    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import serve_config_from_dict
    from gesam_engine.runtime.variations import pad_points

    result: dict[str, Any] = {"model": str(args.model)}
    with tempfile.TemporaryDirectory() as tmp:
        config = serve_config_from_dict({"output": {"blocksize": 256}})
        engine = Engine(GesamModel.load(args.model), config, output_file=Path(tmp) / "out.wav", realtime=True,
                        cache_dir=Path(tmp) / "cache", progress=False).start()
        try:
            # ---- locate ----------------------------------------------------------------------
            files = sorted(KITS.glob("*/*.wav"))[:: max(1, len(sorted(KITS.glob("*/*.wav"))) // args.files)][: args.files]
            if files:
                engine.locate(str(files[0]))  # the readers' first import is start-up, not a locate
                times = []
                for f in files:
                    t0 = time.perf_counter()
                    engine.locate(str(f))
                    times.append(time.perf_counter() - t0)
                result["locate"] = {**stats_ms(times), "files": len(files), "source": str(KITS)}
            else:
                result["locate"] = {"skipped": f"no WAV files under {KITS} (Debian's hydrogen-drumkits)"}

            # ---- variants made in the background --------------------------------------------------
            t0 = time.perf_counter()
            for n in range(16):
                engine.set_pad_layers(n, 0.0, -0.15, 4)
                engine.set_pad_variation(n, 0.04, 4, "cycle")
            wanted = {p for n in range(16) for p in pad_points(engine.pad(n))}
            made = wait(lambda: all(p in engine.cache for p in wanted), 900)
            seconds = time.perf_counter() - t0
            result["variants"] = {"sounds": len(wanted), "all_made": made, "seconds": round(seconds, 2),
                                  "sounds_per_s": round(len(wanted) / seconds, 1)}

            # ---- pad trigger cost --------------------------------------------------------------------
            for n in range(16):  # pad 0 plain again; pad 1 keeps variants + layers and gets a shape and a tilt
                if n != 1:
                    engine.set_pad_variation(n, 0.0)
                    engine.set_pad_layers(n, 0.0, 0.0)
            for param, value in (("attack", 2.0), ("decay", 250.0), ("tilt", -0.4)):
                engine.set_pad_shape(1, param, value)
            time_triggers(engine, 1, 80)  # every (variant, layer) filtered once: the tilt cache is warm
            plain = time_triggers(engine, 0, args.triggers)
            shaped = time_triggers(engine, 1, args.triggers)
            p, s = stats_ms(plain), stats_ms(shaped)
            result["pad_trigger"] = {"plain": p, "variants_layers_shape_tilt": s,
                                     "ratio_median": round(s["median_ms"] / p["median_ms"], 3) if p["median_ms"] else None}

            # ---- kit randomize and undo --------------------------------------------------------------
            rnd, undo = [], []
            for _ in range(50):
                t0 = time.perf_counter()
                engine.randomize_kit()
                rnd.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                engine.undo_kit()
                undo.append(time.perf_counter() - t0)
            result["kit"] = {"randomize": stats_ms(rnd), "undo": stats_ms(undo), "maps": engine.maps is not None}

            # ---- model switch under triggers -----------------------------------------------------------
            events: list[dict[str, Any]] = []
            switched = threading.Event()

            def on_event(event: str, data: dict[str, Any]) -> None:
                if event == "model":
                    events.append(data)
                    switched.set()

            engine.add_listener(on_event)
            errors, calls = 0, []
            t0 = time.perf_counter()
            engine.switch_model(str(args.model))
            while not switched.is_set() and time.perf_counter() - t0 < 600:
                c0 = time.perf_counter()
                try:
                    engine.trigger_pad(0)
                except Exception:  # noqa: BLE001 - counted: the figure is that there are none
                    errors += 1
                calls.append(time.perf_counter() - c0)
                time.sleep(0.005)
            result["model_switch"] = {"seconds": round(time.perf_counter() - t0, 2), "event": events[-1] if events else None,
                                      "triggers_during": len(calls), "trigger_errors": errors,
                                      "trigger_call": stats_ms(calls)}
        finally:
            engine.stop()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    loc = result["locate"]
    print(f"locate: {loc.get('median_ms', '-')} ms median over {loc.get('files', 0)} files")
    v = result["variants"]
    print(f"variants: {v['sounds']} sounds in {v['seconds']} s ({v['sounds_per_s']}/s)")
    pt = result["pad_trigger"]
    print(f"pad trigger: plain {pt['plain']['median_ms']} ms, with variants+layers+shape+tilt "
          f"{pt['variants_layers_shape_tilt']['median_ms']} ms (x{pt['ratio_median']})")
    k = result["kit"]
    print(f"kit randomize {k['randomize']['median_ms']} ms, undo {k['undo']['median_ms']} ms")
    m = result["model_switch"]
    print(f"model switch: {m['seconds']} s, {m['triggers_during']} triggers during it, {m['trigger_errors']} errors, "
          f"slowest call {m['trigger_call']['max_ms']} ms")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
