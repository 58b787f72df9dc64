"""The training corpus a model records: found again by content, or an error that names what is
missing or changed and how to override it."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from gesam_engine.errors import GesamError
from gesam_engine.evaluation.recorded_corpus import find_recorded_corpus


def _kit(root: Path, n: int = 3) -> list[Path]:
    paths = []
    for i in range(n):
        path = root / ("kicks" if i % 2 else "snares") / f"hit{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF" + bytes([i]) * 64)  # any bytes: only their sha256 is checked here
        paths.append(path)
    return paths


def _card(folders: list[Path], files: list[tuple[Path, int]]) -> dict[str, Any]:
    """A card recorded as `gesam train` records it: folders, and per file its relative path, folder and sha256."""
    return {"training": {"corpus": {"n_files": len(files), "folders": [str(f) for f in folders], "files": [
        {"path": p.relative_to(folders[i]).as_posix(), "folder": i, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p, i in files]}}}


def test_every_recorded_file_is_found_by_content(tmp_path: Path) -> None:
    a, b = tmp_path / "kit a", tmp_path / "kit b"
    files = [(p, 0) for p in _kit(a)] + [(p, 1) for p in _kit(b, 2)]
    (a / "added later.wav").write_bytes(b"new")  # a file the model never saw does not matter
    found = find_recorded_corpus(_card([a, b], files))
    assert found.folders == [a, b] and found.n_files == 5
    assert found.hashes == {hashlib.sha256(p.read_bytes()).hexdigest() for p, _ in files}


def test_a_missing_or_changed_file_is_named_and_train_is_offered(tmp_path: Path) -> None:
    a = tmp_path / "kit"
    paths = _kit(a, 4)
    card = _card([a], [(p, 0) for p in paths])
    paths[0].unlink()
    paths[1].write_bytes(b"edited")
    with pytest.raises(GesamError) as err:
        find_recorded_corpus(card)
    message = str(err.value)
    assert "1 are missing" in message and "1 changed" in message
    assert str(paths[0]) in message and str(paths[1]) in message and str(paths[2]) not in message
    assert "--train DIR" in message


def test_a_moved_folder_is_named(tmp_path: Path) -> None:
    a = tmp_path / "kit"
    card = _card([a], [(p, 0) for p in _kit(a, 3)])
    shutil.move(str(a), str(tmp_path / "elsewhere"))
    with pytest.raises(GesamError, match=r"folders gone \[1\]: .*kit(.|\n)*missing \[3\]"):
        find_recorded_corpus(card)


@pytest.mark.parametrize("card", [
    {},
    {"training": {"corpus": {"n_files": 526, "class_counts": {"kick": 38}}}},  # the shipped model's card
])
def test_a_card_without_a_record_says_to_give_train(card: dict[str, Any]) -> None:
    with pytest.raises(GesamError, match=r"records no training corpus.*--train DIR"):
        find_recorded_corpus(card)


@pytest.mark.parametrize("files", [
    [{"path": "a.wav", "folder": 3, "sha256": "00"}],  # no such folder index
    [{"path": "a.wav", "sha256": "00"}],  # no folder at all
])
def test_a_malformed_record_is_an_error_not_a_crash(tmp_path: Path, files: list[dict[str, Any]]) -> None:
    with pytest.raises(GesamError, match="--train DIR"):
        find_recorded_corpus({"training": {"corpus": {"folders": [str(tmp_path)], "files": files}}})
