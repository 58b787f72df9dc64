"""Stage 2 training: regression of a sound's frames from its map point.

Autoregressive mode: teacher-forced next-token regression; small noise on the teacher inputs
makes generation a little more robust to its own errors. Parallel mode: all frames from the
point alone. In both, small noise on the condition makes the space between training points
sound like its neighbours. ``train.transformer_loss`` "l1" fits the per-bin median of the sounds
near a point (kept sharp where they disagree; the evaluation's frame error is an L1 figure),
"mse" their mean (GESAM's choice, which blurs and quietens where neighbours differ).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gesam_engine.data.paging import on_device, rows
from gesam_engine.distributed import SINGLE, Dist
from gesam_engine.models import MapTransformer, MapVAE, TransformerConfig
from gesam_engine.training import ddp
from gesam_engine.training.loop import EpochHook, run_epochs
from gesam_engine.training.settings import TrainConfig
from gesam_engine.training.train_state import LoopState


def train_transformer(
    frames: torch.Tensor,
    points: torch.Tensor,
    config: TransformerConfig,
    train: TrainConfig,
    device: torch.device,
    progress: bool | None = True,
    *,
    resume: LoopState | None = None,
    on_epoch: EpochHook | None = None,
    vae: MapVAE | None = None,
    dist: Dist = SINGLE,
) -> tuple[MapTransformer, dict[str, object]]:
    """Train on frames [N, T, D] conditioned on their latent map points [N, 2].

    ``resume`` continues a stopped run; ``on_epoch`` sees every finished epoch; ``dist`` trains
    across processes (see ``run_epochs``).
    ``vae`` (refine mode, required there): the trained, frozen map VAE whose decoder gives the prior."""
    if config.mode == "refine" and vae is None:
        raise ValueError("the refine transformer trains on the map VAE's decoder: pass vae=")
    torch.manual_seed(train.seed + 1)
    model = MapTransformer(config).to(device)
    data, cond = on_device(frames, device), points.to(device)  # the corpus stays mapped on the CPU
    net = ddp.wrap(model, dist)

    def step(idx: torch.Tensor, epoch: float) -> tuple[torch.Tensor, dict[str, float]]:
        x, z = rows(data, idx, device), cond[idx]  # (B, T, D), (B, 2)
        noisy_z = z + train.cond_noise * torch.randn_like(z)
        if model.needs_prior:
            assert vae is not None
            with torch.no_grad():
                prior = vae.decode(noisy_z)  # (B, T, D) the frozen decoder at the same (noisy) point
            pred = net(noisy_z, prior=prior)
        elif model.parallel:
            pred = net(noisy_z)  # (B, T, D)
        else:
            pred = net(noisy_z, x + train.input_noise * torch.randn_like(x))  # (B, T, D)
        loss = F.l1_loss(pred, x) if train.transformer_loss == "l1" else F.mse_loss(pred, x)
        return loss, {"loss": loss.item(), "l1": (pred - x).abs().mean().item()}

    history = run_epochs(
        model, data.shape[0], step, epochs=train.transformer_epochs, batch_size=train.batch_size,
        lr=train.transformer_lr, weight_decay=train.weight_decay, grad_clip=train.grad_clip,
        seed=train.seed + 1, device=device, desc="stage 2 transformer", progress=progress,
        resume=resume, on_epoch=on_epoch, dist=dist,
    )
    return model, history
