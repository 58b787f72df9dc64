"""Run by test_ddp_loop under torchrun (``-m tests.training.ddp_worker OUT``): the training loop in a
real gloo process group on a noise-free problem, and a stop asked of rank 1 alone. Each rank writes
what it saw to OUT/rank<r>.json; rank 0 also the weights (OUT/<case>.safetensors) and the checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from gesam_engine.distributed import SINGLE, Dist, from_env, shutdown
from gesam_engine.models.regularizers import repulsion_loss
from gesam_engine.training.ddp import BatchGather, wrap
from gesam_engine.training.loop import run_epochs
from gesam_engine.training.resume import Checkpointer, StopRequest, TrainingStopped

SIZES = (21, 17)  # batches of 8: a last batch of 5 (split 3 + 2) and one of 1 (rank 1 steps on it with weight 0)
STOP_RANK, STOP_EPOCH = 1, 2


def problem(n: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A small regression with no noise anywhere: two runs that average the same gradients agree."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x = torch.randn(n, 4)  # (N, 4)
    return module, x, (x[:, :1] * x[:, 1:2]).sin()  # (N, 1)


def train(n: int, dist: Dist = SINGLE, epochs: int = 5, on_epoch: Any = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``problem(n)`` trained by run_epochs (gradient clipping on, and biting: max norm 0.05), with a
    per-item term and one over the whole batch (gathered, as the VAE's repulsion)."""
    module, x, y = problem(n)
    net = wrap(module, dist)
    gather = BatchGather(dist)

    def step(idx: torch.Tensor, epoch: float) -> tuple[torch.Tensor, dict[str, float]]:
        out = net(x[idx])  # (b, 1)
        fit = torch.nn.functional.mse_loss(out, y[idx])
        spread = repulsion_loss(gather(out, idx)[0], 0.5)
        loss = fit + 0.5 * spread
        return loss, {"loss": loss.item(), "spread": spread.item()}

    history = run_epochs(module, n, step, epochs=epochs, batch_size=8, lr=3e-2, weight_decay=0.01, grad_clip=0.05,
                         seed=5, device=torch.device("cpu"), desc="ddp test", progress=False, on_epoch=on_epoch,
                         dist=dist)
    return module, history


class StopOnOneRank(StopRequest):
    """As a signal that reached rank ``STOP_RANK`` alone, after ``STOP_EPOCH`` epochs."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def check(self, stage: str, epoch: int) -> bool:
        if self.rank == STOP_RANK and epoch == STOP_EPOCH:
            self.reason = "test stop"
        return self.reason is not None


def main(out: Path) -> None:
    torch.set_num_threads(1)
    dist = from_env()
    seen: dict[str, Any] = {"rank": dist.rank, "world": dist.world}
    for n in SIZES:
        module, history = train(n, dist)
        seen[f"history{n}"] = history
        if dist.is_main:
            save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(out / f"n{n}.safetensors"))
    ckpt = Checkpointer(out / "model", every_s=1e9, stop=StopOnOneRank(dist.rank), progress=False, dist=dist)
    ckpt.begin({"train": {}}, {"folders": [], "files": [], "sha256": "0" * 64}, torch.device("cpu"))
    try:
        train(SIZES[0], dist, epochs=6, on_epoch=ckpt.hook("vae"))
    except TrainingStopped as exc:
        seen["stopped"] = str(exc)
    (out / f"rank{dist.rank}.json").write_text(json.dumps(seen))
    shutdown(dist)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
