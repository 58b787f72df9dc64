"""``gesam evaluate``: the GESAM paper's table on held-out sample folders, optionally kept in model.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_evaluate_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam evaluate``."""
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: models/default, then build/demo/model)")
    p.add_argument("--train", nargs="+", type=Path, metavar="DIR",
                   help="the folders the model was trained on (for the 5-nearest-neighbour baseline); default: "
                        "the files model.json records, checked by sha256 (this overrides them)")
    p.add_argument("--val", nargs="+", required=True, type=Path, metavar="DIR",
                   help="held-out folders (other kits than --train: a sound in both is dropped and counted)")
    p.add_argument("--grid", type=int, default=8, metavar="N",
                   help="an N x N grid of the map for the realism and loudness figures (default 8; 0: none)")
    p.add_argument("--cache", type=Path, metavar="DIR", help="feature cache (default $GESAM_CACHE or ~/.cache/gesam)")
    p.add_argument("--write", action="store_true", help="store the figures in the model's model.json under \"evaluation\"")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def write_evaluation(model_dir: Path, evaluation: dict[str, Any]) -> None:
    """Put ``evaluation`` into ``model_dir/model.json`` atomically (the weights' sha256 are untouched)."""
    from gesam_engine.atomic_io import atomic_write
    from gesam_engine.checkpoint import CARD, read_card

    card = read_card(model_dir)
    card["evaluation"] = evaluation
    atomic_write(Path(model_dir) / CARD, json.dumps(card, indent=2) + "\n")


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate, print the table and a line on whether the transformer is best, as in the paper."""
    from gesam_engine.gesam_model import GesamModel, resolve_device
    from gesam_engine.model_paths import default_cache_dir, find_model
    from gesam_engine.training.evaluate import evaluate_model, format_summary, format_table

    model_dir = find_model(args.model)
    model = GesamModel.load(model_dir, resolve_device(args.device))
    result = evaluate_model(model, args.train, args.val, args.cache or default_cache_dir(), grid=args.grid,
                            progress=not args.quiet)
    held, training = result["held_out"], result["training"]
    source = "as recorded in model.json" if training["source"] == "model.json" else "under --train"
    print(f"held out: {held['n_sounds']} sounds ({held['dropped_duplicates_of_training']} duplicates of training "
          f"sounds dropped); training: {training['n_sounds']} sounds {source}")
    print(format_table(result))
    print(f"lowest frame MAE: {result['best_frame_mae']}; best class match: {result['best_class_match']}; "
          f"transformer best on both (as in the paper): {'yes' if result['transformer_best_on_both'] else 'no'}")
    print(format_summary(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.write:
        write_evaluation(model_dir, result)
        print(f"stored in {model_dir / 'model.json'}")
    return 0
