"""gesam: a playable 2D map of drum sounds (GESAM: VAE map + map-conditioned transformer)."""

__version__ = "0.1.0"
