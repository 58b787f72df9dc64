"""atomic_write / atomic_write_with: whole files or nothing, the user's umask, random temporary
names (a planted symlink is never followed), nothing left behind on error, stdlib only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.atomic_io import atomic_write, atomic_write_with, umask

pytestmark = pytest.mark.reliability


@pytest.fixture
def set_umask() -> Iterator[object]:
    """Call it with a umask; the test's own umask comes back afterwards."""
    before = os.umask(0o022)
    os.umask(before)
    yield lambda mask: os.umask(mask)
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_bytes_and_text_replace_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")
    assert atomic_write(target, b"\x00\x01new") == target
    assert target.read_bytes() == b"\x00\x01new"
    atomic_write(target, "grüße\n")
    assert target.read_text(encoding="utf-8") == "grüße\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_files_get_the_users_umask_not_0600(tmp_path: Path, set_umask, mask: int, expected: int) -> None:
    set_umask(mask)
    assert umask() == mask and os.umask(mask) == mask  # read without changing it
    atomic_write(tmp_path / "card.json", "{}")
    atomic_write_with(tmp_path / "x.npy", lambda fh: np.save(fh, np.zeros(3, np.float32), allow_pickle=False))
    assert mode(tmp_path / "card.json") == expected and mode(tmp_path / "x.npy") == expected


def test_a_writer_callback_writes_npy_and_wav(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    atomic_write_with(tmp_path / "f.npy", lambda fh: np.save(fh, arr, allow_pickle=False))
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy", allow_pickle=False), arr)
    wave = np.sin(np.linspace(0, 100, 4800)).astype(np.float32) * 0.5
    atomic_write_with(tmp_path / "s.wav", lambda fh: sf.write(fh, wave, 48000, subtype="PCM_24", format="WAV"))
    back, rate = sf.read(tmp_path / "s.wav", dtype="float32")
    assert rate == 48000 and np.allclose(back, wave, atol=1e-6)


def test_an_error_while_writing_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "kit.toml"
    target.write_text("old kit\n")

    def half(fh) -> None:
        fh.write(b"half a ki")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        atomic_write_with(target, half)
    assert target.read_text() == "old kit\n"
    assert [p.name for p in tmp_path.iterdir()] == ["kit.toml"]


def test_a_symlink_planted_at_the_old_predictable_temporary_name_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "folder"
    folder.mkdir()
    victim = outside / "victim"
    victim.write_text("precious")
    for name in (f".map.toml.{os.getpid()}.tmp", ".map.toml.tmp"):  # the names the old writers used
        (folder / name).symlink_to(victim)
    atomic_write(folder / "map.toml", "[midi]\n")
    assert victim.read_text() == "precious"
    assert (folder / "map.toml").read_text() == "[midi]\n" and not (folder / "map.toml").is_symlink()


def test_the_module_imports_only_the_standard_library() -> None:
    code = ("import sys; import gesam_engine.atomic_io; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'soundfile')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
