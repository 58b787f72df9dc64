"""``gesam bake`` end to end on a tiny model directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gesam_engine.cli.main import main
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps import load_bake
from tests.tiny import tiny_model


def test_bake_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tiny_model(0.25).save(tmp_path / "model")
    argv = ["bake", "--model", str(model_dir), "--grid", "3", "--batch", "4", "--iters", "2", "--device", "cpu", "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sounds/s" in out and str(model_dir / "map" / "bake") in out
    points, frames, audio, index = load_bake(model_dir / "map" / "bake", GesamModel.load(model_dir))
    assert frames.shape[0] == 9 and audio is not None and audio.shape[0] == 9 and index.settings["iters"] == 2
    GesamModel.load(model_dir)  # the map/ folder does not upset loading

    assert main(argv) == 0  # a rerun of a finished bake does nothing
    assert "nothing to do" in capsys.readouterr().out
    assert main([*argv[:4], "4", *argv[5:]]) == 2  # another grid without --force
    err = capsys.readouterr().err
    assert "gesam bake: error:" in err and "--force" in err
    assert main([*argv[:4], "4", *argv[5:], "--force"]) == 0
    assert load_bake(model_dir / "map" / "bake")[1].shape[0] == 16


def test_bake_cli_out_and_frames_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tiny_model(0.25).save(tmp_path / "model")
    out = tmp_path / "elsewhere"
    assert main(["bake", "--model", str(model_dir), "--grid", "2", "--out", str(out), "--frames-only", "-q"]) == 0
    assert not (model_dir / "map").exists()
    index = json.loads((out / "bake" / "index.json").read_text())
    assert index["done"] == 4 and index["files"]["audio"] is None
    assert np.load(out / "bake" / "frames.npy", allow_pickle=False).dtype == np.float16
    assert "frames" in capsys.readouterr().out


def test_bake_cli_refuses_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_dir = tiny_model(0.25).save(tmp_path / "model")
    assert main(["bake", "--model", str(model_dir), "--grid", "0"]) == 2
    assert "grid must be in 1..1024" in capsys.readouterr().err
    assert main(["bake", "--model", str(tmp_path / "missing"), "--grid", "2"]) == 2
