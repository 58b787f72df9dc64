"""The map-conditioned transformer: teacher forcing shapes, causality, KV-cache equivalence."""

import dataclasses

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


def test_parallel_mode_predicts_every_frame_in_one_pass_from_the_point_alone():
    torch.manual_seed(4)
    model = MapTransformer(TransformerConfig(patch=2, mode="parallel", **TINY)).eval()
    points = torch.rand(5, 2) * 2 - 1
    out = model.generate(points)
    assert out.shape == (5, 23, 8) and (out >= 0).all()
    with torch.no_grad():
        torch.testing.assert_close(model(points).clamp_min(0.0), out)
    # batching does not change a point's sound, and different points sound different
    torch.testing.assert_close(model.generate(points[3:4]), out[3:4], rtol=1e-4, atol=1e-5)
    assert (out[0] - out[1]).abs().mean() > 1e-4
    assert not hasattr(model, "inp")  # it reads no frames: no input projection to ship


def test_parallel_attention_sees_the_whole_sound():
    """Not causal: changing the learned position of the last token moves the first frames too."""
    torch.manual_seed(5)
    model = MapTransformer(TransformerConfig(patch=1, dropout=0.0, mode="parallel", **TINY)).eval()
    point = torch.zeros(1, 2)
    with torch.no_grad():
        before = model(point)
        model.pos[-1] += torch.randn(model.pos.shape[1])  # not a constant: LayerNorm would remove it
        after = model(point)
    assert not torch.allclose(before[:, :5], after[:, :5])


def test_autoregressive_forward_needs_teacher_frames():
    model = MapTransformer(TransformerConfig(**TINY))
    with pytest.raises(ValueError, match="teacher frames"):
        model(torch.zeros(1, 2))


def test_unknown_mode_is_refused_and_old_cards_stay_autoregressive():
    with pytest.raises(ConfigError, match="mode"):
        TransformerConfig(mode="diffusion")
    assert TransformerConfig().mode == "autoregressive"  # a model.json without the key loads as it was


def test_training_uses_the_refine_mode_unless_told_otherwise():
    from gesam_engine.training import settings_from_dict

    assert settings_from_dict({}).transformer.mode == "refine"
    assert settings_from_dict({"transformer": {"mode": "autoregressive"}}).transformer.mode == "autoregressive"
    assert settings_from_dict({}).train.transformer_loss == "l1"
    with pytest.raises(ConfigError, match="transformer_loss"):
        settings_from_dict({"train": {"transformer_loss": "huber"}})


def test_refine_mode_starts_as_its_prior_and_needs_one():
    torch.manual_seed(6)
    model = MapTransformer(TransformerConfig(patch=2, mode="refine", **TINY)).eval()
    points = torch.rand(3, 2)
    prior = torch.rand(3, 23, 8)
    # a zero-initialised correction: before training it plays exactly the VAE decoder's frames
    torch.testing.assert_close(model.generate(points, prior=prior), prior)
    with pytest.raises(ValueError, match="prior"):
        model.generate(points)
    with torch.no_grad():
        model.head.bias += 0.1
    torch.testing.assert_close(model.generate(points, prior=prior), prior + 0.1)
    assert model.needs_prior and model.parallel


def test_a_refine_model_generates_from_its_vae_decoder_at_the_point():
    import numpy as np

    from gesam_engine.models import MapTransformer as MT
    from tests.tiny import tiny_model

    model = tiny_model()
    model.transformer = MT(dataclasses.replace(model.transformer.config, mode="refine")).eval()
    xy = np.array([[0.2, 0.7], [0.9, 0.1]])
    z = torch.from_numpy(model.extent.to_latent(xy))
    with torch.no_grad():
        expected = model.vae.decode(z).clamp_min(0.0)
    torch.testing.assert_close(model.generate_frames(xy), expected)


def test_refine_training_needs_the_vae():
    from gesam_engine.training.settings import TrainConfig
    from gesam_engine.training.transformer_trainer import train_transformer

    cfg = TransformerConfig(mode="refine", **TINY)
    with pytest.raises(ValueError, match="vae"):
        train_transformer(torch.rand(4, 23, 8), torch.rand(4, 2), cfg, TrainConfig(transformer_epochs=1),
                          torch.device("cpu"), progress=False)
