"""``gesam bake``: the N x N grid of sounds over the map, stored as .npy under the model's map/."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_bake_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam bake``."""
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: models/default, then build/demo/model)")
    p.add_argument("--grid", type=int, required=True, metavar="N", help="bake an N x N grid of map points (1..1024)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="map folder to write into (default: the model's map/); files go in DIR/bake/")
    p.add_argument("--batch", type=int, default=64, metavar="B",
                   help="sounds generated per batch and per resumable chunk (default 64)")
    p.add_argument("--iters", type=int, metavar="N", help="Griffin-Lim iterations (default: the codec's)")
    p.add_argument("--device", default="auto", help="where the model runs: auto (CUDA if present, default), cpu, cuda, cuda:N")
    p.add_argument("--frames-only", action="store_true", help="store frames only, no decoded audio")
    p.add_argument("--force", action="store_true", help="start over when a different bake is already there")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_bake(args: argparse.Namespace) -> int:
    """Bake (or finish baking) the grid and print the throughput and where it went."""
    from gesam_engine.gesam_model import GesamModel, resolve_device
    from gesam_engine.maps.map_bake import bake_grid
    from gesam_engine.model_paths import find_model

    model_dir = find_model(args.model)
    model = GesamModel.load(model_dir, resolve_device(args.device))
    out = (args.out if args.out is not None else model_dir / "map") / "bake"
    index = bake_grid(model, args.grid, out, batch=args.batch, iters=args.iters, audio=not args.frames_only,
                      force=args.force, progress=not args.quiet)
    what = "frames" if args.frames_only else "frames + audio"
    if index.run_sounds:
        rate = index.run_sounds / max(index.run_seconds, 1e-9)
        print(f"baked {index.run_sounds} sounds ({what}, grid {index.grid}x{index.grid}) in {index.run_seconds:.2f} s "
              f"on {model.device}: {rate:.1f} sounds/s")
    else:
        print(f"nothing to do: the {index.grid}x{index.grid} bake was already complete")
    print(f"wrote {out} ({index.done} of {index.total} sounds)")
    return 0
