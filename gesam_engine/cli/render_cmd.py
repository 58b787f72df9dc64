"""``gesam render``: the sound at one map point, written to a WAV file."""

from __future__ import annotations

import argparse
import gc
from pathlib import Path


def add_render_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam render``."""
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: models/default, then build/demo/model)")
    p.add_argument("--xy", nargs=2, type=float, required=True, metavar=("X", "Y"), help="normalised map point, each in [0, 1]")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="WAV")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--iters", type=int, metavar="N", help="Griffin-Lim iterations (default: the model's)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def run_render(args: argparse.Namespace) -> int:
    """Generate the point's sound and write it as 24-bit WAV at the model's rate (whole or not at all)."""
    import numpy as np
    import soundfile as sf

    from gesam_engine.atomic_io import atomic_write_with
    from gesam_engine.errors import GesamError
    from gesam_engine.gesam_model import GesamModel, resolve_device
    from gesam_engine.model_paths import find_model

    gc.freeze()  # torch's objects, just imported, leave the collector's view: its full passes cost ~0.3 s here

    if args.output.exists() and not args.force:
        raise GesamError(f"{args.output} already exists; pass --force to overwrite it")
    if args.iters is not None and not 0 <= args.iters <= 1000:
        raise GesamError(f"--iters must be in 0..1000, got {args.iters}")
    model = GesamModel.load(find_model(args.model), resolve_device(args.device))
    xy = np.array([args.xy], dtype=np.float64)
    model.extent.to_latent(xy)  # refuses NaN/inf before any work
    wave = model.render(xy, iters=args.iters)[0]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_with(args.output, lambda fh: sf.write(fh, wave, model.sample_rate, subtype="PCM_24", format="WAV"))
    peak = float(np.abs(wave).max())
    print(f"wrote {args.output}: {len(wave) / model.sample_rate:.2f} s at {model.sample_rate} Hz, peak {peak:.3f}")
    return 0
