"""distributed.py without a process group: the environment torchrun sets is read and checked,
--nproc is stripped for the relaunch, and bad values are refused with what is valid."""

from __future__ import annotations

import pytest
import torch

from gesam_engine.distributed import SINGLE, Dist, check_nproc, from_env, under_torchrun, without_nproc
from gesam_engine.errors import ConfigError


def test_one_process_is_rank_0_of_1_and_shards_everything() -> None:
    assert (SINGLE.rank, SINGLE.world, SINGLE.is_main, SINGLE.active) == (0, 1, True, False)
    assert list(Dist(rank=1, world=3).shard(8)) == [1, 4, 7]
    assert SINGLE.broadcast({"a": 1}) == {"a": 1}


def test_without_nproc_takes_out_both_spellings() -> None:
    argv = ["bake", "--grid", "8", "--nproc", "2", "--nproc=3", "--batch", "4"]
    assert without_nproc(argv) == ["bake", "--grid", "8", "--batch", "4"]


@pytest.mark.parametrize("bad", [0, -1, 257, 2.0, True, "2"])
def test_bad_nproc_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="--nproc must be an integer in 1..256"):
        check_nproc(bad)  # type: ignore[arg-type]


def test_the_environment_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    assert not under_torchrun() and from_env() == SINGLE
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert from_env(torch.device("cpu")) == SINGLE  # torchrun with one process: no group
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="MASTER_ADDR and MASTER_PORT not: start gesam with torchrun"):
        from_env()
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ConfigError, match=r"RANK 2 must be in 0..WORLD_SIZE-1 \(1\)"):
        from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="must be integers"):
        from_env()
