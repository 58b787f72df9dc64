"""The GESAM networks: the map VAE, the map-conditioned transformer, and the frame classifier."""

from gesam_engine.models.classifier import ClassifierConfig, FrameClassifier
from gesam_engine.models.transformer import KVCache, MapTransformer, TransformerConfig
from gesam_engine.models.vae import MapVAE, VAEConfig

__all__ = ["ClassifierConfig", "FrameClassifier", "KVCache", "MapTransformer", "MapVAE", "TransformerConfig", "VAEConfig"]
