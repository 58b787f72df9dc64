"""More than one process: PyTorch's own distributed runtime (torch.distributed, launched by torchrun).

``gesam train --nproc N`` and ``gesam bake --nproc N`` re-run themselves under ``torchrun
--standalone --nproc-per-node N`` (``launch``); the same commands started by torchrun directly
(several GPUs, several nodes: ``--nnodes M --rdzv-endpoint HOST:PORT``) find their rank in the
environment torchrun sets (``from_env``). Gloo on CPU, NCCL on GPUs, one GPU per local rank.
Rank 0 is the one that writes (checkpoints, the model, the bake index); every rank reads.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Sequence

import torch

from gesam_engine.child_signals import run_forwarding_signals
from gesam_engine.errors import ConfigError, GesamError

MAX_NPROC = 256
ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclasses.dataclass(frozen=True)
class Dist:
    """This process's place in a run: ``rank`` of ``world`` processes (``local_rank`` on its node),
    the backend (gloo or nccl) and the device it computes on. A single process is rank 0 of 1."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes checkpoints, the model and indexes, and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether a process group is running (more than one process)."""
        return self.world > 1

    def shard(self, n: int) -> range:
        """This rank's items of ``n``: every world-th one from its rank (items rank, rank + world, ...)."""
        return range(self.rank, n, self.world)

    def barrier(self) -> None:
        """Wait for every rank (nothing with one process)."""
        if self.active:
            torch.distributed.barrier()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (a picklable object made by our own code, never a user's file)."""
        if not self.active:
            return value
        box = [value if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``tensor`` over every rank (in place; returned)."""
        if self.active:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
        return tensor


SINGLE = Dist()


class PeerFailed(GesamError):
    """Rank 0 failed at a step every rank waits on (training or a bake); rank 0 says why, the
    others exit quietly."""


def check_nproc(nproc: int) -> int:
    """``--nproc`` checked: 1..MAX_NPROC; ConfigError saying so otherwise."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or not 1 <= nproc <= MAX_NPROC:
        raise ConfigError(f"--nproc must be an integer in 1..{MAX_NPROC}, got {nproc!r}")
    return nproc


def check_gpus(nproc: int, device: torch.device) -> None:
    """ConfigError before launching when ``nproc`` processes on CUDA would not each get a GPU."""
    if device.type == "cuda" and nproc > torch.cuda.device_count():
        raise ConfigError(f"--nproc {nproc} needs a GPU per process; this machine has {torch.cuda.device_count()} "
                          "(use --nproc at most that, or --device cpu)")


def under_torchrun() -> bool:
    """Whether torchrun (or another launcher that sets RANK and WORLD_SIZE) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def from_env(device: torch.device | None = None) -> Dist:
    """This process's Dist: SINGLE (on ``device``) unless torchrun started it with WORLD_SIZE > 1;
    then the process group is started here (gloo on CPU, NCCL on CUDA, one GPU per local rank).
    ConfigError for an environment that does not add up."""
    device = device or torch.device("cpu")
    if not under_torchrun():
        return dataclasses.replace(SINGLE, device=device)
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise ConfigError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers, got "
                          f"{[os.environ.get(k) for k in ENV_KEYS[:3]]}") from None
    if not 0 <= rank < world or local < 0:
        raise ConfigError(f"RANK {rank} must be in 0..WORLD_SIZE-1 ({world - 1}) and LOCAL_RANK ({local}) 0 or more")
    if world == 1:
        return dataclasses.replace(SINGLE, device=device)
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise ConfigError(f"RANK and WORLD_SIZE are set but {' and '.join(missing)} not: start gesam with torchrun "
                          "(or set the rendezvous address and port for every process)")
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ConfigError(f"local rank {local} has no GPU: this node has {torch.cuda.device_count()}; "
                              "run at most one process per GPU (--nproc-per-node)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend, rank=rank, world_size=world)
    return Dist(rank, world, local, backend, device)


def shutdown(dist: Dist) -> None:
    """End the process group (after the last collective)."""
    if dist.active and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``gesam ARGV`` in ``nproc`` processes on this machine under torchrun (``--standalone``:
    a free rendezvous port, no other node); the exit code of the run (the first failure's).
    ``argv`` must not hold ``--nproc`` itself."""
    check_nproc(nproc)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "gesam_engine.cli.main", *argv]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               # a stopped training run finishes its epoch and checkpoint before torchrun SIGKILLs it (default 30 s)
               TORCH_ELASTIC_SHUTDOWN_TIMEOUT=os.environ.get("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "600"))
    return run_forwarding_signals(cmd, env)  # Ctrl-C and SIGTERM reach torchrun (and its ranks) once


def without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--nproc N`` (or ``--nproc=N``) taken out: what each process runs."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        out.append(arg)
    return out
