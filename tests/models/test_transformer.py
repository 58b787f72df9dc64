"""The map-conditioned transformer: teacher forcing shapes, causality, KV-cache equivalence."""

import pytest
import torch

from gesam_engine.errors import ConfigError
from gesam_engine.models import MapTransformer, TransformerConfig

TINY = dict(n_frames=23, n_features=8, d_model=32, n_heads=4, n_layers=2, fourier_features=4)


@pytest.mark.parametrize("patch", [1, 2, 4])
def test_cached_generation_equals_full_recompute(patch):
    torch.manual_seed(0)
    model = MapTransformer(TransformerConfig(patch=patch, **TINY)).eval()
    points = torch.rand(7, 2) * 2 - 1
    cached = model.generate(points, use_cache=True)
    full = model.generate(points, use_cache=False)
    assert cached.shape == (7, 23, 8)
    torch.testing.assert_close(cached, full, rtol=1e-4, atol=1e-5)
    # batching does not change a point's sound
    torch.testing.assert_close(model.generate(points[2:3]), cached[2:3], rtol=1e-4, atol=1e-5)


def test_generation_matches_teacher_forcing_on_its_own_output():
    torch.manual_seed(1)
    model = MapTransformer(TransformerConfig(patch=2, **TINY)).eval()
    points = torch.rand(3, 2)
    generated = model.generate(points)
    with torch.no_grad():
        teacher = model(points, generated).clamp_min(0.0)
    torch.testing.assert_close(teacher, generated, rtol=1e-4, atol=1e-5)


def test_teacher_forcing_is_causal():
    torch.manual_seed(2)
    model = MapTransformer(TransformerConfig(patch=1, dropout=0.0, **TINY)).eval()
    frames = torch.rand(2, 23, 8)
    changed = frames.clone()
    changed[:, 10:] += 1.0
    with torch.no_grad():
        a, b = model(torch.zeros(2, 2), frames), model(torch.zeros(2, 2), changed)
    torch.testing.assert_close(a[:, :11], b[:, :11])  # frame 10 is predicted from frames < 10
    assert not torch.allclose(a[:, 11:], b[:, 11:])


def test_different_points_give_different_sounds():
    torch.manual_seed(3)
    model = MapTransformer(TransformerConfig(**TINY)).eval()
    out = model.generate(torch.tensor([[-0.8, -0.8], [0.8, 0.8]]))
    assert (out[0] - out[1]).abs().mean() > 1e-4


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="n_heads"):
        TransformerConfig(d_model=30, n_heads=4)
    with pytest.raises(ConfigError, match="patch"):
        TransformerConfig(patch=0)
