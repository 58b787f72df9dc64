"""``gesam kit new`` and ``gesam kit export`` through the real entry point, with a tiny saved model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.cli.main import main
from gesam_engine.gesam_model import GesamModel
from gesam_engine.runtime.kits import default_kit, load_kit
from tests.runtime.test_kits import check_sfz
from tests.tiny import tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kit_cmd") / "model"
    tiny_model(0.2).save(directory)
    return directory


def test_kit_new_writes_the_default_kit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kits" / "my-kit.toml"
    assert main(["kit", "new", str(path)]) == 0
    assert load_kit(path) == default_kit(name="my-kit")
    assert "wrote" in capsys.readouterr().out
    assert main(["kit", "new", str(path), "--name", "Other"]) == 2  # no --force
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(["kit", "new", str(path), "--name", "Other", "--force"]) == 0
    assert load_kit(path).name == "Other"


def test_kit_export_renders_every_pad(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kit_file = tmp_path / "k.toml"
    kit_file.write_text('name = "edited"\n[[pads]]\nname = "kick"\n[[pads]]\nchoke = 2\n[[pads]]\nchoke = 2\npitch = -1.5\n')
    out = tmp_path / "sfz"
    assert main(["kit", "export", "--sfz", str(out), "--kit", str(kit_file), "--model", str(model_dir)]) == 0
    assert "wrote" in capsys.readouterr().out
    kit = load_kit(kit_file)
    regions = check_sfz(out / "kit.sfz", kit)
    model = GesamModel.load(model_dir)
    for r in regions:
        wave, rate = sf.read(str(out / r["sample"]), dtype="float32")
        assert rate == model.sample_rate and len(wave) == model.n_samples
        assert np.sqrt(np.mean(wave**2)) > 1e-3  # not silent
    assert regions[0]["sample"] == "samples/pad_00_kick.wav"
    assert regions[1]["group"] == regions[2]["group"] == regions[2]["off_by"] == "3"

    args = ["kit", "export", "--sfz", str(out), "--model", str(model_dir)]
    assert main(args) == 2  # no --force
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main(args + ["--force", "--first-note", "60"]) == 0  # the default kit
    regions = check_sfz(out / "kit.sfz", default_kit(), first_note=60)
    assert sorted(p.name for p in (out / "samples").iterdir()) == sorted(r["sample"][8:] for r in regions)


@pytest.mark.parametrize(("extra", "message"), [
    (["--first-note", "120"], r"--first-note must be in 0\.\.112"),
    (["--iters", "-1"], r"--iters must be in 0\.\.1000"),
    (["--kit", "{tmp}/missing.toml"], "does not exist"),
    (["--model", "{tmp}/no-model"], "no-model"),
])
def test_kit_export_errors_are_one_line(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str],
                                        extra: list[str], message: str) -> None:
    extra = [e.format(tmp=tmp_path) for e in extra]
    args = ["kit", "export", "--sfz", str(tmp_path / "out"), "--model", str(model_dir)] + extra
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("gesam kit: error:") and len(err.strip().splitlines()) == 1
    assert re.search(message, err)
    assert not (tmp_path / "out" / "kit.sfz").exists()


def test_kit_export_without_a_model_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import gesam_engine.model_paths as model_paths

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(model_paths.ENV_VAR, raising=False)
    monkeypatch.setattr(model_paths, "PACKAGE_ROOT", tmp_path / "elsewhere")  # no shipped model beside the package
    assert main(["kit", "export", "--sfz", "out"]) == 2
    assert "no model found (looked in models/default, build/demo/model" in capsys.readouterr().err


def test_kit_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["kit"])
    assert "new" in capsys.readouterr().err
