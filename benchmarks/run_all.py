"""Every benchmark in one command (``make bench``): one JSON file, a short table, docs/benchmarks.md.

Runs the bench scripts one after another (each in its own process, so none shares the CPU with
another), merges their JSON into ``benchmarks/results/all.json``, keeps the run before as
``all.prev.json`` and reports how each headline figure moved against it. GPU figures run when
CUDA is present; otherwise they are listed as skipped, with the reason.
Usage: python benchmarks/run_all.py [--quick] [--model DIR] [--no-doc]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
DOC_JSON = ROOT / "docs" / "benchmarks.json"  # the figures behind DOC, committed: the previous run for a fresh clone

# (headline, JSON path in the merged result, unit, lower is better)
HEADLINES: list[tuple[str, str, str, bool]] = [
    ("trigger latency, block 128, median", "engine.latency_block_128.trigger_latency_blocks.median", "blocks", True),
    ("trigger latency, block 128, median", "engine.latency_block_128.trigger_latency_ms.median", "ms", True),
    ("trigger latency, block 128, p99", "engine.latency_block_128.trigger_latency_blocks.p99", "blocks", True),
    ("trigger latency, block 128, p99", "engine.latency_block_128.trigger_latency_ms.p99", "ms", True),
    ("trigger latency, block 256, median", "engine.latency_block_256.trigger_latency_blocks.median", "blocks", True),
    ("trigger latency, block 256, median", "engine.latency_block_256.trigger_latency_ms.median", "ms", True),
    ("trigger latency, block 256, p99", "engine.latency_block_256.trigger_latency_blocks.p99", "blocks", True),
    ("trigger latency, block 256, p99", "engine.latency_block_256.trigger_latency_ms.p99", "ms", True),
    ("new point to ready (engine, light hand), median", "engine.ready_block_256.generation_ready_ms.median", "ms", True),
    ("generate 1 point, parallel mode (one pass)", "foundation.generation.parallel_batch_1.median_ms", "ms", True),
    ("generate 64 points, parallel mode (one pass)", "foundation.generation.parallel_batch_64.median_ms", "ms", True),
    ("generate 1 point, KV cache", "foundation.generation.batch_1.kv_cache.median_ms", "ms", True),
    ("generate 1 point, GESAM reference loop", "foundation.generation.batch_1.full_recompute.median_ms", "ms", True),
    ("speed-up, 1 point", "foundation.generation.batch_1.speedup", "x", False),
    ("generate 64 points, KV cache, one batch", "foundation.generation.batch_64.kv_cache.median_ms", "ms", True),
    ("generate 64 points, reference loop one at a time", "foundation.generation.reference_loop_64.median_ms", "ms", True),
    ("speed-up, 64 points", "foundation.generation.reference_loop_64.speedup_vs_kv_batch", "x", False),
    ("codec decode, one 1.5 s sound", "foundation.codec_real_kit.decode_one_sound.median_ms", "ms", True),
    ("codec round trip MR-STFT (real kit)", "foundation.codec_real_kit.mrstft_round_trip", "", True),
    ("codec MR-STFT, held-out kits: mel128 + GL 8 (today's engine)", "codec.rows.mel128_gl8.mrstft_median", "", True),
    ("codec MR-STFT, held-out kits: mel256 + PGHI + 4", "codec.rows.mel256_pghi4.mrstft_median", "", True),
    ("codec MR-STFT, held-out kits: linear STFT + PGHI + 8", "codec.rows.stft_pghi8.mrstft_median", "", True),
    ("codec MR-STFT, hats and cymbals: linear STFT + PGHI + 8", "codec.rows.stft_pghi8.mrstft_hats_median", "", True),
    ("codec decode, linear STFT + PGHI + 8, one sound", "codec.rows.stft_pghi8.decode_one_sound_ms.median_ms", "ms", True),
    ("held-out kits: transformer frame MAE (shipped / first model)",
     "evaluation.common_kits.transformer frame MAE.ratio", "x", True),
    ("held-out kits: transformer MR-STFT (shipped / first model)", "evaluation.common_kits.transformer MR-STFT.ratio", "x", True),
    ("held-out kits: transformer class match (shipped / first model)",
     "evaluation.common_kits.transformer class match.ratio", "x", False),
    ("held-out kits: codec round trip MR-STFT (shipped / first model)",
     "evaluation.common_kits.codec round trip MR-STFT.ratio", "x", True),
    ("bake throughput with audio", "maps.bake.with_audio.bake_sounds_per_s", "sounds/s", False),
    ("bake vs one at a time, no cache", "maps.bake.with_audio.ratio", "x", False),
    ("OSC sustained (paced flood), taken in", "osc.flood_paced.received_per_s", "msg/s", False),
    ("OSC datagram in -> executed, p99", "osc.latency.in_to_executed_ms.p99", "ms", True),
    ("MIDI in -> executed, period 256, p99", "midi.jack.1.send_to_executed_ms.p99", "ms", True),
    ("underruns during the load run (block 256)", "engine.load_block_256.underruns", "", True),
    ("underruns during the load run (block 128)", "engine.load_block_128.underruns", "", True),
    ("underruns, load + two busy processes (block 256)", "engine.load_block_256_busy2.underruns", "", True),
    ("underruns, load + two busy processes (block 128)", "engine.load_block_128_busy2.underruns", "", True),
    ("trigger latency under load, block 128, p99", "engine.load_block_128.trigger_latency_ms.p99", "ms", True),
    ("audio process render time per block under load, p99", "engine.load_block_256.render_ms.p99", "ms", True),
    ("audio process CPU share under load (block 256)", "engine.load_block_256.audio_cpu_share", "", True),
    ("serve to prompt, warm, shipped bake", "start.serve.to_prompt_s.median", "s", True),
    ("gesam render, one point, wall", "start.render_wall_s.median", "s", True),
    ("trigger latency under load, p99", "engine.load_block_256.trigger_latency_ms.p99", "ms", True),
    ("peak RSS, engine process", "engine.load_block_256.engine_rss_mb", "MB", True),
    ("peak RSS, audio process", "engine.load_block_256.audio_process_rss_mb", "MB", True),
    ("locate a recording (query by example), median", "instrument.locate.median_ms", "ms", True),
    ("pad trigger call, plain, median", "instrument.pad_trigger.plain.median_ms", "ms", True),
    ("pad trigger call, variants + layers + shape + tilt / plain", "instrument.pad_trigger.ratio_median", "x", True),
    ("16 pads x 4 variants x 4 layers made in the background", "instrument.variants.sounds_per_s", "sounds/s", False),
    ("kit randomize, median", "instrument.kit.randomize.median_ms", "ms", True),
    ("model switch to ready (shipped model)", "instrument.model_switch.seconds", "s", True),
    ("triggers refused during a model switch", "instrument.model_switch.trigger_errors", "", True),
    ("corpus scan+encode, 1 worker", "corpus.build.workers_1.files_per_s", "files/s", False),
    ("corpus scan+encode, 2 workers", "corpus.build.workers_2.files_per_s", "files/s", False),
    ("peak RSS, training on the synthetic corpus (20 k sounds; quick: 500)", "corpus.train.peak_rss_mb", "MB", True),
    ("bake, 1 process (all threads)", "distributed.bake.runs.nproc1_threads_all.bake_sounds_per_s", "sounds/s", False),
    ("bake, 2 processes x 1 thread", "distributed.bake.runs.nproc2_threads1.bake_sounds_per_s", "sounds/s", False),
    ("bake, 2 processes byte-identical to 1", "distributed.bake.byte_identical_2proc_vs_1proc_1_thread", "", False),
    ("train transformer, 1 process (all threads)", "distributed.train.runs.nproc1_threads_all.stages.transformer.sounds_per_s",
     "sounds/s", False),
    ("train transformer, 2 processes x 1 thread", "distributed.train.runs.nproc2_threads1.stages.transformer.sounds_per_s",
     "sounds/s", False),
]


def lookup(result: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (list items by index), or None when any part is missing."""
    node: Any = result
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb, "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__, "gpu": gpu}


def run(name: str, args: list[str], out: Path, timeout: float) -> dict[str, Any]:
    """Run one bench script with ``--out``; its JSON, or {"error": ...} when it failed."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / f"bench_{name}.py"), *args, "--out", str(out)]
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout, text=True, capture_output=True)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    print(proc.stdout[-3000:], end="", flush=True)
    if proc.returncode != 0 or not out.is_file():
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-600:]}"}
    result = json.loads(out.read_text())
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    return result


def change(now: Any, before: Any, lower_is_better: bool) -> str:
    """'+12.3 % (better)' and the like; '' when either value is missing."""
    if not isinstance(now, (int, float)) or not isinstance(before, (int, float)):
        return ""
    if before == 0:
        return "same" if now == 0 else "new"
    pct = 100.0 * (now - before) / abs(before)
    if abs(pct) < 0.05:
        return "same"
    better = (pct < 0) == lower_is_better
    return f"{pct:+.1f} % ({'better' if better else 'worse'})"


def table(result: dict[str, Any], previous: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """Rows (figure, value, previous, change) for the headline figures."""
    def fmt(v: Any) -> str:
        return "-" if v is None else (f"{v:,.2f}" if isinstance(v, float) else f"{v:,}")

    rows = []
    for label, path, unit, lower in HEADLINES:
        now = lookup(result, path)
        before = lookup(previous, path) if previous else None
        rows.append((f"{label}" + (f" ({unit})" if unit else ""), fmt(now), fmt(before) if previous else "",
                     change(now, before, lower)))
    return rows


def write_doc(result: dict[str, Any], rows: list[tuple[str, str, str, str]], previous: dict[str, Any] | None) -> None:
    m = result["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (`benchmarks/run_all.py`); the raw figures are in `docs/benchmarks.json`.",
        "Each bench runs in its own process, one after another, on the machine below; a new run replaces",
        "this page and compares itself with the run before (`all.prev.json`, or in a fresh clone",
        "`docs/benchmarks.json`, the figures of this page).",
        "",
        f"- run: {result['started']} ({'quick smoke run' if result['quick'] else 'full run'}), "
        f"model: {result['model']}",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['platform']}; "
        f"Python {m['python']}, torch {m['torch']}",
        f"- GPU: {m['gpu'] or 'none: ' + result['gpu']['skipped']}",
        f"- previous run: {previous['started'] if previous else 'none'}",
        "",
        "| figure | value | previous | change |",
        "| --- | ---: | ---: | --- |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "Trigger latency is measured from the trigger's arrival to the first sample of its sound in an",
        "output block, on a JACK dummy server (non-realtime) with period = block size. The GESAM reference",
        "loop recomputes the whole sequence at every step, one point at a time; the KV-cache figures",
        "generate the same points with the cache (64 points in one batch).",
        "The shipped model's generator runs in one pass (`refine` mode): its new-point figure is that pass plus",
        'PGHI + 8-iteration decoding and levelling; the KV-cache and reference-loop rows time the autoregressive',
        'mode at the default size, untrained. Batching no longer pays in the bake ("bake vs one at a time"):',
        'one point is already one pass. The `held-out kits` rows are ratios of the shipped model to the first',
        'shipped model (commit 6ae3b68), both evaluated in this run on the 94 sounds neither was trained on',
        '(`benchmarks/bench_evaluation.py`; lower is better except class match).',
    ]
    errors = {k: v["error"] for k, v in result.items() if isinstance(v, dict) and "error" in v}
    if errors:
        lines += ["", "Benches that failed in this run:", *[f"- {k}: {v}" for k, v in errors.items()]]
    DOC.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: short sessions, few repeats")
    parser.add_argument("--model", type=Path, help="a model directory to measure (default: untrained default size)")
    parser.add_argument("--out", type=Path, default=RESULTS / "all.json")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    q = args.quick
    model = ["--model", str(args.model)] if args.model else []
    plan: list[tuple[str, list[str], float]] = [
        ("foundation", ["--quick"] if q else [], 1800),
        ("codec", ["--quick"] if q else [], 1800),
        ("engine", [*model, *(["--load-seconds", "10", "--latency-seconds", "3"] if q else [])], 1800),
        ("start", ["--runs", "1" if q else "3"], 900),
        ("osc", [*model, *(["--latency-seconds", "2", "--flood-seconds", "1"] if q else [])], 900),
        ("midi", ["--messages", "200"] if q else [], 900),
        ("maps", [*model, *(["--quick"] if q else [])], 3600),
        ("evaluation", ["--grid", "4"] if q else [], 3600),
        ("instrument", [*(model or ["--model", str(ROOT / "models" / "default")]),
                        *(["--files", "5", "--triggers", "50"] if q else [])], 1800),
        ("corpus", ["--sounds", "500"] if q else [], 3600),
        ("distributed", [*model, *(["--quick"] if q else [])], 3600),
    ]
    result: dict[str, Any] = {"started": datetime.datetime.now().isoformat(timespec="seconds"), "quick": q,
                              "model": str(args.model or "untrained, default size"), "machine": machine()}
    result["gpu"] = ({"device": result["machine"]["gpu"]} if result["machine"]["gpu"] else
                     {"skipped": "CUDA is not available on this machine (torch.cuda.is_available() is False)"})
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra, timeout in plan:
            result[name] = run(name, extra, Path(tmp) / f"{name}.json", timeout)
    previous = None
    if args.out.is_file():
        previous = json.loads(args.out.read_text())
        shutil.copyfile(args.out, args.out.with_name(args.out.stem + ".prev.json"))
    elif not q and DOC_JSON.is_file():  # a fresh clone: compare with the figures docs/benchmarks.md shows
        previous = json.loads(DOC_JSON.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    rows = table(result, previous)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'value':>12}  {'previous':>12}  change")
    for a, b, c, d in rows:
        print(f"{a:<{width}}  {b:>12}  {c:>12}  {d}")
    if not args.no_doc:
        write_doc(result, rows, previous)
        DOC_JSON.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwritten {args.out}, {DOC} and {DOC_JSON}")
    failed = [k for k, v in result.items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
