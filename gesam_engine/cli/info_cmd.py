"""``gesam info``: a model's card, readable (``--json``: model.json as it is)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gesam_engine.model_paths import MODEL_HELP

if TYPE_CHECKING:
    from gesam_engine.gesam_model import GesamModel

METHODS = (("transformer", "transformer"), ("vae_reconstruction", "VAE reconstruction"), ("knn5_average", "5-NN average"))


def add_info_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam info``."""
    p.add_argument("--model", type=Path, metavar="DIR", help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print model.json as it is")


def run_info(args: argparse.Namespace) -> int:
    """Load (and so verify) the model, then print its card."""
    import json

    from gesam_engine.gesam_model import GesamModel
    from gesam_engine.model_paths import find_model

    directory = find_model(args.model)
    model = GesamModel.load(directory)
    print(json.dumps(model.card, indent=2) if args.json else card_text(model, directory))
    return 0


def _pct(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else "?"


def _params(module: Any) -> str:
    return f"{sum(p.numel() for p in module.parameters()):,} parameters"


def card_text(model: GesamModel, directory: Path) -> str:
    """A few readable lines: what the model plays, its parts, its data and how it scored."""
    c = model.card
    codec = c.get("codec") or {}
    t = c.get("training") or {}
    corpus = t.get("corpus") or {}
    tc = model.transformer.config
    lines = [
        f"gesam model {directory}  (format {c.get('format_version')}, gesam {c.get('gesam_version', '?')}, "
        f"made {str(c.get('created', '?'))[:10]})",
        f"  sound       {model.sample_rate} Hz, {model.n_samples / model.sample_rate:.2f} s one-shots; "
        f"{model.codec.name} codec ({model.codec.n_features} {'bins' if model.codec.name == 'stft' else 'bands'}), "
        f"{'PGHI phase + ' if codec.get('phase_init') == 'pghi' else ''}Griffin-Lim "
        f"{codec.get('griffin_lim_iters', '?')} iterations",
        f"  map         VAE, {_params(model.vae)}, a 2D map of the training sounds",
        f"  generator   {tc.mode} transformer, {_params(model.transformer)} ({tc.n_layers} layers x {tc.d_model}): "
        "a sound for any map point",
    ]
    hist = t.get("classifier") or {}
    if model.classifier is None:
        lines.append(f"  classifier  none ({hist.get('skipped') or 'retrain on at least two classes to get one'})")
    else:
        lines.append(f"  classifier  {_params(model.classifier)}, holdout accuracy {_pct(hist.get('holdout_accuracy'))} "
                     f"on {hist.get('n_holdout', '?')} sounds")
    counts = corpus.get("class_counts") or {}
    lines.append("  classes     " + (", ".join(f"{k['name']} {counts.get(k['name'], '')}".rstrip() for k in model.classes)
                                      or "(none)"))
    if corpus:
        lines.append(f"  trained on  {corpus.get('n_files', '?')} files ({corpus.get('n_skipped', 0)} skipped), "
                     f"{_minutes(t.get('seconds'))} on {t.get('hardware', '?')}, seed {t.get('seed', '?')}")
    lines += _evaluation_lines(c.get("evaluation") or {})
    extras = [name for name, rel in (("bake", "map/bake/index.json"), ("maps", "map/maps/maps.json"))
              if (directory / rel).is_file()]
    lines.append(f"  ships       {' and '.join(extras)} in {directory / 'map'}" if extras
                 else "  ships       no bake or maps (`gesam bake`, `gesam maps` make them)")
    lines.append("  (gesam info --json prints every figure; the model's README.md, if any, says more)")
    return "\n".join(lines)


def _minutes(seconds: Any) -> str:
    return f"{seconds / 60:.0f} min" if isinstance(seconds, (int, float)) else "? min"


def _evaluation_lines(ev: dict[str, Any]) -> list[str]:
    """The paper's table, one line per method, when the model was evaluated."""
    methods = ev.get("methods") or {}
    if not methods:
        return ["  evaluation  none yet (`gesam evaluate --val DIR --write` adds it; "
                "--train DIR for a model that records no corpus)"]
    held = ev.get("held_out") or {}
    lines = [f"  evaluation  {held.get('n_sounds', '?')} held-out sounds from {len(held.get('roots') or [])} kits:",
             f"    {'method':<20}{'frame MAE':>10}{'class match':>13}"]
    for key, label in METHODS:
        m = methods.get(key)
        if m:
            mae = m.get("frame_mae")
            lines.append(f"    {label:<20}{f'{mae:.4f}' if isinstance(mae, (int, float)) else '?':>10}"
                         f"{_pct(m.get('class_match')):>13}")
    return lines
