"""Training stages across processes (DistributedDataParallel, launched by torchrun).

Every rank walks the same seeded shuffle and takes its contiguous part of each global batch
(``train.batch_size`` items whatever the number of processes, so an epoch has as many steps as
with one); DDP averages the gradients, each rank's loss weighted by its share of the batch, and
terms over the batch as a whole see every rank's rows (``BatchGather``), so a step is the
one-process step but for each rank's own noise. Per-epoch figures, stop requests and what rank 0
alone reads or computes are agreed over the process group. With one process all of it is a no-op.
"""

from __future__ import annotations

import datetime
import hashlib
import random
from typing import Any, Callable, TypeVar, cast

import numpy as np
import torch

from gesam_engine.distributed import Dist, PeerFailed
from gesam_engine.errors import ConfigError

T = TypeVar("T")
# Rank 0 may scan and encode a large corpus (hours) while the others wait on it: the default 30-minute
# collective timeout would end the run, so those waits go through a gloo group of their own with this one.
PATIENT = datetime.timedelta(days=2)


def check_batch(batch_size: int, dist: Dist) -> None:
    """ConfigError unless every process gets at least one item of each full batch."""
    if batch_size < dist.world:
        raise ConfigError(f"train.batch_size ({batch_size}) is the global batch, split over the {dist.world} processes; "
                          f"it must be at least {dist.world} (one item per process): raise it or use fewer processes")


def wrap(module: torch.nn.Module, dist: Dist) -> torch.nn.Module:
    """``module`` inside DistributedDataParallel when several processes train (rank 0's weights are
    copied to every rank here); the module itself with one. Call the wrapper, keep the module's own
    methods and state_dict on ``module``."""
    if not dist.active:
        return module
    ids = [dist.device.index] if dist.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def rank_part(batch: torch.Tensor, dist: Dist) -> tuple[torch.Tensor, float]:
    """This rank's items of a global ``batch`` (contiguous; sizes within one of each other) and their
    share of it. A rank left without items (a last batch smaller than the world) gets the batch's
    first item with share 0: every rank must run the step, for DDP's gradient all-reduce."""
    if not dist.active:
        return batch, 1.0
    part = torch.tensor_split(batch, dist.world)[dist.rank]
    if part.numel() == 0:
        return batch[:1], 0.0
    return part, part.numel() / batch.numel()


def reseed(seed: int, epoch: int, dist: Dist) -> None:
    """Give each rank its own noise for ``epoch`` (torch, CUDA, numpy, random), derived from (seed,
    epoch, rank) so a resumed run draws what an uninterrupted one would. Nothing with one process:
    there the generators run on from the checkpoint as they always have."""
    if not dist.active:
        return
    digest = hashlib.sha256(f"gesam-ddp/{seed}/{epoch}/{dist.rank}".encode()).digest()
    value = int.from_bytes(digest[:8], "little") >> 1
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    random.seed(value)


def sum_over_ranks(values: dict[str, float], dist: Dist) -> dict[str, float]:
    """Each figure summed over every rank (same keys in the same order on every rank)."""
    if not dist.active or not values:
        return values
    total = dist.all_reduce_sum(torch.tensor(list(values.values()), dtype=torch.float64, device=dist.device))
    return dict(zip(values, total.cpu().tolist()))


def any_rank(flag: bool, dist: Dist) -> bool:
    """Whether ``flag`` is true on any rank: a stop asked of one process stops all at the same epoch."""
    if not dist.active:
        return flag
    return bool(dist.all_reduce_sum(torch.tensor([int(flag)], device=dist.device)).item() > 0)


class BatchGather:
    """The rows of the whole global batch on every rank, for loss terms over the batch as a whole
    (the VAE's repulsion between points, the classifier's class-weighted mean): computed on the
    gathered rows, such a term is the one-process term, and its gradient reaches each rank's own
    rows (the backward sums every rank's gradient; with run_epochs' weighting and DDP's mean that
    is exactly the one-process gradient). Made on every rank (a collective); identity with one process.
    Its collectives go through a process group of their own, apart from DDP's gradient all-reduce."""

    def __init__(self, dist: Dist) -> None:
        self.dist = dist
        self.group = torch.distributed.new_group() if dist.active else None

    def __call__(self, rows: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows [B, ...], their batch indices [B]) of every rank's part, in the global batch's order,
        from this rank's ``rows`` [b, ...] and ``idx`` [b]. A part borrowed by a rank without items of
        its own (``rank_part``: the batch's first item, which rank 0's part starts with) adds nothing."""
        if not self.dist.active:
            return rows, idx
        return cast(tuple[torch.Tensor, torch.Tensor], _Gather.apply(rows, idx, self))  # type: ignore[no-untyped-call]

    def all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """``tensor`` of every rank, by rank (all the same shape)."""
        out = [torch.empty_like(tensor) for _ in range(self.dist.world)]
        torch.distributed.all_gather(out, tensor.contiguous(), group=self.group)
        return out


class _Gather(torch.autograd.Function):
    """BatchGather's rows: padded all-gather forward; backward, the summed gradient's own slice."""

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, idx: torch.Tensor, gather: BatchGather) -> tuple[torch.Tensor, torch.Tensor]:
        counts = [int(c) for c in gather.all_gather(torch.tensor([idx.numel()], device=rows.device))]
        width = max(counts)
        padded_idx = torch.full((width,), -1, dtype=idx.dtype, device=idx.device)
        padded_idx[: idx.numel()] = idx
        padded = rows.new_zeros((width, *rows.shape[1:]))
        padded[: rows.shape[0]] = rows
        all_idx, all_rows = gather.all_gather(padded_idx), gather.all_gather(padded)
        first = all_idx[0][0]
        kept = [0 if r > 0 and bool(all_idx[r][0] == first) else counts[r] for r in range(len(counts))]
        rank = gather.dist.rank
        ctx.span = (sum(kept[:rank]), kept[rank])
        ctx.group = gather.group
        ctx.rows_shape = rows.shape
        batch_idx = torch.cat([all_idx[r][: kept[r]] for r in range(len(kept))])
        ctx.mark_non_differentiable(batch_idx)
        return torch.cat([all_rows[r][: kept[r]] for r in range(len(kept))]), batch_idx

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, grad_idx: torch.Tensor | None) -> tuple[torch.Tensor, None, None]:
        total = grad.contiguous().clone()
        torch.distributed.all_reduce(total, group=ctx.group)
        start, count = ctx.span
        out = total.new_zeros(ctx.rows_shape)
        out[:count] = total[start : start + count]
        return out, None, None


def _patient_group() -> torch.distributed.ProcessGroup:
    """A gloo group over every rank with a long timeout (a collective call: every rank, same place)."""
    return cast(torch.distributed.ProcessGroup, torch.distributed.new_group(backend="gloo", timeout=PATIENT))


def _on_rank0(dist: Dist, fn: Callable[[], T], group: torch.distributed.ProcessGroup, share: bool) -> T | None:
    """Rank 0 runs ``fn``; every rank learns whether it succeeded, and with ``share`` its value
    (rank 0's own value on rank 0, else the shared one or None). A failure raises rank 0's error
    there and PeerFailed on the others."""
    error: BaseException | None = None
    value: T | None = None
    box: list[object] = [None]
    if dist.is_main:
        try:
            value = fn()
            box = [(True, value if share else None)]
        except BaseException as exc:  # every rank must hear of it, whatever it is
            error, box = exc, [(False, str(exc) or type(exc).__name__)]
    torch.distributed.broadcast_object_list(box, src=0, group=group)
    if error is not None:
        raise error
    ok, payload = cast(tuple[bool, Any], box[0])
    if not ok:
        raise PeerFailed(f"rank 0 failed: {payload}")
    return value if dist.is_main else cast("T | None", payload)


def from_rank0(dist: Dist, fn: Callable[[], T]) -> T:
    """``fn()`` run on rank 0 alone and its value (our own objects, pickled over the process group)
    on every rank; when it fails there, rank 0 raises its error and the others PeerFailed."""
    if not dist.active:
        return fn()
    return cast(T, _on_rank0(dist, fn, _patient_group(), share=True))


def rank0_first(dist: Dist, fn: Callable[[], T]) -> T:
    """``fn()`` on every rank, rank 0's first, then each other node's local rank 0, then the rest:
    for work that fills a cache (corpus scan and encode), so processes never encode the same files
    at once and the later ones find them cached (a node whose cache is not shared fills its own)."""
    if not dist.active:
        return fn()
    group = _patient_group()
    value = _on_rank0(dist, fn, group, share=False)
    if not dist.is_main and dist.local_rank == 0:
        value = fn()
    torch.distributed.barrier(group=group)
    if dist.local_rank != 0:
        value = fn()
    torch.distributed.barrier(group=group)  # the last builds may outlast the default group's timeout
    return cast(T, value)


def check_same(dist: Dist, value: str, what: str) -> None:
    """ConfigError on every rank unless ``value`` (e.g. the corpus's sha256) is the same on all of
    them: ranks that trained on different data would run mismatched steps and collectives."""
    if not dist.active:
        return
    values: list[object] = [None] * dist.world
    torch.distributed.all_gather_object(values, value)
    if len(set(values)) > 1:
        differ = [r for r, v in enumerate(values) if v != values[0]]
        raise ConfigError(f"the ranks disagree on {what}: rank(s) {differ} differ from rank 0 (files changed "
                          "while the ranks scanned them, or the nodes see different data); run again")
