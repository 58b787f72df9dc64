"""``gesam maps``: the class, audio-feature and t-SNE maps of a model as PNGs + maps.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_GRID = 64


def add_maps_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam maps``."""
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: models/default, then build/demo/model)")
    p.add_argument("-o", "--out", type=Path, metavar="DIR",
                   help="where the PNGs and maps.json go (default: the model's map/maps/, where `gesam serve` finds them)")
    p.add_argument("--bake", type=Path, metavar="DIR", help="the bake to draw from (default: the model's map/bake/; "
                   "made first, resumably, when missing or unfinished)")
    p.add_argument("--grid", type=int, metavar="N", help=f"grid of the bake to make when there is none (default {DEFAULT_GRID}; "
                   "the paper draws 200)")
    p.add_argument("--iters", type=int, metavar="N", help="Griffin-Lim iterations for a new bake (default: the codec's)")
    p.add_argument("--class-source", choices=("auto", "classifier", "labels"), default="auto",
                   help="label cells by the model's classifier on the baked sounds, or by the training points' "
                   "file-name labels (auto: the classifier when the model has one)")
    p.add_argument("--no-tsne", action="store_true", help="skip the t-SNE view (minutes on a big grid)")
    p.add_argument("--no-points", action="store_true", help="do not draw the training points on the class map")
    p.add_argument("--seed", type=int, default=0, help="t-SNE seed (default 0)")
    p.add_argument("--device", default="auto", help="where the model runs: auto (CUDA if present), cpu, cuda")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def run_maps(args: argparse.Namespace) -> int:
    """Bake when needed, compute every view, write the pictures and print where they went."""
    from gesam_engine.errors import GesamError
    from gesam_engine.gesam_model import GesamModel, resolve_device
    from gesam_engine.maps.make_maps import make_maps, summary
    from gesam_engine.maps.map_bake import INDEX, bake_grid, read_index
    from gesam_engine.model_paths import find_model

    model_dir = find_model(args.model)
    model = GesamModel.load(model_dir, resolve_device(args.device))
    bake_dir = args.bake if args.bake is not None else model_dir / "map" / "bake"
    out = args.out if args.out is not None else model_dir / "map" / "maps"
    grid = args.grid
    if grid is None:
        grid = read_index(bake_dir).grid if (bake_dir / INDEX).is_file() else DEFAULT_GRID
    if not 2 <= grid <= 1024:
        raise GesamError(f"--grid must be in 2..1024, got {grid}")
    index = bake_grid(model, grid, bake_dir, iters=args.iters, progress=not args.quiet)
    if index.run_sounds:
        print(f"baked {index.run_sounds} sounds in {index.run_seconds:.1f} s into {bake_dir}")
    maps = make_maps(model, bake_dir, out, class_source=args.class_source, tsne=not args.no_tsne,
                     overlay_points=not args.no_points, seed=args.seed, progress=not args.quiet)
    print(json.dumps(summary(maps)))
    print(f"wrote {len(maps.views)} maps ({', '.join(v.name for v in maps.views)}) to {out}")
    return 0
