"""Stage 1 training: reconstruction + small KL + GESAM's spatial and repulsion terms (warmed up)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gesam_engine.data.paging import on_device, rows
from gesam_engine.distributed import SINGLE, Dist
from gesam_engine.models import MapVAE, VAEConfig
from gesam_engine.models.regularizers import kl_divergence, repulsion_loss, spatial_loss, warmup
from gesam_engine.training import ddp
from gesam_engine.training.loop import EpochHook, run_epochs
from gesam_engine.training.settings import TrainConfig
from gesam_engine.training.train_state import LoopState


def train_vae(
    frames: torch.Tensor,
    config: VAEConfig,
    train: TrainConfig,
    device: torch.device,
    progress: bool | None = True,
    *,
    resume: LoopState | None = None,
    on_epoch: EpochHook | None = None,
    dist: Dist = SINGLE,
) -> tuple[MapVAE, dict[str, object]]:
    """Train a map VAE on frames [N, T, D]; deterministic for a given ``train.seed`` on one device.

    ``resume`` continues a stopped run; ``on_epoch`` sees every finished epoch; ``dist`` trains
    across processes (see ``run_epochs``)."""
    torch.manual_seed(train.seed)
    vae = MapVAE(config).to(device)
    data = on_device(frames, device)  # the corpus stays where it is on the CPU (mapped): batches are gathered
    net = ddp.wrap(vae, dist)
    gather = ddp.BatchGather(dist)  # the repulsion is between the points of the whole global batch

    def step(idx: torch.Tensor, epoch: float) -> tuple[torch.Tensor, dict[str, float]]:
        x = rows(data, idx, device)  # (B, T, D)
        recon, mu, logvar, _ = net(x)
        ramp = warmup(int(epoch * 1000), train.warmup_epochs * 1000)
        rec = F.mse_loss(recon, x)
        kl = kl_divergence(mu, logvar)
        spa = spatial_loss(mu)
        rep = repulsion_loss(gather(mu, idx)[0], train.repulsion_sigma)
        loss = rec + train.kl_weight * kl + ramp * (train.spatial_weight * spa + train.repulsion_weight * rep)
        return loss, {"loss": loss.item(), "recon": rec.item(), "spatial": spa.item(), "repulsion": rep.item()}

    history = run_epochs(
        vae, data.shape[0], step, epochs=train.vae_epochs, batch_size=train.batch_size, lr=train.vae_lr,
        weight_decay=train.weight_decay, grad_clip=train.grad_clip, seed=train.seed, device=device,
        desc="stage 1 VAE", progress=progress, resume=resume, on_epoch=on_epoch, dist=dist,
    )
    return vae, history


@torch.inference_mode()
def encode_all(vae: MapVAE, frames: torch.Tensor, device: torch.device, batch: int = 256) -> torch.Tensor:
    """Encoder means [N, 2] (CPU) of frames [N, T, D]: each sample's map point."""
    vae.eval()
    out = [vae.encode(rows(frames, slice(i, i + batch), device))[0].cpu() for i in range(0, frames.shape[0], batch)]
    return torch.cat(out)
