from pathlib import Path

import pytest

from gesam_engine.data.scan import find_audio_files
from gesam_engine.errors import ConfigError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_recursive_sorted_case_insensitive_hidden_skipped(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    wanted = [
        _touch(root / "a.WAV"),
        _touch(root / "b" / "c.Flac"),
        _touch(root / "b" / "d.aif"),
        _touch(root / "b" / "e" / "f.mp3"),
        _touch(root / "z.ogg"),
        _touch(root / "y.AIFF"),
    ]
    _touch(root / "notes.txt")
    _touch(root / "drumkit.xml")
    _touch(root / "wav")  # no extension
    _touch(root / ".hidden.wav")
    _touch(root / ".git" / "x.wav")
    _touch(root / "b" / ".cache" / "y.wav")
    found = find_audio_files([root])
    assert [f for f, _ in found] == sorted(wanted, key=lambda p: p.relative_to(root).as_posix())
    assert all(r == root for _, r in found)


def test_several_roots_keep_their_root_and_overlaps_are_listed_once(tmp_path: Path) -> None:
    a = _touch(tmp_path / "one" / "k.wav")
    b = _touch(tmp_path / "two" / "s.wav")
    found = find_audio_files([tmp_path / "one", tmp_path / "two", tmp_path])
    assert found == [(a, tmp_path / "one"), (b, tmp_path / "two")]


def test_missing_root_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere"):
        find_audio_files([tmp_path / "nowhere"])
    with pytest.raises(ConfigError, match="not a folder"):
        find_audio_files([_touch(tmp_path / "k.wav")])


def test_synth_kit_txt_is_not_audio(synth_kit: Path) -> None:
    names = {f.name for f, _ in find_audio_files([synth_kit])}
    assert "notes.txt" not in names
    assert {"empty.wav", "garbage.wav", "silent.wav", "truncated.flac"} <= names
    assert len(names) == 5 * 6 + 4
