"""``gesam bake --nproc N``: the grid shared out over processes under torchrun (gloo, for real),
byte for byte the 1-process bake; a rank killed mid-bake (SIGKILL, through the documented test
hook ``GESAM_BAKE_TEST_KILL``) loses only rows past the index's ``done``, and a resume redoes them."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from gesam_engine.cli.main import main
from gesam_engine.errors import CheckpointError
from gesam_engine.maps.bake_exchange import KILL_ENV
from gesam_engine.maps.map_bake import plan_chunks, read_index
from tests.tiny import tiny_model

GRID, BATCH = 8, 10  # 64 sounds in 7 chunks, the last one of 4: rounds of 2 chunks, the 4th with one
ARRAYS = ("frames.npy", "audio.npy")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """This process computes with one thread, as each torchrun process does (OMP_NUM_THREADS=1):
    CPU sums depend on the thread count, so byte-for-byte equality needs the same count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(0.25).save(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(autouse=True)
def one_thread_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv(KILL_ENV, raising=False)


def bake_argv(model_dir: Path, out: Path, *more: str, grid: int = GRID) -> list[str]:
    return ["bake", "--model", str(model_dir), "--out", str(out), "--grid", str(grid), "--batch", str(BATCH),
            "--iters", "4", "--device", "cpu", "-q", *more]


@pytest.fixture(scope="module")
def reference(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 1-process bake, uninterrupted, in this process."""
    out = tmp_path_factory.mktemp("one")
    with one_thread():
        assert main(bake_argv(model_dir, out)) == 0
    return out / "bake"


def assert_same_bytes(bake: Path, reference: Path) -> None:
    for name in ARRAYS:
        assert (bake / name).read_bytes() == (reference / name).read_bytes(), name
    assert read_index(bake).complete


def test_chunks_are_cut_at_multiples_of_the_batch() -> None:
    assert plan_chunks(0, 64, 10) == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60), (60, 64)]
    assert plan_chunks(20, 64, 10)[0] == (20, 30) and plan_chunks(64, 64, 10) == []
    assert plan_chunks(5, 16, 4) == [(5, 8), (8, 12), (12, 16)]  # resumed with another batch: the same cuts after the first


def test_an_index_counting_past_the_grid_is_refused(model_dir: Path, tmp_path: Path) -> None:
    with one_thread():
        assert main(bake_argv(model_dir, tmp_path, grid=2)) == 0
    path = tmp_path / "bake" / "index.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "done": 5}))
    with pytest.raises(CheckpointError, match=r"done 5 is outside 0\.\.4"):
        read_index(tmp_path / "bake")


def test_nproc_zero_is_refused(model_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(bake_argv(model_dir, tmp_path, "--nproc", "0")) == 2
    assert "--nproc must be an integer in 1..256, got 0" in capfd.readouterr().err


def test_another_bake_in_the_folder_is_refused_before_any_process_starts(
        model_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert main(bake_argv(model_dir, tmp_path, grid=2)) == 0
    capfd.readouterr()
    assert main(bake_argv(model_dir, tmp_path, "--nproc", "2")) == 2
    err = capfd.readouterr().err
    assert err.count("error:") == 1 and "holds a different bake" in err and "--force" in err
    assert "torch.distributed" not in err and read_index(tmp_path / "bake").grid == 2  # nothing started, nothing touched


@pytest.mark.slow
def test_two_processes_bake_the_bytes_of_one(model_dir: Path, reference: Path, tmp_path: Path,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    assert main(bake_argv(model_dir, tmp_path, "--nproc", "2")) == 0
    out = capfd.readouterr().out
    assert_same_bytes(tmp_path / "bake", reference)
    # rank 0 alone reports, for the whole run; rank 1 is quiet
    assert out.count("baked ") == 1 and "baked 64 sounds" in out and "on 2 processes (gloo, cpu)" in out
    assert out.count("wrote ") == 1 and "(64 of 64 sounds)" in out
    index = json.loads((tmp_path / "bake" / "index.json").read_text())
    assert index["done"] == 64 and index["seconds"] > 0


@pytest.mark.slow
def test_a_rank_killed_mid_bake_is_redone_on_resume(model_dir: Path, reference: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    # rank 1 hands in its first chunk (rows 10-19), then is SIGKILLed holding its second (rows 30-39)
    monkeypatch.setenv(KILL_ENV, "1:1")
    assert main(bake_argv(model_dir, tmp_path, "--nproc", "2")) == 2
    assert "run the same command again to finish it" in capfd.readouterr().err
    done = read_index(tmp_path / "bake").done
    assert done in (0, 20)  # round 1 never completes; round 0 is counted unless rank 0 was stopped first
    monkeypatch.delenv(KILL_ENV)
    with one_thread():  # resumed by one process
        assert main(bake_argv(model_dir, tmp_path)) == 0
    assert f"baked {64 - done} sounds" in capfd.readouterr().out
    assert_same_bytes(tmp_path / "bake", reference)


@pytest.mark.slow
def test_rows_written_by_a_killed_rank_0_but_not_counted_are_baked_again(
        model_dir: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    # rank 0 writes rounds 0-2 and counts them, writes round 3's rows (60-63) and is SIGKILLed before counting them
    monkeypatch.setenv(KILL_ENV, "0:3")
    assert main(bake_argv(model_dir, tmp_path, "--nproc", "2")) == 2
    bake = tmp_path / "bake"
    assert read_index(bake).done == 60
    for name in ARRAYS:  # spoil the uncounted rows: a resume that trusted them would keep this
        arr = np.load(bake / name, mmap_mode="r+", allow_pickle=False)
        np.testing.assert_array_equal(arr[60:], np.load(reference / name, mmap_mode="r")[60:])  # they were written
        arr[60:] = np.nan
        arr.flush()
        del arr
    monkeypatch.delenv(KILL_ENV)
    capfd.readouterr()
    assert main(bake_argv(model_dir, tmp_path, "--nproc", "2")) == 0  # one chunk left: rank 1 has none (idle)
    assert "baked 4 sounds" in capfd.readouterr().out
    assert_same_bytes(bake, reference)
