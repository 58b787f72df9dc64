import json
from pathlib import Path

import pytest

from gesam_engine.cli import corpus_cmd
from gesam_engine.cli.main import main
from gesam_engine.data.sources.packages import DEFAULT_SOURCES


def test_build_and_info_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus"
    args = ["corpus", "build", "--out", str(out), "--sources", "synth", "--synth-kits", "4",
            "--synth-per-class", "1", "--val-fraction", "0.3", "--quiet", "--json", str(tmp_path / "counts.json")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "sounds kept of 20 hits" in printed and "train by label" in printed
    counts = json.loads((tmp_path / "counts.json").read_text())
    assert counts["hits"] == 20 and counts["per_source"]["synth"] == counts["total"]
    assert set(counts["per_split"]) == {"train", "val"}
    assert (out / "manifest.json").exists() and any((out / "train" / "synth").iterdir())

    assert main(["corpus", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((out / "manifest.json").read_text())["counts"]

    assert main(args) == 2  # an existing corpus needs --force
    assert "--force" in capsys.readouterr().err


def test_bad_arguments_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["corpus", "build", "--out", str(tmp_path), "--sources", "hydrogen,samples"]) == 2
    assert "valid sources are" in capsys.readouterr().err
    assert main(["corpus", "build", "--out", str(tmp_path), "--sources", "synth", "--val-fraction", "1.5"]) == 2
    assert "val_fraction" in capsys.readouterr().err
    assert main(["corpus", "info", str(tmp_path)]) == 2
    assert "gesam corpus build" in capsys.readouterr().err


def test_the_cli_default_sources_are_the_package_defaults() -> None:
    assert corpus_cmd.DEFAULT_SOURCES == DEFAULT_SOURCES
