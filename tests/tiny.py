"""Tiny, untrained models for tests that need a model directory but not a good sound."""

from __future__ import annotations

import torch

from gesam_engine.codec import make_codec
from gesam_engine.coordinates import MapExtent
from gesam_engine.gesam_model import GesamModel
from gesam_engine.models import ClassifierConfig, FrameClassifier, MapTransformer, MapVAE, TransformerConfig, VAEConfig

TINY_CODEC = {"n_mels": 16, "griffin_lim_iters": 4}
TINY_VAE = {"channels": 16, "n_down": 2, "hidden": 32}
TINY_TRANSFORMER = {"d_model": 32, "n_heads": 2, "n_layers": 2, "patch": 4, "fourier_features": 4}
TINY_CLASSIFIER = {"channels": 8, "n_down": 1, "kernel_size": 3}


def tiny_model(seconds: float = 0.25, seed: int = 0, with_classifier: bool = True) -> GesamModel:
    """An untrained GesamModel with a 16-mel codec and a few thousand parameters (plus a tiny
    untrained classifier for its two classes unless ``with_classifier`` is False)."""
    torch.manual_seed(seed)
    codec = make_codec(TINY_CODEC)
    n_samples = int(seconds * codec.sample_rate)
    n_frames = codec.n_frames(n_samples)
    vae = MapVAE(VAEConfig(n_frames=n_frames, n_features=16, **TINY_VAE)).eval()
    tf = MapTransformer(TransformerConfig(n_frames=n_frames, n_features=16, **TINY_TRANSFORMER)).eval()
    classes = [{"name": "kick", "color": "#e6194b"}, {"name": "snare", "color": "#3cb44b"}]
    classifier = None
    if with_classifier:
        cfg = ClassifierConfig(n_frames=n_frames, n_features=16, n_classes=len(classes), **TINY_CLASSIFIER)
        classifier = FrameClassifier(cfg).eval()
    return GesamModel(codec, vae, tf, MapExtent(0.1, -0.2, 0.9), n_samples, classes, {"training": {"note": "tiny"}},
                      classifier=classifier)
