"""Stage 3 training: a frame classifier that tells the training classes apart.

It is meant for *generated* frames too (class maps, evaluation), so every batch is perturbed
the way the transformer's output differs from real frames: a little noise, a level offset,
a small onset delay and some smoothing. It is trained on real frames only: training it on the
transformer's renditions labelled with their originals' classes would make the evaluation
("does a generated sound keep its class?") grade its own homework.

It must also hold on kits it never heard. Measured on the validation kits' originals (file
labels; docs/classifier.md): the band-wise conv1d of the first shipped model reached 69.5 %
trained on 10 Hydrogen kits and 77 % on the bigger corpus; the conv2d body with label
smoothing (``TRAINING_DEFAULTS``) reaches 84 %. Waveform augmentation (``augment_copies``,
training/augment.py) is there to try, off by default: it did not measurably help.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from gesam_engine.config import check, to_dict
from gesam_engine.data.paging import on_device, rows
from gesam_engine.distributed import SINGLE, Dist
from gesam_engine.errors import ConfigError
from gesam_engine.models import ClassifierConfig, FrameClassifier
from gesam_engine.training import ddp
from gesam_engine.training.loop import EpochHook, run_epochs
from gesam_engine.training.settings import TrainConfig
from gesam_engine.training.train_state import LoopState

HOLDOUT_SHARE = 0.15
COPY_SHARE = 0.5  # chance that a training item is replaced by one of its augmented copies


@dataclasses.dataclass(frozen=True)
class Augment:
    """Per-item perturbations in frame space (1.0 = the codec's full dB range, 100 dB by default)."""

    noise: float = 0.05  # gaussian noise, std drawn per item from [0, noise]
    level: float = 0.08  # level offset drawn from [-level, level], applied to non-floor bins
    shift: int = 2  # onset delay drawn from [0, shift] frames (an earlier start would cut the attack)
    smooth: float = 0.5  # chance of a 3-frame moving average (regression output is smoother)

    def __post_init__(self) -> None:
        check(self.noise >= 0 and self.level >= 0 and self.shift >= 0, "augment noise, level and shift must be >= 0")
        check(0.0 <= self.smooth <= 1.0, f"augment.smooth is a probability in [0, 1], got {self.smooth}")


def augment_frames(x: torch.Tensor, aug: Augment) -> torch.Tensor:
    """A perturbed copy of frames [B, T, D] (non-negative, like the codec's and the transformer's)."""
    b, t, _ = x.shape
    if aug.shift > 0:
        s = torch.randint(0, aug.shift + 1, (b, 1), device=x.device)  # (B, 1)
        src = torch.arange(t, device=x.device)[None] - s  # (B, T): delayed items read before their start
        shifted = torch.gather(x, 1, src.clamp(0, t - 1)[..., None].expand_as(x))  # (B, T, D)
        x = torch.where((src >= 0)[..., None], shifted, torch.zeros_like(x))  # silence before the onset
    if aug.smooth > 0:
        blurred = F.avg_pool1d(x.transpose(1, 2), 3, stride=1, padding=1, count_include_pad=False).transpose(1, 2)
        x = torch.where(torch.rand(b, 1, 1, device=x.device) < aug.smooth, blurred, x)
    if aug.level > 0:
        offset = (torch.rand(b, 1, 1, device=x.device) * 2 - 1) * aug.level  # (B, 1, 1)
        x = torch.where(x > 0, x + offset, x)  # the floor stays the floor
    if aug.noise > 0:
        x = x + torch.rand(b, 1, 1, device=x.device) * aug.noise * torch.randn_like(x)
    return x.clamp_min(0.0)


def stratified_split(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, holdout) indices with about ``share`` of every class held out, or no holdout at all
    when some present class has fewer than 2 items (each class keeps at least one training item)."""
    counts = np.bincount(labels)
    present = np.flatnonzero(counts)
    if counts[present].min() < 2:
        return np.arange(labels.size), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    hold: list[np.ndarray] = []
    for c in present:
        members = rng.permutation(np.flatnonzero(labels == c))
        hold.append(members[: min(max(1, round(share * members.size)), members.size - 1)])
    holdout = np.sort(np.concatenate(hold))
    return np.setdiff1d(np.arange(labels.size), holdout), holdout


def _accuracy(pred: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> tuple[float | None, dict[str, float | None]]:
    """Overall and per-class share of ``pred == labels`` (None where there is nothing to score)."""
    overall = round(float(np.mean(pred == labels)), 4) if labels.size else None
    per_class: dict[str, float | None] = {}
    for i, name in enumerate(names):
        mask = labels == i
        per_class[name] = round(float(np.mean(pred[mask] == i)), 4) if mask.any() else None
    return overall, per_class


def _predict(model: FrameClassifier, frames: torch.Tensor, index: np.ndarray, device: torch.device,
             batch: int = 256) -> np.ndarray:
    """The predicted class [M] of the corpus rows ``index`` [M], gathered ``batch`` at a time."""
    at = torch.from_numpy(index)
    probs = [model.probabilities(rows(frames, at[i : i + batch], device).float(), batch) for i in range(0, index.size, batch)]
    return np.concatenate(probs).argmax(-1) if probs else np.zeros(0, dtype=np.int64)


def train_classifier(
    frames: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    cfg: ClassifierConfig,
    train: TrainConfig,
    device: torch.device,
    progress: bool | None = True,
    class_names: Sequence[str] | None = None,
    augment: Augment = Augment(),
    *,
    copies: np.ndarray | torch.Tensor | None = None,
    resume: LoopState | None = None,
    on_epoch: EpochHook | None = None,
    dist: Dist = SINGLE,
) -> tuple[FrameClassifier, dict[str, Any]]:
    """Train on frames [N, T, D] with labels [N] (int64 in 0..n_classes-1); returns the model (eval,
    on ``device``) and a JSON-ready history with held-out and per-class accuracy (None without a holdout).

    ``copies`` [N, K, T, D] (``augment.augmented_frames``): each training item is, half the time,
    one of its K augmented copies instead (never for the holdout). ``resume`` continues a stopped
    run; ``on_epoch`` sees every finished epoch; ``dist`` trains across processes (see ``run_epochs``),
    and only rank 0 scores the accuracies (None on the others)."""
    y = np.asarray(torch.as_tensor(labels).cpu(), dtype=np.int64)
    if frames.ndim != 3 or frames.shape[0] != y.size:
        raise ConfigError(f"train_classifier needs frames [N, T, D] and N labels, got {tuple(frames.shape)} and {y.size}")
    if cfg.n_classes != n_classes or (frames.shape[1], frames.shape[2]) != (cfg.n_frames, cfg.n_features):
        raise ConfigError(
            f"classifier config expects frames [N, {cfg.n_frames}, {cfg.n_features}] and {cfg.n_classes} classes, "
            f"got frames {tuple(frames.shape)} and {n_classes} classes"
        )
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ConfigError(f"labels must be in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    if len(names) != n_classes:
        raise ConfigError(f"class_names has {len(names)} names for {n_classes} classes")
    if np.count_nonzero(np.bincount(y, minlength=n_classes)) < 2:
        raise ConfigError("a classifier needs items of at least 2 classes")
    if copies is not None and (copies.ndim != 4 or copies.shape[0] != y.size
                               or tuple(copies.shape[2:]) != tuple(frames.shape[1:])):
        raise ConfigError(f"copies must be [N, K, T, D] = [{y.size}, K, {frames.shape[1]}, {frames.shape[2]}], "
                          f"got {tuple(copies.shape)}")

    train_idx, hold_idx = stratified_split(y, HOLDOUT_SHARE, train.seed)
    counts = np.bincount(y[train_idx], minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.where(present, counts.sum() / (present.sum() * np.maximum(counts, 1)), 0.0)  # inverse to counts

    torch.manual_seed(train.seed + 2)
    model = FrameClassifier(cfg).to(device)
    data = on_device(frames, device)  # (N, T, D) the corpus, not copied on the CPU: batches are gathered
    order = torch.from_numpy(train_idx).to(data.device)  # training item -> corpus row
    target = torch.from_numpy(y[train_idx]).to(device)
    class_weight = torch.tensor(weights, dtype=torch.float32, device=device)
    bank = None  # (N, K, T, D) gathered per batch, rounded to float16 as it was kept (frames in [0, 1] keep 3 decimals)
    if copies is not None and copies.shape[1] > 0:
        bank = torch.as_tensor(copies)
    net = ddp.wrap(model, dist)
    gather = ddp.BatchGather(dist)  # the class-weighted mean is over the whole global batch

    def step(idx: torch.Tensor, epoch: float) -> tuple[torch.Tensor, dict[str, float]]:
        at = order[idx.to(order.device)]  # (B,) corpus rows
        x = rows(data, at, device).float()  # (B, T, D)
        if bank is not None:
            k = torch.randint(0, bank.shape[1], idx.shape, device=device)  # (B,) global generator: resumable
            use = torch.rand(idx.shape, device=device) < COPY_SHARE  # (B,)
            copy = bank[at.to(bank.device), k.to(bank.device)].to(device, torch.float16).float()  # (B, T, D)
            x = torch.where(use[:, None, None], copy, x)  # (B, T, D)
        logits, batch = gather(net(augment_frames(x, augment)), idx)  # (B, C), (B,): every rank's part
        t = target[batch]
        loss = F.cross_entropy(logits, t, weight=class_weight, label_smoothing=cfg.label_smoothing)
        return loss, {"loss": loss.item(), "accuracy": (logits.argmax(-1) == t).float().mean().item()}

    history: dict[str, Any] = run_epochs(
        model, int(train_idx.size), step, epochs=train.classifier_epochs, batch_size=train.batch_size,
        lr=train.classifier_lr, weight_decay=train.weight_decay, grad_clip=train.grad_clip,
        seed=train.seed + 2, device=device, desc="stage 3 classifier", progress=progress,
        resume=resume, on_epoch=on_epoch, dist=dist,
    )
    train_acc: float | None = None
    hold_acc: float | None = None
    per_class: dict[str, float | None] = {n: None for n in names}
    if dist.is_main:  # the evaluation: rank 0 reports it, the others would only repeat it
        train_acc, _ = _accuracy(_predict(model, data, train_idx, device), y[train_idx], names)
        hold_acc, per_class = _accuracy(_predict(model, data, hold_idx, device), y[hold_idx], names)
    history.update(
        n_train=int(train_idx.size),
        n_holdout=int(hold_idx.size),
        train_accuracy=train_acc,
        holdout_accuracy=hold_acc,
        per_class_accuracy=per_class,
        class_weights={n: round(float(w), 4) for n, w in zip(names, weights)},
        augment=to_dict(augment),
        augmented_copies=0 if bank is None else int(bank.shape[1]),
    )
    return model, history
