"""``gesam bake``: the N x N grid of sounds over the map, stored as .npy under the model's map/.

``--nproc N`` bakes in N processes on this machine under torchrun (the same command started by
torchrun itself runs on several GPUs or nodes): each bakes its share of the chunks, rank 0
writes them (maps/map_bake.py says who writes what) and alone prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_bake_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam bake``."""
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: models/default, then build/demo/model)")
    p.add_argument("--grid", type=int, required=True, metavar="N", help="bake an N x N grid of map points (1..1024)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="map folder to write into (default: the model's map/); files go in DIR/bake/")
    p.add_argument("--batch", type=int, default=64, metavar="B",
                   help="sounds generated per batch and per resumable chunk (default 64; resume with the same B "
                        "for the same bytes as an uninterrupted bake)")
    p.add_argument("--iters", type=int, metavar="N", help="Griffin-Lim iterations (default: the codec's)")
    p.add_argument("--device", default="auto", help="where the model runs: auto (CUDA if present, default), cpu, cuda, cuda:N")
    p.add_argument("--frames-only", action="store_true", help="store frames only, no decoded audio")
    p.add_argument("--force", action="store_true", help="start over when a different bake is already there")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="bake in N processes on this machine under torchrun (gloo on CPU, one GPU each with CUDA); "
                        "default 1; the arrays are byte for byte those of one process computing with as many threads "
                        "(OMP_NUM_THREADS: 1 under torchrun unless set)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _launch(args: argparse.Namespace, model_dir: Path, out: Path) -> int:
    """Check what the processes would refuse (so the error is one clear line), then run them under torchrun."""
    import torch

    from gesam_engine.child_signals import INTERRUPTED
    from gesam_engine.distributed import check_gpus, launch, without_nproc
    from gesam_engine.errors import GesamError
    from gesam_engine.gesam_model import GesamModel, resolve_device
    from gesam_engine.maps.map_bake import check_bake

    check_gpus(args.nproc, resolve_device(args.device))
    check_bake(GesamModel.load(model_dir, torch.device("cpu")), args.grid, out, batch=args.batch, iters=args.iters,
               audio=not args.frames_only, force=args.force)
    code = launch(args.nproc, without_nproc(args.argv))
    if code == INTERRUPTED:  # Ctrl-C or SIGTERM, passed on to every process
        print("gesam bake: interrupted; what was baked is kept: run the same command again to finish it", file=sys.stderr)
        return code
    if code != 0:
        raise GesamError(f"the {args.nproc} bake processes ended with exit code {code} (their errors are above); "
                         "what they baked is kept: run the same command again to finish it")
    return 0


def run_bake(args: argparse.Namespace) -> int:
    """Bake (or finish baking) the grid and print the throughput and where it went."""
    from gesam_engine.distributed import PeerFailed, check_nproc, from_env, shutdown, under_torchrun
    from gesam_engine.gesam_model import GesamModel, resolve_device
    from gesam_engine.maps.map_bake import bake_grid
    from gesam_engine.model_paths import find_model

    check_nproc(args.nproc)
    model_dir = find_model(args.model)
    out = (args.out if args.out is not None else model_dir / "map") / "bake"
    if args.nproc > 1 and not under_torchrun():
        return _launch(args, model_dir, out)
    dist = from_env(resolve_device(args.device))
    try:
        model = GesamModel.load(model_dir, dist.device)
        index = bake_grid(model, args.grid, out, batch=args.batch, iters=args.iters, audio=not args.frames_only,
                          force=args.force, progress=not args.quiet, dist=dist)
    except PeerFailed:
        return 2  # rank 0 says why
    finally:
        shutdown(dist)
    if not dist.is_main:
        return 0
    what = "frames" if args.frames_only else "frames + audio"
    where = f"{dist.world} processes ({dist.backend}, {model.device.type})" if dist.active else f"{model.device}"
    if index.run_sounds:
        rate = index.run_sounds / max(index.run_seconds, 1e-9)
        print(f"baked {index.run_sounds} sounds ({what}, grid {index.grid}x{index.grid}) in {index.run_seconds:.2f} s "
              f"on {where}: {rate:.1f} sounds/s")
    else:
        print(f"nothing to do: the {index.grid}x{index.grid} bake was already complete")
    print(f"wrote {out} ({index.done} of {index.total} sounds)")
    return 0
