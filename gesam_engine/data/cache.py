"""An on-disk cache of encoded frames, keyed by file content and by the settings that made them.

Layout: ``<directory>/<config-hash>/<content-hash[:2]>/<content-hash>.npy`` (float32, no
pickle), with ``config.json`` beside the entries naming the settings. Changing any
preprocessing or codec setting changes the config hash, so stale frames are never reused.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from gesam_engine.atomic_io import atomic_write, atomic_write_with
from gesam_engine.errors import ConfigError

CACHE_FORMAT = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")


def file_hash(path: Path, chunk_size: int = 1 << 20) -> str:
    """sha256 hex digest of a file's bytes, read in chunks (memory stays flat for big files)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def config_hash(key_config: dict[str, Any]) -> str:
    """Short stable hash of JSON-ready settings (key order does not matter)."""
    try:
        text = json.dumps({"format": CACHE_FORMAT, **key_config}, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cache key settings must be JSON-ready: {exc}") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class FeatureCache:
    """Frames [T, D] float32 per file content hash, for one set of preprocessing+codec settings."""

    file_hash = staticmethod(file_hash)

    def __init__(self, directory: Path, key_config: dict[str, Any]) -> None:
        self.key = config_hash(key_config)
        self.root = Path(directory) / self.key
        self._key_config = key_config
        self._described = False

    def path_for(self, content_hash: str) -> Path:
        """Where the frames of this content hash live."""
        if not _HEX64.fullmatch(content_hash):
            raise ValueError(f"content hash must be 64 lowercase hex digits, got {content_hash!r}")
        return self.root / content_hash[:2] / f"{content_hash}.npy"

    def get(self, content_hash: str) -> np.ndarray | None:
        """Cached frames [T, D] float32, or None on a miss; an unreadable entry is deleted."""
        path = self.path_for(content_hash)
        if not path.is_file():
            return None
        try:
            frames: np.ndarray = np.load(path, allow_pickle=False)
            ok = (
                isinstance(frames, np.ndarray)
                and frames.ndim == 2
                and frames.dtype == np.float32
                and bool(np.all(np.isfinite(frames)))
            )
        except Exception:  # truncated, not .npy, pickled object array...: treat as a miss
            ok = False
        if not ok:
            path.unlink(missing_ok=True)
            return None
        return frames

    def put(self, content_hash: str, frames: np.ndarray) -> None:
        """Store frames [T, D] (written as float32, atomically)."""
        path = self.path_for(content_hash)
        arr = np.ascontiguousarray(frames, dtype=np.float32)
        if arr.ndim != 2:
            raise ValueError(f"frames must be [T, D], got shape {arr.shape}")
        if not self._described:
            self._describe()
        path.parent.mkdir(parents=True, exist_ok=True)
        # sync=False: a cache entry lost in a power cut is decoded again, never half-read (rename is atomic)
        atomic_write_with(path, lambda fh: np.save(fh, arr, allow_pickle=False), sync=False)

    def _describe(self) -> None:
        """Write config.json once, so a person can tell cache folders apart."""
        meta = self.root / "config.json"
        if not meta.exists():
            text = json.dumps({"format": CACHE_FORMAT, **self._key_config}, indent=2, sort_keys=True)
            meta.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(meta, text, sync=False)
        self._described = True
