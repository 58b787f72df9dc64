"""The map VAE: shapes, a 2D bottleneck, and regularised training that fills the unit disc."""

import pytest
import torch

from gesam_engine.errors import ConfigError
from gesam_engine.models import MapVAE, VAEConfig
from gesam_engine.training.settings import TrainConfig
from gesam_engine.training.vae_trainer import encode_all, train_vae

CFG = VAEConfig(n_frames=37, n_features=12, channels=16, n_down=2, hidden=32)


def test_shapes():
    vae = MapVAE(CFG)
    x = torch.rand(5, 37, 12)
    recon, mu, logvar, z = vae(x)
    assert recon.shape == x.shape and mu.shape == logvar.shape == z.shape == (5, 2)
    torch.testing.assert_close(vae(x, sample=False)[3], mu)


def _clusters() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(4, 1, 37, 12, generator=gen)
    return (base + 0.05 * torch.rand(4, 8, 37, 12, generator=gen)).reshape(32, 37, 12)


def test_training_is_deterministic_and_keeps_points_in_the_disc():
    train = TrainConfig(vae_epochs=30, batch_size=16, warmup_epochs=5, spatial_weight=5.0)
    frames = _clusters()
    vae_a, hist = train_vae(frames, CFG, train, torch.device("cpu"), progress=False)
    vae_b, _ = train_vae(frames, CFG, train, torch.device("cpu"), progress=False)
    for (k, a), (_, b) in zip(vae_a.state_dict().items(), vae_b.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)
    assert hist["final"]["recon"] < hist["first"]["recon"]
    points = encode_all(vae_a, frames, torch.device("cpu"))
    assert points.norm(dim=-1).max() < 1.2
    assert torch.pdist(points).min() > 0  # no two samples on the same spot


def test_bad_config():
    with pytest.raises(ConfigError, match="latent_dim"):
        VAEConfig(latent_dim=3)
