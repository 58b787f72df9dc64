"""Encoding tasks for the worker processes of ``test_encode_pool`` (importable by name in a spawned process)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gesam_engine.codec.base import Codec
from gesam_engine.data.corpus import encode_outcome
from gesam_engine.data.preprocess import PreprocessConfig

DEADLY = "kick_2.wav"


def die_on_one_file(path: Path, codec: Codec, preprocess: PreprocessConfig) -> np.ndarray | str:
    """Encode as training does, but the worker process dies outright on ``DEADLY`` (as a decoder crash would)."""
    if Path(path).name == DEADLY:
        os._exit(3)
    return encode_outcome(path, codec, preprocess)


def raise_on_one_file(path: Path, codec: Codec, preprocess: PreprocessConfig) -> np.ndarray | str:
    """Encode as training does, but raise an unexpected exception (not an AudioFileError) on ``DEADLY``."""
    if Path(path).name == DEADLY:
        raise MemoryError("pretend")
    return encode_outcome(path, codec, preprocess)
