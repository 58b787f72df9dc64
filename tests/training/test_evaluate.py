"""The paper's evaluation on a held-out kit: every method scored, figures sane, kept in model.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gesam_engine.cli.main import main
from gesam_engine.data.synth import write_synth_kit
from gesam_engine.gesam_model import GesamModel

TINY = Path(__file__).parents[1] / "tiny_config.toml"


@pytest.mark.slow
def test_evaluate_a_held_out_kit(synth_kit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    held_out = tmp_path / "other_kit"
    write_synth_kit(held_out, per_class=3, seed=7, broken=False)
    model_dir = tmp_path / "model"
    assert main(["train", "--data", str(synth_kit), "-o", str(model_dir), "--config", str(TINY),
                 "--cache", str(tmp_path / "cache"), "-q"]) == 0
    capsys.readouterr()
    argv = ["evaluate", "--model", str(model_dir), "--train", str(synth_kit), "--val", str(held_out),
            "--cache", str(tmp_path / "cache"), "--write", "--json", str(tmp_path / "eval.json"), "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| transformer |" in out and "| knn5_average |" in out and "transformer best on both" in out
    card = json.loads((model_dir / "model.json").read_text())
    ev = card["evaluation"]
    assert ev == json.loads((tmp_path / "eval.json").read_text())
    assert ev["held_out"]["n_sounds"] == 15 and ev["held_out"]["dropped_duplicates_of_training"] == 0
    for method in ("transformer", "vae_reconstruction", "knn5_average"):
        row = ev["methods"][method]
        assert 0 < row["frame_mae"] < 5 and 0 <= row["class_match"] <= 1
    assert 0 < ev["codec"]["mrstft_round_trip"] < ev["codec"]["mrstft_silence_reference"]
    GesamModel.load(model_dir)  # the rewritten card still loads: sha256 of the weights unchanged

    # a held-out folder that is the training folder: every sound dropped, a clear error
    assert main([*argv[:5], "--val", str(synth_kit), "--cache", str(tmp_path / "cache"), "-q"]) == 2
    assert "hold out other kits" in capsys.readouterr().err
