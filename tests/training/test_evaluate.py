"""The paper's evaluation on a held-out kit: every method scored, figures sane, kept in model.json;
the audio, realism and loudness figures finite; the recorded training corpus found without --train."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from gesam_engine.cli.main import main
from gesam_engine.data.synth import write_synth_kit
from gesam_engine.gesam_model import GesamModel

TINY = Path(__file__).parents[1] / "tiny_config.toml"
METHODS = ("transformer", "vae_reconstruction", "knn5_average")


@pytest.fixture(scope="module")
def trained(synth_kit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained on the synth kit (its own directory, shared by this module's tests)."""
    root = tmp_path_factory.mktemp("evaluate")
    assert main(["train", "--data", str(synth_kit), "-o", str(root / "model"), "--config", str(TINY),
                 "--cache", str(root / "cache"), "-q"]) == 0
    return root / "model"


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("other_kit")
    write_synth_kit(folder, per_class=3, seed=7, broken=False)
    return folder


def _numbers(tree: Any) -> Iterator[float]:
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _numbers(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _numbers(v)
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield float(tree)


def _record_corpus(model_dir: Path, kit: Path, cache: Path) -> None:
    """Write the training corpus into model.json as `gesam train` records it (folders + files with
    sha256), rebuilding the corpus from ``kit`` with the model's own settings."""
    from gesam_engine.config import from_dict
    from gesam_engine.data import build_corpus, load_label_config
    from gesam_engine.data.preprocess import PreprocessConfig

    card = json.loads((model_dir / "model.json").read_text())
    corpus = card["training"]["corpus"]
    model = GesamModel.load(model_dir)
    s = card["settings"]
    built = build_corpus([kit], model.codec, from_dict(PreprocessConfig, s["preprocess"], "preprocess"),
                         load_label_config(s["labels"]), cache, progress=False)
    corpus["folders"] = [str(kit.resolve())]
    corpus["files"] = [{"path": os.path.relpath(it.path, it.root), "folder": 0, "sha256": it.content_hash}
                       for it in built.items]
    (model_dir / "model.json").write_text(json.dumps(card, indent=2) + "\n")


@pytest.mark.slow
def test_evaluate_a_held_out_kit(trained: Path, synth_kit: Path, held_out: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(trained, model_dir)
    capsys.readouterr()
    argv = ["evaluate", "--model", str(model_dir), "--train", str(synth_kit), "--val", str(held_out),
            "--cache", str(tmp_path / "cache"), "--grid", "4", "--write", "--json", str(tmp_path / "eval.json"), "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| transformer |" in out and "| knn5_average |" in out and "transformer best on both" in out
    assert "MR-STFT" in out and "Fréchet" in out and "4 x 4 transformer grid" in out and "LUFS" in out
    card = json.loads((model_dir / "model.json").read_text())
    ev = card["evaluation"]
    assert ev == json.loads((tmp_path / "eval.json").read_text())
    assert ev["held_out"]["n_sounds"] == 15 and ev["held_out"]["dropped_duplicates_of_training"] == 0
    assert ev["training"]["source"] == "--train"
    for method in METHODS:
        row = ev["methods"][method]
        assert 0 < row["frame_mae"] < 5 and 0 <= row["class_match"] <= 1
        assert 0 < row["mrstft"] < 10 and -80 < row["lufs_vs_original"] < 80
    assert 0 < ev["codec"]["mrstft_round_trip"] < ev["codec"]["mrstft_silence_reference"]
    assert 0 < ev["codec_round_trip_mrstft"] < ev["silence_mrstft"]
    assert 0 <= ev["classifier_accuracy_originals"] <= 1 and 0 <= ev["map_nn1_same_label"] <= 1
    f = ev["frechet"]
    assert f["n_grid"] == 16 and f["n_held_out"] == 15 and f["n_training"] == 16
    # the held-out sounds through the codec are nearer to themselves than other sounds are
    assert 0 <= f["codec_round_trip"] < min(f["transformer_grid"], f["training_sounds"])
    for name in ("transformer", "vae_decoder"):
        g = ev["grid"][name]
        assert -70 <= g["lufs_p10"] <= g["lufs_median"] <= g["lufs_p90"] <= 0
        assert 0 <= g["share_below_-24_lufs"] <= 1 and 0 <= g["lufs_cliff_share"] <= 1
    assert all(math.isfinite(v) for v in _numbers(ev))
    GesamModel.load(model_dir)  # the rewritten card still loads: sha256 of the weights unchanged

    # a held-out folder that is the training folder: every sound dropped, a clear error
    assert main([*argv[:5], "--val", str(synth_kit), "--cache", str(tmp_path / "cache"), "-q"]) == 2
    assert "hold out other kits" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_without_train_finds_the_recorded_corpus(trained: Path, synth_kit: Path, held_out: Path,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kit = tmp_path / "kit"  # a copy the test may damage; the record points at it
    shutil.copytree(synth_kit, kit)
    model_dir = tmp_path / "model"
    shutil.copytree(trained, model_dir)
    cache = tmp_path / "cache"
    argv = ["evaluate", "--model", str(model_dir), "--val", str(held_out), "--cache", str(cache), "--grid", "0", "-q"]

    card = json.loads((model_dir / "model.json").read_text())
    recorded = card["training"]["corpus"]
    if recorded.get("folders"):  # the trainer recorded synth_kit itself: point the record at the copy
        recorded["folders"] = [str(kit.resolve())]
        (model_dir / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    else:  # a trainer that does not record yet: record as it will, after proving evaluation needs it
        assert main(argv) == 2
        _record_corpus(model_dir, kit, cache)
        card["training"]["corpus"] = json.loads((model_dir / "model.json").read_text())["training"]["corpus"]
    capsys.readouterr()

    assert main([*argv, "--json", str(tmp_path / "recorded.json")]) == 0
    assert "training: 30 sounds as recorded in model.json" in capsys.readouterr().out
    assert main([*argv, "--train", str(synth_kit), "--json", str(tmp_path / "given.json")]) == 0
    recorded_ev, given_ev = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("recorded", "given"))
    assert recorded_ev["training"]["source"] == "model.json" and given_ev["training"]["source"] == "--train"
    assert recorded_ev["training"]["n_recorded"] == recorded_ev["training"]["n_sounds"] == 30
    assert recorded_ev["methods"] == given_ev["methods"]  # the same training sounds: the same 5-NN, the same table
    assert recorded_ev["map_nn1_same_label"] == given_ev["map_nn1_same_label"]

    # a changed and a missing training file: both named, and --train offered
    files = card["training"]["corpus"]["files"]
    changed, missing = kit / files[0]["path"], kit / files[1]["path"]
    changed.write_bytes(changed.read_bytes()[:-2] + b"\x00\x01")
    missing.unlink()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(changed) in err and str(missing) in err and "1 are missing" in err and "1 changed" in err
    assert "--train DIR" in err
    assert hashlib.sha256(changed.read_bytes()).hexdigest() != files[0]["sha256"]

    # the shipped model's kind of card (no record at all): the error says to give --train
    card["training"]["corpus"] = {"n_files": 30}
    (model_dir / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    assert main(argv) == 2
    assert "records no training corpus" in capsys.readouterr().err
