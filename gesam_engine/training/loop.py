"""The shared minibatch loop of both training stages: seeded shuffling, AdamW, cosine decay,
gradient clipping, and a progress bar per stage that shows each epoch's loss."""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from tqdm.auto import tqdm

# A step function gets (batch indices, epoch progress in [0, epochs)) and returns the loss
# to minimise plus named figures to average over the epoch.
StepFn = Callable[[torch.Tensor, float], tuple[torch.Tensor, dict[str, float]]]


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
    progress: bool = True,
) -> dict[str, object]:
    """Train ``module`` for ``epochs`` over ``n_items`` shuffled items; returns a history summary."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
    batches_per_epoch = max(1, math.ceil(n_items / batch_size))
    total = epochs * batches_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    module.train()
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress, dynamic_ncols=True)
    for epoch in bar:
        order = torch.randperm(n_items, generator=gen)
        sums: dict[str, float] = {}
        for b in range(batches_per_epoch):
            idx = order[b * batch_size : (b + 1) * batch_size].to(device)
            loss, figures = step(idx, epoch + b / batches_per_epoch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
            opt.step()
            sched.step()
            for k, v in figures.items():
                sums[k] = sums.get(k, 0.0) + v
        means = {k: v / batches_per_epoch for k, v in sums.items()}
        history.append(means)
        bar.set_postfix({k: f"{v:.4f}" for k, v in means.items()})
    module.eval()
    seconds = time.perf_counter() - started
    return {
        "epochs": epochs,
        "seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / epochs, 4),
        "final": {k: round(v, 6) for k, v in history[-1].items()},
        "first": {k: round(v, 6) for k, v in history[0].items()},
    }
