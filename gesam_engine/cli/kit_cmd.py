"""``gesam kit``: write a kit file to edit (``new``) and export a kit as SFZ samples (``export``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_kit_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam kit new`` and ``gesam kit export``."""
    sub = p.add_subparsers(dest="kit_command", metavar="{new,export}", required=True)
    new = sub.add_parser("new", help="write the default 16-pad kit as TOML, to edit",
                         description="Write the default 16-pad kit (pads on a 4x4 grid over the map) as TOML.")
    new.add_argument("file", type=Path, metavar="FILE", help="kit TOML file to write")
    new.add_argument("--name", help="the kit's name (default: the file name without .toml)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")

    export = sub.add_parser("export", help="render a kit's pads and write them as an SFZ instrument",
                            description="Render every pad's sound with the model and write DIR/kit.sfz and "
                                        "DIR/samples/pad_NN_<name>.wav (24-bit) for any SFZ sampler.")
    export.add_argument("--sfz", required=True, type=Path, metavar="DIR", help="folder to write kit.sfz and samples/ into")
    export.add_argument("--kit", type=Path, metavar="TOML", help="kit file (default: the default 16-pad kit)")
    export.add_argument("--model", type=Path, metavar="DIR",
                        help="model directory (default: models/default, then build/demo/model)")
    export.add_argument("--first-note", type=int, default=36, metavar="NOTE", help="key of pad 0 (default 36)")
    export.add_argument("--device", default="auto", help="where the model runs: auto (default), cpu, cuda, cuda:N")
    export.add_argument("--iters", type=int, metavar="N", help="Griffin-Lim iterations (default: the model's)")
    export.add_argument("--force", action="store_true", help="overwrite an existing kit.sfz (and its samples)")


def run_kit(args: argparse.Namespace) -> int:
    """Dispatch to ``new`` or ``export``."""
    return _run_new(args) if args.kit_command == "new" else _run_export(args)


def _run_new(args: argparse.Namespace) -> int:
    from gesam_engine.errors import GesamError
    from gesam_engine.runtime.kits import default_kit

    if args.file.exists() and not args.force:
        raise GesamError(f"{args.file} already exists; pass --force to overwrite it")
    name = args.name if args.name is not None else args.file.stem
    kit = default_kit(name=name)
    kit.save(args.file)
    print(f"wrote {args.file}: kit {name!r} with {len(kit.pads)} pads; edit it, then "
          f"`gesam kit export --kit {args.file} --sfz DIR`")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    import numpy as np

    from gesam_engine.errors import GesamError
    from gesam_engine.model_paths import find_model
    from gesam_engine.runtime.kits import SFZ_NAME, default_kit, export_sfz, load_kit

    if (args.sfz / SFZ_NAME).exists() and not args.force:
        raise GesamError(f"{args.sfz / SFZ_NAME} already exists; pass --force to overwrite it")
    if args.iters is not None and not 0 <= args.iters <= 1000:
        raise GesamError(f"--iters must be in 0..1000, got {args.iters}")
    kit = load_kit(args.kit) if args.kit is not None else default_kit()  # checked before the model loads
    if not 0 <= args.first_note <= 128 - len(kit.pads):
        raise GesamError(f"--first-note must be in 0..{128 - len(kit.pads)} so {len(kit.pads)} pads fit in 0..127, "
                         f"got {args.first_note}")
    model_dir = find_model(args.model)

    from gesam_engine.gesam_model import GesamModel, resolve_device

    model = GesamModel.load(model_dir, resolve_device(args.device))
    points = np.array([p.xy for p in kit.pads], dtype=np.float64)  # (16, 2)
    waves = model.render(points, iters=args.iters)  # (16, L): one batch for every pad
    by_point = {p.xy: waves[i] for i, p in enumerate(kit.pads)}
    sfz = export_sfz(kit, lambda x, y: by_point[(x, y)], model.sample_rate, args.sfz,
                     first_note=args.first_note, force=args.force)
    print(f"wrote {sfz}: kit {kit.name!r}, {len(kit.pads)} pads on keys {args.first_note}-"
          f"{args.first_note + len(kit.pads) - 1}, samples at {model.sample_rate} Hz from model {model_dir}")
    return 0
