"""Large-corpus benchmark: a synthetic corpus of N one-shots made by ``gesam synth-kit``, scanned and
encoded with 1 and with 2 worker processes (files/s, each build's peak RSS), then a small model
trained on it, one epoch per stage, and the training process's peak RSS (issue 15: under 4 GB
for 20 k sounds). Frames are the default codec's (1.5 s, 128 mel bands: 132 KB a sound); the
models are small, so the figure is the data's share of memory, not the models'.

Every build and the training run in a fresh process of their own (ru_maxrss is per process);
the corpus is made under a temporary folder, or reused from ``--work`` when it holds one of that size.
Writes one JSON file and prints a short table.
Usage: python benchmarks/bench_corpus.py [--sounds N] [--work DIR] [--workers 1 2] [--no-train] [--device cpu]
       [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PER_RUN_CLASSES = 5  # synth-kit writes kicks, snares, hats, toms and claps
MAX_PER_CLASS = 1000  # synth-kit's --per-class limit: larger corpora are several runs with other seeds
SMALL_MODEL = """\
[vae]
channels = 16
n_down = 2
hidden = 32

[transformer]
d_model = 32
n_heads = 2
n_layers = 2
patch = 4
fourier_features = 4

[classifier]
channels = 8
n_down = 1
kernel_size = 3

[train]
batch_size = 64
vae_epochs = 1
transformer_epochs = 1
classifier_epochs = 1
warmup_epochs = 0
device = "{device}"
"""


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))


class RssSampler:
    """Peak RssAnon and RssFile of this process (Linux /proc/self/status), sampled every 0.1 s."""

    def __init__(self) -> None:
        self.peak = {"RssAnon": 0, "RssFile": 0, "RssShmem": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in self.peak:
                    self.peak[key] = max(self.peak[key], int(value.split()[0]))
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def mb(self) -> dict[str, float]:
        return {f"peak_{k[3:].lower()}_mb": round(v / 1024, 1) for k, v in self.peak.items()}


def make_corpus(folder: Path, sounds: int) -> dict[str, Any]:
    """``sounds`` one-shots under ``folder`` by ``gesam synth-kit`` (several seeds past 5000); reused when there."""
    marker = folder / "bench_corpus.json"
    if marker.is_file() and json.loads(marker.read_text()).get("sounds") == sounds:
        return {**json.loads(marker.read_text()), "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    runs = math.ceil(sounds / (PER_RUN_CLASSES * MAX_PER_CLASS))
    per_class = math.ceil(sounds / (PER_RUN_CLASSES * runs))
    started = time.perf_counter()
    for seed in range(runs):
        subprocess.run([sys.executable, "-m", "gesam_engine.cli.main", "synth-kit", str(folder / f"seed{seed}"),
                        "--per-class", str(per_class), "--seed", str(seed)], check=True, env=_env(), cwd=ROOT,
                       stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    made = sum(1 for _ in folder.rglob("*.wav"))
    info = {"sounds": sounds, "files": made, "synth_runs": runs, "per_class": per_class,
            "synth_seconds": round(seconds, 1), "synth_sounds_per_s": round(made / seconds, 1),
            "bytes": sum(p.stat().st_size for p in folder.rglob("*.wav"))}
    marker.write_text(json.dumps(info))
    return {**info, "reused": False}


def phase_build(root: Path, cache: Path, workers: int) -> dict[str, Any]:
    """In this (fresh) process: build the corpus with a fresh cache; files/s and peak RSS."""
    from gesam_engine.data import build_corpus
    from gesam_engine.peak_memory import peak_rss_mb
    from gesam_engine.training import settings_from_dict
    import resource

    import torch

    torch.set_num_threads(1)  # as `gesam train` runs on the CPU
    settings = settings_from_dict({})
    started = time.perf_counter()
    with RssSampler() as rss:
        corpus = build_corpus([root], settings.make_codec(), settings.preprocess, settings.labels, cache,
                              progress=False, workers=workers)
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"workers": workers, "files": len(corpus.items) + len(corpus.skipped), "items": len(corpus.items),
            "seconds": round(seconds, 2), "files_per_s": round((len(corpus.items) + len(corpus.skipped)) / seconds, 1),
            "corpus_mb": round(corpus.frames.nbytes / 2**20, 1), "peak_rss_mb": round(peak_rss_mb() or 0.0, 1),
            **rss.mb(), "largest_worker_rss_mb": round(children, 1) if workers > 1 else None}


def phase_train(root: Path, cache: Path, model: Path, config: Path) -> dict[str, Any]:
    """In this (fresh) process: ``train_model`` on the corpus (its frames from ``cache``); peak RSS."""
    import torch

    from gesam_engine.peak_memory import peak_rss_mb
    from gesam_engine.training import load_settings
    from gesam_engine.training.pipeline import train_model

    settings = load_settings(config)
    started = time.perf_counter()
    with RssSampler() as rss:
        _, report = train_model([root], settings, model, cache, force=True, progress=False)
    seconds = time.perf_counter() - started
    corpus = report["corpus"]
    return {"seconds": round(seconds, 1), "n_files": corpus["n_files"], "cache_hits": corpus["cache_hits"],
            "corpus_seconds": corpus["seconds"],
            "stage_seconds": {s: report[s].get("seconds") for s in ("vae", "transformer", "classifier")},
            "peak_rss_mb": round(peak_rss_mb() or 0.0, 1), **rss.mb(),
            "cuda_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None}


def _child(args: list[str], timeout: float) -> dict[str, Any]:
    run = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        return {"error": f"exit {run.returncode}: {run.stderr.strip()[-1500:]}"}
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sounds", type=int, default=20_000, help="corpus size (default 20000; `make bench-quick`: 500)")
    parser.add_argument("--work", type=Path, help="folder for the corpus, caches and model (default: a temporary one, "
                                                  "removed after); a corpus of the same size there is reused")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)")
    parser.add_argument("--no-train", action="store_true", help="time the builds only")
    parser.add_argument("--device", default="cpu", help="where the small model trains (default cpu; cuda: the corpus "
                                                        "stays in host memory, batches go over one at a time)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per build or training run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/corpus.json")
    parser.add_argument("--phase", choices=["build", "train"], help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "build":
        print(json.dumps(phase_build(args.root, args.cache, args.workers[0])))
        return 0
    if args.phase == "train":
        print(json.dumps(phase_train(args.root, args.cache, args.model, args.config)))
        return 0
    if args.sounds < PER_RUN_CLASSES:
        parser.error(f"--sounds must be at least {PER_RUN_CLASSES}")

    work = args.work or Path(tempfile.mkdtemp(prefix="gesam-bench-corpus-"))
    try:
        result: dict[str, Any] = {"cores": os.cpu_count(), "corpus": make_corpus(work / "corpus", args.sounds)}
        print(f"corpus: {result['corpus']}", flush=True)
        builds: dict[str, Any] = {}
        for w in args.workers:
            cache = work / f"cache-w{w}"
            shutil.rmtree(cache, ignore_errors=True)
            builds[f"workers_{w}"] = _child(["--phase", "build", "--root", str(work / "corpus"), "--cache", str(cache),
                                             "--workers", str(w)], args.timeout)
            print(f"build, {w} worker(s): {builds[f'workers_{w}']}", flush=True)
        result["build"] = builds
        if not args.no_train:
            config = work / "small.toml"
            config.write_text(SMALL_MODEL.format(device=args.device))
            cache = work / f"cache-w{args.workers[-1]}"  # filled by the last build: training reads its frames
            result["train"] = {"config": SMALL_MODEL.format(device=args.device), **_child(
                ["--phase", "train", "--root", str(work / "corpus"), "--cache", str(cache), "--model",
                 str(work / "model"), "--config", str(config)], args.timeout)}
            print(f"train: {result['train']}", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'figure':<56}{'value':>12}")
    for name, b in result["build"].items():
        if "files_per_s" in b:
            print(f"{'scan+encode ' + name + ' (files/s)':<56}{b['files_per_s']:>12.1f}")
            print(f"{'build ' + name + ' peak RSS (MB)':<56}{b['peak_rss_mb']:>12.1f}")
    t = result.get("train", {})
    if "peak_rss_mb" in t:
        print(f"{'training peak RSS, ' + str(t['n_files']) + ' sounds (MB)':<56}{t['peak_rss_mb']:>12.1f}")
    failed = [k for k, v in {**result["build"], "train": t}.items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
