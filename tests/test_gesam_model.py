"""The assembled model: batched rendering, peak safety, encoding points, device names."""

import numpy as np
import pytest
import torch

from gesam_engine.errors import ConfigError
from gesam_engine.gesam_model import PEAK_CEILING, resolve_device
from tests.tiny import tiny_model


def test_render_shapes_and_batch_independence():
    model = tiny_model()
    xy = np.array([[0.1, 0.1], [0.9, 0.4], [0.5, 0.5]])
    waves = model.render(xy)
    assert waves.shape == (3, model.n_samples) and waves.dtype == np.float32
    np.testing.assert_allclose(model.render(xy[1:2])[0], waves[1], atol=1e-5)


def test_loud_frames_are_turned_down_and_quiet_ones_left_alone():
    model = tiny_model()
    t, d = model.transformer.config.n_frames, model.codec.n_features
    loud = model.decode(torch.full((1, t, d), 1.3))
    assert np.abs(loud).max() <= PEAK_CEILING + 1e-6
    quiet_frames = torch.full((1, t, d), 0.4)
    raw = model.codec.decode_batch(quiet_frames, model.n_samples).numpy()
    assert np.abs(raw).max() < PEAK_CEILING
    np.testing.assert_allclose(model.decode(quiet_frames), raw, atol=1e-7)


def test_encode_points_returns_normalised_pairs():
    model = tiny_model()
    frames = np.random.default_rng(0).random((4, model.transformer.config.n_frames, 16), dtype=np.float32)
    pts = model.encode_points(frames)
    assert pts.shape == (4, 2) and np.isfinite(pts).all()


def test_device_names():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
