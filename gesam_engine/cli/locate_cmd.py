"""``gesam locate FILE...``: query by example: each file's map point, class and nearest training sounds."""

from __future__ import annotations

import argparse
from pathlib import Path

from gesam_engine.model_paths import MODEL_HELP


def add_locate_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam locate``."""
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="audio files (WAV, FLAC, ...)")
    p.add_argument("--model", type=Path, metavar="DIR", help=MODEL_HELP)
    p.add_argument("--nearest", type=int, default=5, metavar="K", help="how many nearest training sounds (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object: the files and any errors")


def run_locate(args: argparse.Namespace) -> int:
    """Print where each file lands; a file that cannot be read is named with the reason (exit 1)."""
    import json
    import sys

    from gesam_engine.gesam_model import GesamModel
    from gesam_engine.maps.locate import Location, locate
    from gesam_engine.model_paths import find_model

    model = GesamModel.load(find_model(args.model))
    results = locate(model, args.files, args.nearest)
    found = [r for r in results if isinstance(r, Location)]
    errors = [str(r) for r in results if not isinstance(r, Location)]
    if args.json:
        print(json.dumps({"located": [r.to_dict() for r in found], "errors": errors}, indent=1))
    else:
        for r in found:
            cls = f"{r.class_name} ({100 * r.class_probability:.0f} %)" if r.class_name is not None and \
                r.class_probability is not None else "no classifier"
            print(f"{r.path}: x {r.x:.3f} y {r.y:.3f}, {cls}")
            for file, label, distance in r.nearest:
                print(f"    {distance:.3f}  {label:<8} {file}")
        for e in errors:
            print(f"gesam locate: {e}", file=sys.stderr)
    return 1 if errors else 0
