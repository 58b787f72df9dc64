"""GESAM's VAE regularisers behave as the map needs."""

import torch

from gesam_engine.models.regularizers import kl_divergence, repulsion_loss, spatial_loss, warmup


def test_spatial_is_zero_inside_the_disc_and_grows_outside():
    inside = torch.tensor([[0.0, 0.0], [0.5, -0.5], [0.99, 0.0]])
    assert spatial_loss(inside).item() == 0.0
    near, far = torch.tensor([[1.5, 0.0]]), torch.tensor([[3.0, 0.0]])
    assert 0 < spatial_loss(near).item() < spatial_loss(far).item()
    assert abs(spatial_loss(far).item() - 4.0) < 1e-6


def test_repulsion_is_larger_for_crowded_points_and_pushes_them_apart():
    crowded = torch.tensor([[0.0, 0.0], [0.01, 0.0], [0.0, 0.01]])
    spread = torch.tensor([[-0.8, 0.0], [0.8, 0.0], [0.0, 0.8]])
    assert repulsion_loss(crowded) > 10 * repulsion_loss(spread)
    pts = crowded.clone().requires_grad_(True)
    repulsion_loss(pts).backward()
    moved = pts.detach() - 0.01 * pts.grad
    assert torch.cdist(moved, moved).sum() > torch.cdist(crowded, crowded).sum()
    assert repulsion_loss(torch.zeros(1, 2)).item() == 0.0


def test_kl_is_zero_for_the_prior():
    assert kl_divergence(torch.zeros(4, 2), torch.zeros(4, 2)).item() == 0.0
    assert kl_divergence(torch.ones(4, 2), torch.zeros(4, 2)).item() > 0


def test_warmup_ramps_linearly():
    assert [warmup(s, 10) for s in (0, 5, 10, 20)] == [0.0, 0.5, 1.0, 1.0]
    assert warmup(0, 0) == 1.0
