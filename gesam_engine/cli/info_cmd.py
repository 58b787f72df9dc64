"""``gesam info``: print a model's card."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_info_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam info``."""
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: models/default, then build/demo/model)")
    p.add_argument("--json", action="store_true", help="print model.json as it is")


def run_info(args: argparse.Namespace) -> int:
    """Load (and so verify) the model, then print its card."""
    import json

    from gesam_engine.cli.serve_cmd import find_model
    from gesam_engine.gesam_model import GesamModel

    model = GesamModel.load(find_model(args.model))
    print(json.dumps(model.card, indent=2) if args.json else model.summary())
    return 0
