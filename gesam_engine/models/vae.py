"""Stage 1: a convolutional VAE that compresses a frame sequence [T, D] into a 2D map point.

GESAM trains it with two extra terms (see ``regularizers.py``) so the training points spread
over the unit disc; the encoder mean of each sample is its place on the map.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from gesam_engine.config import check

MAX_FRAMES = 100_000  # frames per sound (about 10 minutes at hop 256): beyond, a card is broken
MAX_FEATURES = 4096


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Architecture of the map VAE. ``n_frames``/``n_features`` come from the codec."""

    n_frames: int = 259
    n_features: int = 128
    channels: int = 128
    n_down: int = 3
    hidden: int = 256
    latent_dim: int = 2

    def __post_init__(self) -> None:
        check(1 <= self.n_down <= 6, f"vae.n_down must be in 1..6, got {self.n_down}")  # first: 2**n_down below
        check(2 ** self.n_down <= self.n_frames <= MAX_FRAMES,
              f"vae.n_frames must be in 2**n_down..{MAX_FRAMES}, got {self.n_frames}")
        check(1 <= self.n_features <= MAX_FEATURES, f"vae.n_features must be in 1..{MAX_FEATURES}, got {self.n_features}")
        check(8 <= self.channels <= 1024, f"vae.channels must be in 8..1024, got {self.channels}")
        check(8 <= self.hidden <= 4096, f"vae.hidden must be in 8..4096, got {self.hidden}")
        check(self.latent_dim == 2, f"vae.latent_dim must be 2 (the map is 2D), got {self.latent_dim}")

    @property
    def reduced_frames(self) -> int:
        """Time steps left after the encoder's strided convolutions."""
        t = self.n_frames
        for _ in range(self.n_down):
            t = t // 2
        return t


class MapVAE(nn.Module):
    """Frames [B, T, D] -> (mu, logvar) [B, 2] -> frames [B, T, D]."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        c, r = config.channels, config.reduced_frames
        enc: list[nn.Module] = [nn.Conv1d(config.n_features, c, 5, padding=2), nn.GELU()]
        for _ in range(config.n_down):
            enc += [nn.Conv1d(c, c, 4, stride=2, padding=1), nn.GroupNorm(8, c), nn.GELU()]
        self.encoder = nn.Sequential(*enc)
        self.to_latent = nn.Sequential(
            nn.Flatten(), nn.Linear(c * r, config.hidden), nn.GELU(), nn.Linear(config.hidden, 2 * config.latent_dim)
        )
        self.from_latent = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden), nn.GELU(), nn.Linear(config.hidden, c * r), nn.GELU()
        )
        dec: list[nn.Module] = []
        for _ in range(config.n_down):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(c, c, 5, padding=2), nn.GroupNorm(8, c), nn.GELU()]
        self.decoder = nn.Sequential(*dec)
        self.out = nn.Conv1d(c, config.n_features, 5, padding=2)

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames [B, T, D] -> mu [B, 2], logvar [B, 2]."""
        h = self.encoder(frames.transpose(1, 2))  # (B, C, T')
        stats = self.to_latent(h)  # (B, 4)
        mu, logvar = stats.chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map points z [B, 2] -> frames [B, T, D]."""
        cfg = self.config
        h = self.from_latent(z).view(z.shape[0], cfg.channels, cfg.reduced_frames)  # (B, C, T')
        h = self.decoder(h)  # (B, C, T' * 2**n_down)
        h = F.interpolate(h, size=cfg.n_frames, mode="linear", align_corners=False)  # (B, C, T)
        out: torch.Tensor = self.out(h)  # (B, D, T)
        return out.transpose(1, 2)  # (B, T, D)

    def forward(
        self, frames: torch.Tensor, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Frames [B, T, D] -> (reconstruction [B, T, D], mu, logvar, z), reparameterised when ``sample``."""
        mu, logvar = self.encode(frames)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        return self.decode(z), mu, logvar, z
