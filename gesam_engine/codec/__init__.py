"""Codecs: audio <-> frames. ``make_codec`` builds one from the settings stored in model.json."""

from __future__ import annotations

from typing import Any, Callable

from gesam_engine.codec.base import Codec
from gesam_engine.codec.mel import MelCodec, MelCodecConfig
from gesam_engine.codec.stft import StftCodec, StftCodecConfig
from gesam_engine.errors import ConfigError

__all__ = ["Codec", "MelCodec", "MelCodecConfig", "StftCodec", "StftCodecConfig", "make_codec", "CODECS"]

CODECS: dict[str, Callable[[dict[str, Any]], Codec]] = {"mel": MelCodec.from_config, "stft": StftCodec.from_config}


def make_codec(config: dict[str, Any] | None = None) -> Codec:
    """Build the codec named by ``config['name']`` (default ``mel``) with the other keys as settings."""
    config = dict(config or {})
    name = config.get("name", "mel")
    if name not in CODECS:
        raise ConfigError(f"unknown codec {name!r}; valid codecs are {sorted(CODECS)}")
    return CODECS[name](config)
