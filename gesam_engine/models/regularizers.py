"""GESAM's map regularisers for the VAE: keep points inside the unit disc, keep neighbours apart.

Both start at zero weight and ramp up linearly (warm-up), so the VAE first learns to
reconstruct and only then has its map shaped.
"""

from __future__ import annotations

import torch


def spatial_loss(mu: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    """Mean squared distance by which points mu [B, 2] lie outside the disc of ``radius`` (0 inside)."""
    outside = torch.relu(mu.norm(dim=-1) - radius)  # (B,)
    return (outside**2).mean()


def repulsion_loss(mu: torch.Tensor, sigma: float = 0.1) -> torch.Tensor:
    """Mean Gaussian-kernel affinity between distinct points mu [B, 2]: large when neighbours crowd."""
    n = mu.shape[0]
    if n < 2:
        return mu.new_zeros(())
    d2 = torch.cdist(mu, mu).pow(2)  # (B, B)
    affinity = torch.exp(-d2 / (2 * sigma**2))
    off_diagonal = affinity.sum() - affinity.diagonal().sum()
    return off_diagonal / (n * (n - 1))


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) summed over latent dims, averaged over the batch."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)).mean()


def warmup(step: int, warmup_steps: int) -> float:
    """Linear ramp 0 -> 1 over ``warmup_steps`` (1 at once when warmup_steps is 0)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, step / warmup_steps)
