"""The two GESAM stages: the map VAE and the map-conditioned transformer."""

from gesam_engine.models.transformer import KVCache, MapTransformer, TransformerConfig
from gesam_engine.models.vae import MapVAE, VAEConfig

__all__ = ["KVCache", "MapTransformer", "MapVAE", "TransformerConfig", "VAEConfig"]
