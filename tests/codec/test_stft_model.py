"""A model on the stft codec saves, loads and renders like one on the mel codec (the codec is only its config)."""

from pathlib import Path

import numpy as np
import torch

from gesam_engine.cli.info_cmd import card_text
from gesam_engine.codec import StftCodec, make_codec
from gesam_engine.coordinates import MapExtent
from gesam_engine.gesam_model import GesamModel
from gesam_engine.models import MapTransformer, MapVAE, TransformerConfig, VAEConfig

CODEC = {"name": "stft", "n_fft": 256, "hop_length": 64, "griffin_lim_iters": 4}


def test_model_on_the_stft_codec_round_trips_and_renders(tmp_path: Path) -> None:
    torch.manual_seed(0)
    codec = make_codec(CODEC)
    n_samples = int(0.25 * codec.sample_rate)
    t, d = codec.n_frames(n_samples), codec.n_features
    vae = MapVAE(VAEConfig(n_frames=t, n_features=d, channels=16, n_down=2, hidden=32)).eval()
    tf = MapTransformer(TransformerConfig(n_frames=t, n_features=d, d_model=32, n_heads=2, n_layers=2, patch=4,
                                          fourier_features=4)).eval()
    classes = [{"name": "kick", "color": "#e6194b"}]
    model = GesamModel(codec, vae, tf, MapExtent(0.1, -0.2, 0.9), n_samples, classes, {"training": {"note": "tiny"}})
    model.save(tmp_path / "m")
    loaded = GesamModel.load(tmp_path / "m")
    assert isinstance(loaded.codec, StftCodec) and loaded.codec.to_config() == codec.to_config()
    points = np.array([[0.2, 0.3], [0.8, 0.1]])
    waves = loaded.render(points, iters=2)
    assert waves.shape == (2, n_samples) and np.isfinite(waves).all()
    np.testing.assert_array_equal(waves, model.render(points, iters=2))
    # gesam info names the frame's rows as the codec has them: 129 STFT bins here, not mel bands
    assert "stft codec (129 bins)" in card_text(loaded, tmp_path / "m")
