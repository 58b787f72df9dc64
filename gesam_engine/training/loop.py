"""The shared minibatch loop of every training stage: seeded shuffling, AdamW, cosine decay,
gradient clipping, a progress bar per stage (epoch, ETA, loss), and a hook after each epoch
that may save a resumable ``LoopState`` or stop the run. Across processes (``dist``) each rank
takes its part of every global batch (see ``ddp``)."""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from tqdm.auto import tqdm

from gesam_engine.distributed import SINGLE, Dist
from gesam_engine.errors import CheckpointError
from gesam_engine.training import ddp
from gesam_engine.training.train_state import LoopState

# A step function gets (batch indices, epoch progress in [0, epochs)) and returns the loss
# to minimise plus named figures to average over the epoch. Across processes it gets this rank's
# part of the batch and must run its module through the DDP wrapper (ddp.wrap).
StepFn = Callable[[torch.Tensor, float], tuple[torch.Tensor, dict[str, float]]]
# Called after every epoch with (epochs done, total epochs, a function that captures the live
# state); it may write that state out and may raise to stop (resume.TrainingStopped).
EpochHook = Callable[[int, int, Callable[[], LoopState]], None]


def run_epochs(
    module: torch.nn.Module,
    n_items: int,
    step: StepFn,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    grad_clip: float,
    seed: int,
    device: torch.device,
    desc: str,
    progress: bool | None = True,
    resume: LoopState | None = None,
    on_epoch: EpochHook | None = None,
    dist: Dist = SINGLE,
) -> dict[str, object]:
    """Train ``module`` for ``epochs`` over ``n_items`` shuffled items; returns a history summary.

    ``resume`` continues a captured state exactly (same shuffles, noise and optimiser moments),
    so a run stopped and resumed ends with the weights of one that never stopped. ``progress``
    None shows the bar only on a terminal; False never.

    ``dist`` (several processes): every rank draws the same shuffle and steps on its part of each
    global batch of ``batch_size``, its loss weighted by its share (DDP averages the gradients, so
    a step is the one-process step up to per-rank noise and float order); the figures are summed
    over ranks once per epoch; each rank's noise is reseeded per epoch (``ddp.reseed``); only rank
    0 shows the bar. ``on_epoch`` runs on every rank (it may hold collectives)."""
    ddp.check_batch(batch_size, dist)
    if not dist.is_main:
        progress = False
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    batches_per_epoch = max(1, math.ceil(n_items / batch_size))
    total = epochs * batches_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    history: list[dict[str, float]] = []
    start, before = 0, 0.0
    if resume is not None:
        if not 0 <= resume.epoch <= epochs or resume.epochs != epochs:
            raise CheckpointError(f"{desc}: the checkpoint stopped after epoch {resume.epoch} of {resume.epochs}, "
                                  f"but this run has {epochs} epochs")
        resume.restore(module, opt, sched, gen, device)
        history, start, before = list(resume.history), resume.epoch, resume.seconds
    started = time.perf_counter()
    module.train()
    with tqdm(total=epochs, initial=start, desc=desc, unit="epoch", disable=None if progress is None else not progress,
              dynamic_ncols=True) as bar:
        if history:
            bar.set_postfix({k: f"{v:.4f}" for k, v in history[-1].items()})
        for epoch in range(start, epochs):
            order = torch.randperm(n_items, generator=gen)
            ddp.reseed(seed, epoch, dist)
            sums: dict[str, float] = {}
            for b in range(batches_per_epoch):
                idx, share = ddp.rank_part(order[b * batch_size : (b + 1) * batch_size], dist)
                loss, figures = step(idx.to(device), epoch + b / batches_per_epoch)
                if dist.active:  # DDP divides the summed gradients by the world: this makes them the batch mean's
                    loss = loss * (share * dist.world)
                opt.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]  # torch's Tensor.backward has no annotations
                if grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
                opt.step()
                sched.step()
                for k, v in figures.items():
                    sums[k] = sums.get(k, 0.0) + v * share
            sums = ddp.sum_over_ranks(sums, dist)
            means = {k: v / batches_per_epoch for k, v in sums.items()}
            history.append(means)
            bar.set_postfix({k: f"{v:.4f}" for k, v in means.items()}, refresh=False)
            bar.update(1)
            if on_epoch is not None:
                done = epoch + 1
                seconds = before + time.perf_counter() - started
                on_epoch(done, epochs, lambda: LoopState.capture(done, epochs, module, opt, sched, gen, device,
                                                                 history, seconds))
    module.eval()
    seconds = before + time.perf_counter() - started
    return {
        "epochs": epochs,
        "seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / epochs, 4),
        "final": {k: round(v, 6) for k, v in history[-1].items()},
        "first": {k: round(v, 6) for k, v in history[0].items()},
    }
