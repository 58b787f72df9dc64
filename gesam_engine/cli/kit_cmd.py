"""``gesam kit``: write a kit file to edit (``new``), draw a random kit on a model's class map
(``random``) and export a kit as SFZ samples (``export``: a folder, a zip bundle of it, or both)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def add_kit_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam kit new`` and ``gesam kit export``."""
    sub = p.add_subparsers(dest="kit_command", metavar="{new,random,export}", required=True)
    new = sub.add_parser("new", help="write the default 16-pad kit as TOML, to edit",
                         description="Write the default 16-pad kit (pads on a 4x4 grid over the map) as TOML.")
    new.add_argument("file", type=Path, metavar="FILE", help="kit TOML file to write")
    new.add_argument("--name", help="the kit's name (default: the file name without .toml)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")

    rnd = sub.add_parser("random", help="draw a new point for every unlocked pad, inside its name's class region",
                         description="Read a kit (default: the default 16-pad kit), give every pad that is not locked "
                                     "a random point in the region of the model's class map that its name says (a pad "
                                     "named kick lands on kick; a name that says no class lands anywhere), and write "
                                     "it as TOML. Needs the model's maps (`gesam maps`) for the class regions.")
    rnd.add_argument("file", type=Path, metavar="FILE", help="kit TOML file to write")
    rnd.add_argument("--kit", type=Path, metavar="TOML", help="kit to start from (default: the default 16-pad kit)")
    rnd.add_argument("--model", type=Path, metavar="DIR",
                     help="model directory whose map/maps/maps.json gives the class regions (default: models/default)")
    rnd.add_argument("--seed", type=int, metavar="N", help="random seed, for a kit you can draw again")
    rnd.add_argument("--force", action="store_true", help="overwrite an existing file")

    export = sub.add_parser("export", help="render a kit's pads and write them as an SFZ instrument",
                            description="Render every pad's sound with the model and write DIR/kit.sfz and "
                                        "DIR/samples/pad_NN_<name>.wav (24-bit) for any SFZ sampler; with --zip, "
                                        "also one zip of them and the kit's TOML that unpacks into such a folder.")
    export.add_argument("--sfz", type=Path, metavar="DIR", help="folder to write kit.sfz and samples/ into")
    export.add_argument("--zip", type=Path, metavar="FILE.zip",
                        help="also (or, without --sfz, only) write a zip bundle: <name>/kit.sfz, <name>/samples/ "
                             "and <name>/kit.toml")
    export.add_argument("--kit", type=Path, metavar="TOML", help="kit file (default: the default 16-pad kit)")
    export.add_argument("--model", type=Path, metavar="DIR",
                        help="model directory (default: models/default, then build/demo/model)")
    export.add_argument("--first-note", type=int, default=36, metavar="NOTE", help="key of pad 0 (default 36)")
    export.add_argument("--device", default="auto", help="where the model runs: auto (default), cpu, cuda, cuda:N")
    export.add_argument("--iters", type=int, metavar="N", help="Griffin-Lim iterations (default: the model's)")
    export.add_argument("--force", action="store_true",
                        help="overwrite an existing kit.sfz (and its samples) and zip file")


def run_kit(args: argparse.Namespace) -> int:
    """Dispatch to ``new`` or ``export``."""
    runs = {"new": _run_new, "random": _run_random, "export": _run_export}
    return runs[args.kit_command](args)


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


def _run_random(args: argparse.Namespace) -> int:
    import random

    from gesam_engine.checkpoint import read_card
    from gesam_engine.errors import GesamError
    from gesam_engine.maps.maps_file import MAPS_JSON, read_maps_file
    from gesam_engine.model_paths import find_model
    from gesam_engine.runtime.kit_random import card_labels, randomize
    from gesam_engine.runtime.kits import default_kit, load_kit

    if args.file.exists() and not args.force:
        raise GesamError(f"{args.file} already exists; pass --force to overwrite it")
    kit = load_kit(args.kit) if args.kit is not None else default_kit(name=args.file.stem)
    model_dir = find_model(args.model)
    maps_dir = model_dir / "map" / "maps"
    if not (maps_dir / MAPS_JSON).is_file():
        raise GesamError(f"{maps_dir / MAPS_JSON} does not exist: make the model's maps with `gesam maps` first "
                         "(the class regions come from them)")
    maps = read_maps_file(maps_dir)
    card = read_card(model_dir)  # checked: a damaged model.json is one clear line, not a traceback
    new = randomize(kit, maps, random.Random(args.seed), card_labels(card))
    new.save(args.file)
    names = [c["name"] for c in maps.classes]
    lines = [f"  pad {n:2d} {p.name!r:<16} ({p.x:.3f}, {p.y:.3f}) {maps.at(p.x, p.y)['class']['name']}"
             + (" (locked)" if p.locked else "") for n, p in enumerate(new.pads)]
    print(f"wrote {args.file}: kit {new.name!r}, classes on the map: {', '.join(names)}\n" + "\n".join(lines))
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from gesam_engine.errors import GesamError
    from gesam_engine.runtime.kits import SFZ_NAME

    if args.sfz is None and args.zip is None:
        raise GesamError("say where to export: --sfz DIR (a folder), --zip FILE.zip (a zip bundle) or both")
    if args.sfz is not None and (args.sfz / SFZ_NAME).exists() and not args.force:
        raise GesamError(f"{args.sfz / SFZ_NAME} already exists; pass --force to overwrite it")
    if args.zip is not None and args.zip.exists() and not args.force:
        raise GesamError(f"{args.zip} already exists; pass --force to overwrite it")
    if args.sfz is not None:
        return _export(args, args.sfz)
    with tempfile.TemporaryDirectory(prefix="gesam-kit-") as folder:  # only the zip is kept
        return _export(args, Path(folder))


def _export(args: argparse.Namespace, sfz_dir: Path) -> int:
    """Render the kit into ``sfz_dir`` (kit.sfz + samples/) and, with --zip, bundle that folder."""
    import numpy as np

    from gesam_engine.errors import GesamError
    from gesam_engine.model_paths import find_model
    from gesam_engine.runtime.kits import default_kit, export_sfz, load_kit, pad_regions, slug

    if args.iters is not None and not 0 <= args.iters <= 1000:
        raise GesamError(f"--iters must be in 0..1000, got {args.iters}")
    kit = load_kit(args.kit) if args.kit is not None else default_kit()  # checked before the model loads
    if not 0 <= args.first_note <= 128 - len(kit.pads):
        raise GesamError(f"--first-note must be in 0..{128 - len(kit.pads)} so {len(kit.pads)} pads fit in 0..127, "
                         f"got {args.first_note}")
    model_dir = find_model(args.model)

    from gesam_engine.gesam_model import GesamModel, resolve_device

    model = GesamModel.load(model_dir, resolve_device(args.device))
    # every sound a pad's hits can play (its variants and velocity layers too), made in one batch
    wanted = list(dict.fromkeys(xy for pad in kit.pads for _, _, xy, _ in pad_regions(pad)))
    waves = model.render(np.array(wanted, dtype=np.float64), iters=args.iters)
    by_point = dict(zip(wanted, waves))
    sfz = export_sfz(kit, lambda x, y: by_point[(x, y)], model.sample_rate, sfz_dir,
                     first_note=args.first_note, force=args.force)
    what = (f"kit {kit.name!r}, {len(kit.pads)} pads on keys {args.first_note}-"
            f"{args.first_note + len(kit.pads) - 1}, samples at {model.sample_rate} Hz from model {model_dir}")
    if args.sfz is not None:
        print(f"wrote {sfz}: {what}")
    if args.zip is not None:
        from gesam_engine.sfz_bundle import write_sfz_zip

        folder = slug(args.zip.stem if args.zip.suffix.lower() == ".zip" else args.zip.name, "kit")
        members = write_sfz_zip(sfz, kit.to_toml(), args.zip, folder, force=args.force)
        print(f"wrote {args.zip}: {len(members)} files under {folder}/ (kit.sfz, kit.toml, samples/): {what}")
    return 0
