"""The training loop across processes: two gloo processes under torchrun (for real) step exactly as
one process does on a noise-free problem (same shuffle, each rank its part of every global batch,
gradients averaged by DDP with each part weighted by its share), and a stop asked of one rank stops
both after the same epoch with one checkpoint written by rank 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gesam_engine.distributed import Dist
from gesam_engine.errors import ConfigError
from gesam_engine.training.ddp import check_batch, rank_part
from gesam_engine.training.resume import STATE
from tests.training.ddp_worker import SIZES, STOP_EPOCH, train

ROOT = Path(__file__).parents[2]


def test_each_rank_takes_a_contiguous_part_of_the_global_batch_and_its_share():
    batch = torch.arange(5)
    parts = [rank_part(batch, Dist(rank=r, world=2)) for r in (0, 1)]
    assert [p.tolist() for p, _ in parts] == [[0, 1, 2], [3, 4]] and [s for _, s in parts] == [0.6, 0.4]
    # a last batch smaller than the world: the rank without items steps on one, weighted 0
    assert [(p.tolist(), s) for p, s in (rank_part(torch.tensor([7]), Dist(rank=r, world=2)) for r in (0, 1))] == [
        ([7], 1.0), ([7], 0.0)]
    assert rank_part(batch, Dist())[0] is batch and rank_part(batch, Dist())[1] == 1.0
    check_batch(4, Dist(rank=0, world=4))
    with pytest.raises(ConfigError, match=r"batch_size \(3\) is the global batch, split over the 4 processes"):
        check_batch(3, Dist(rank=0, world=4))


@pytest.mark.slow
def test_two_processes_train_as_one_and_stop_together(tmp_path: Path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           "-m", "tests.training.ddp_worker", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world"]) for r in ranks] == [(0, 2), (1, 2)]
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as each process did: CPU sums depend on the thread count
    try:
        for n in SIZES:
            module, history = train(n)
            got = load_file(str(tmp_path / f"n{n}.safetensors"))
            worst = max((got[k] - v).abs().max().item() for k, v in module.state_dict().items())
            assert worst <= 1e-6, f"{n} items: the 2-process weights differ from the 1-process ones by {worst}"
            for seen in ranks:  # the epoch figures are the global batch's, the same on every rank
                assert seen[f"history{n}"]["final"]["loss"] == pytest.approx(history["final"]["loss"], rel=1e-5)
                assert seen[f"history{n}"]["first"]["loss"] == pytest.approx(history["first"]["loss"], rel=1e-5)
    finally:
        torch.set_num_threads(before)
    for seen in ranks:
        assert f"stopped after stage 1 VAE, epoch {STOP_EPOCH}/6" in seen["stopped"]
    state = json.loads((tmp_path / "model.partial" / STATE).read_text())
    assert state["current"]["stage"] == "vae" and state["current"]["epoch"] == STOP_EPOCH
    assert len(list((tmp_path / "model.partial").glob("checkpoint-*.safetensors"))) == 1
