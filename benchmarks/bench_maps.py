"""Maps benchmarks: bake throughput (batched, KV cache) versus the same points one at a time
without a cache, and the time to compute the feature maps and the t-SNE map for 64 x 64 and
200 x 200 grids.

Writes one JSON file and prints a short table. The default-size model comes from --model (e.g.
models/default) or is built untrained from the default settings (same cost per point).
200 x 200 features are timed on the first --feature-sounds sounds and scaled per sound (the cost
is linear in the number of sounds; the JSON marks it "extrapolated"); the t-SNE maps are timed
in full. Usage: python benchmarks/bench_maps.py [--model DIR] [--out FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gesam_engine.coordinates import MapExtent  # noqa: E402
from gesam_engine.gesam_model import GesamModel  # noqa: E402
from gesam_engine.maps import bake_grid, load_bake  # noqa: E402
from gesam_engine.maps.class_map import knn_class_mix  # noqa: E402
from gesam_engine.maps.features import FEATURES, audio_features, clip_range, feature_matrix  # noqa: E402
from gesam_engine.maps.grid import grid_points  # noqa: E402
from gesam_engine.maps.tsne import tsne_rgb  # noqa: E402
from gesam_engine.models import MapTransformer, MapVAE  # noqa: E402
from gesam_engine.training import settings_from_dict  # noqa: E402


def default_model() -> GesamModel:
    """An untrained model of the default size (what a trained default model costs to run)."""
    torch.manual_seed(0)
    s = settings_from_dict({})
    codec = s.make_codec()
    n = round(s.preprocess.duration_s * s.preprocess.sample_rate)
    classes = [{"name": "kick", "color": "#e6194b"}, {"name": "snare", "color": "#3cb44b"}]
    return GesamModel(codec, MapVAE(s.vae).eval(), MapTransformer(s.transformer).eval(), MapExtent(0.0, 0.0, 1.0),
                      n, classes, {})


def bench_bake(model: GesamModel, grid: int, tmp: Path) -> dict[str, Any]:
    """Sounds/s of a grid bake (batch 64, KV cache) vs the same points one at a time, no cache."""
    points = grid_points(grid)
    out: dict[str, Any] = {"points": len(points), "griffin_lim_iters": model.codec.to_config().get("griffin_lim_iters")}
    for audio in (False, True):
        name = "with_audio" if audio else "frames_only"
        index = bake_grid(model, grid, tmp / name, batch=64, audio=audio, force=True, progress=False)
        batched = index.run_sounds / index.run_seconds
        t0 = time.perf_counter()
        for p in points:
            frames = model.generate_frames(p[None], use_cache=False)
            if audio:
                model.decode(frames)
        single = len(points) / (time.perf_counter() - t0)
        out[name] = {"bake_sounds_per_s": round(batched, 2), "one_at_a_time_no_cache_sounds_per_s": round(single, 2),
                     "ratio": round(batched / single, 2)}
    return out


def bench_features(waves: np.ndarray, rate: int) -> tuple[float, dict[str, np.ndarray]]:
    """Seconds per sound of the six librosa features, measured on ``waves``, and the features."""
    t0 = time.perf_counter()
    feats = audio_features(waves, rate)
    return (time.perf_counter() - t0) / len(waves), feats


def bench_tsne(matrix: np.ndarray) -> dict[str, Any]:
    t0 = time.perf_counter()
    rgb = tsne_rgb(matrix, seed=0)
    seconds = time.perf_counter() - t0
    return {"cells": len(matrix), "seconds": round(seconds, 1), "finite": bool(np.isfinite(rgb).all())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a trained model directory (default: an untrained default-size model)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/maps.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bake-grid", type=int, default=8, help="grid of the throughput comparison (default 8: 64 points)")
    parser.add_argument("--feature-sounds", type=int, default=4096, help="sounds the feature time is measured on")
    parser.add_argument("--quick", action="store_true", help="a smoke run: grid 4, 256 feature sounds, small t-SNE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.bake_grid, args.feature_sounds = 4, 256
    model = GesamModel.load(args.model) if args.model else default_model()
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "model": str(args.model) if args.model else "untrained, default size",
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["bake"] = bench_bake(model, args.bake_grid, Path(tmp))
        _, _, audio, _ = load_bake(Path(tmp) / "with_audio", model)
        base = np.asarray(audio, dtype=np.float32)
    # the feature workload: the baked sounds again and again, each copy at another level
    rng = np.random.default_rng(0)
    reps = -(-args.feature_sounds // len(base))
    waves = np.concatenate([base * rng.uniform(0.2, 1.0, (len(base), 1)) for _ in range(reps)])[: args.feature_sounds]
    per_sound, feats = bench_features(waves, model.sample_rate)
    matrix = feature_matrix(feats, {n: clip_range(feats[n]) for n in FEATURES})
    result["features"], result["tsne"] = {}, {}
    for grid in (64, 200):
        cells = grid * grid
        result["features"][f"{grid}x{grid}"] = {
            "cells": cells, "measured_sounds": len(waves), "ms_per_sound": round(1000 * per_sound, 3),
            "seconds": round(per_sound * cells, 1), "extrapolated": len(waves) < cells}
        n = min(cells, 256) if args.quick else cells
        tiled = np.resize(matrix, (n, matrix.shape[1])) + rng.normal(0, 0.01, (n, matrix.shape[1]))
        result["tsne"][f"{grid}x{grid}"] = bench_tsne(np.clip(tiled, 0, 1))
        t0 = time.perf_counter()
        pts = grid_points(grid)
        knn_class_mix(pts, pts, rng.integers(0, 6, len(pts)), rng.random((6, 3)))
        result["tsne"][f"{grid}x{grid}"]["class_map_5nn_s"] = round(time.perf_counter() - t0, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    b = result["bake"]
    print(f"{'figure':<58}{'value':>12}")
    for name in ("frames_only", "with_audio"):
        print(f"{'bake ' + name + ' (sounds/s)':<58}{b[name]['bake_sounds_per_s']:>12.2f}")
        print(f"{'one at a time, no cache, ' + name + ' (sounds/s)':<58}{b[name]['one_at_a_time_no_cache_sounds_per_s']:>12.2f}")
        print(f"{'ratio ' + name:<58}{b[name]['ratio']:>12.2f}")
    for grid in ("64x64", "200x200"):
        f, t = result["features"][grid], result["tsne"][grid]
        print(f"{'features ' + grid + (' (extrapolated)' if f['extrapolated'] else '') + ' (s)':<58}{f['seconds']:>12.1f}")
        print(f"{'t-SNE ' + grid + ' (s)':<58}{t['seconds']:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
