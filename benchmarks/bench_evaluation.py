"""The held-out evaluation table as a benchmark: the shipped model against the first shipped
model (the baseline of issue 12), measured in one run on the same held-out sounds.

Both are evaluated (``gesam_engine.training.evaluate``) on the validation kits that neither was
trained on: the first model's three held-out Hydrogen kits, as the corpus builder copies them
(``build/corpus/val/hydrogen/{ColomboAcousticDrumkit,HardElectro1,Millo_MultiLayered2}``). The
shipped model is also evaluated on its whole validation split. The baseline is read from git
(``BASELINE_COMMIT``'s ``models/default``) into a temporary folder. Without the corpus or the
Hydrogen kits the bench says it is skipped and why.
Usage: python benchmarks/bench_evaluation.py [--model DIR] [--corpus DIR] [--grid N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run_all import lookup  # noqa: E402  (the same dotted paths as the headlines)
from gesam_engine.gesam_model import GesamModel  # noqa: E402
from gesam_engine.training.evaluate import evaluate_model  # noqa: E402

BASELINE_COMMIT = "6ae3b68"  # the last commit with the first shipped model (Hydrogen kits, autoregressive, GL decode)
KITS = Path("/usr/share/hydrogen/data/drumkits")
BASELINE_TRAIN = ["Audiophob", "BJA_Pacific", "ElectricEmpireKit", "ForzeeStereo", "Gimme A Hand 1.0", "Millo-Drums_v.1",
                  "Millo_MultiLayered3", "The Black Pearl 1.0", "VariBreaks", "circAfrique v4"]
COMMON_VAL = ["ColomboAcousticDrumkit", "HardElectro1", "Millo_MultiLayered2"]
# (label, JSON path in an evaluation, lower is better)
FIGURES: list[tuple[str, str, bool]] = [
    ("transformer frame MAE", "methods.transformer.frame_mae", True),
    ("VAE reconstruction frame MAE", "methods.vae_reconstruction.frame_mae", True),
    ("5-NN average frame MAE", "methods.knn5_average.frame_mae", True),
    ("transformer MR-STFT", "methods.transformer.mrstft", True),
    ("VAE reconstruction MR-STFT", "methods.vae_reconstruction.mrstft", True),
    ("5-NN average MR-STFT", "methods.knn5_average.mrstft", True),
    ("transformer class match", "methods.transformer.class_match", False),
    ("VAE reconstruction class match", "methods.vae_reconstruction.class_match", False),
    ("5-NN average class match", "methods.knn5_average.class_match", False),
    ("transformer loudness vs original (dB)", "methods.transformer.lufs_vs_original", False),
    ("codec round trip MR-STFT", "codec_round_trip_mrstft", True),
    ("classifier accuracy, originals", "classifier_accuracy_originals", False),
    ("nearest training sound on the map, same label", "map_nn1_same_label", False),
    ("Fréchet distance, transformer grid", "frechet.transformer_grid", True),
    ("grid loudness median (LUFS)", "grid.transformer.lufs_median", False),
    ("grid share below -24 LUFS", "grid.transformer.share_below_-24_lufs", True),
    ("grid loudness cliffs (share of neighbour pairs)", "grid.transformer.lufs_cliff_share", True),
    ("grid ring-length cliffs (share of neighbour pairs)", "grid.transformer.decay_cliff_share", True),
]


def baseline_model(folder: Path) -> Path:
    """The first shipped model, checked out of git into ``folder``."""
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", BASELINE_COMMIT, "models/default"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split()
    for name in files:
        data = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:{name}"], cwd=ROOT, check=True,
                              capture_output=True).stdout
        target = folder / Path(name).relative_to("models/default")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def compare(now: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Per figure: the shipped model's value, the baseline's, and their ratio (shipped / baseline)."""
    out = {}
    for label, path, lower in FIGURES:
        a, b = lookup(now, path), lookup(base, path)
        ratio = round(a / b, 3) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None
        out[label] = {"shipped": a, "baseline": b, "ratio": ratio, "lower_is_better": lower}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--corpus", type=Path, default=ROOT / "build" / "corpus")
    parser.add_argument("--grid", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "bench-eval-cache")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "evaluation.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    common = [args.corpus / "val" / "hydrogen" / k for k in COMMON_VAL]
    missing = [str(p) for p in [*common, *(KITS / k for k in BASELINE_TRAIN)] if not p.is_dir()]
    if missing:
        result: dict[str, Any] = {"skipped": f"needs the corpus (gesam corpus build --out {args.corpus}) and "
                                             f"hydrogen-drumkits; missing: {', '.join(missing[:3])}"}
    else:
        t0 = time.perf_counter()
        model = GesamModel.load(args.model)
        with tempfile.TemporaryDirectory() as tmp:
            base = GesamModel.load(baseline_model(Path(tmp) / "baseline"))
            base_eval = evaluate_model(base, [KITS / k for k in BASELINE_TRAIN], common, args.cache, grid=args.grid,
                                       progress=False)
        shipped_common = evaluate_model(model, None, common, args.cache, grid=args.grid, progress=False)
        shipped_val = evaluate_model(model, None, [args.corpus / "val"], args.cache, grid=args.grid, progress=False)
        result = {"held_out_common": [str(p) for p in common], "baseline_commit": BASELINE_COMMIT,
                  "common_kits": compare(shipped_common, base_eval),
                  "shipped_common": shipped_common, "baseline_common": base_eval, "shipped_val": shipped_val,
                  "seconds": round(time.perf_counter() - t0, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for label, row in (result.get("common_kits") or {}).items():
        print(f"{label:55s} {row['shipped']!s:>10} vs {row['baseline']!s:>10}  ratio {row['ratio']}")
    print(result.get("skipped", f"written {args.out}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
