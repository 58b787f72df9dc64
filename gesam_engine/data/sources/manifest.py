"""The corpus manifest: every kept sound with its origin, label, licence and content hash.

``manifest.json`` lies at the corpus root beside ``train/`` and ``val/``. It holds the
resolved build settings, the sources (Debian packages and versions, licences, copyright
files), every kit with its split and family, every kept sound (``items``), every sound left
out as a copy (``duplicates``) or as unusable (``rejected``), and the counts. Paths are
relative to the corpus root; ``sha256`` is the hash of the file's bytes, as
``gesam_engine.data.cache.file_hash`` computes it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from gesam_engine.atomic_io import atomic_write
from gesam_engine.errors import ConfigError

MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.json"


@dataclasses.dataclass(frozen=True)
class ManifestItem:
    """One kept sound."""

    path: str
    split: str
    source: str
    kit: str
    instrument: str
    label: str
    licence: str
    sha256: str
    seconds: float
    origin: str
    key: int | None = None
    velocity: int | None = None


@dataclasses.dataclass(frozen=True)
class Duplicate:
    """A sound left out because it copies a kept one: ``kind`` "exact", "samples" or "near" (see dedup)."""

    source: str
    kit: str
    stem: str
    origin: str
    duplicate_of: str
    kind: str
    distance_db: float
    corr: float | None = None


def counts(items: list[ManifestItem]) -> dict[str, Any]:
    """Counts per split, source, label, and split x source and split x label."""
    out: dict[str, Any] = {"total": len(items), "per_split": {}, "per_source": {}, "per_label": {},
                           "per_split_source": {}, "per_split_label": {}}
    for item in items:
        for key, value in (("per_split", item.split), ("per_source", item.source), ("per_label", item.label)):
            out[key][value] = out[key].get(value, 0) + 1
        for key, value in (("per_split_source", item.source), ("per_split_label", item.label)):
            table = out[key].setdefault(item.split, {})
            table[value] = table.get(value, 0) + 1
    for key in ("per_split", "per_source", "per_label"):
        out[key] = dict(sorted(out[key].items()))
    for key in ("per_split_source", "per_split_label"):
        out[key] = {s: dict(sorted(t.items())) for s, t in sorted(out[key].items())}
    return out


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` (JSON-ready, with ``format``) to ``root/manifest.json`` atomically."""
    text = json.dumps({"format": MANIFEST_FORMAT, **manifest}, indent=1, ensure_ascii=False)
    return atomic_write(Path(root) / MANIFEST_NAME, text + "\n")


def read_manifest(root: Path) -> dict[str, Any]:
    """Read a corpus manifest (a folder or the JSON file); ConfigError when missing, damaged or newer."""
    path = Path(root)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no corpus manifest at {path}; build one with 'gesam corpus build --out DIR'") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the corpus manifest {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise ConfigError(f"{path} has manifest format {found!r}; this gesam reads format {MANIFEST_FORMAT}")
    return data


def items_of(manifest: dict[str, Any]) -> list[ManifestItem]:
    """The manifest's kept sounds as ManifestItem (unknown fields refused)."""
    try:
        return [ManifestItem(**entry) for entry in manifest.get("items", [])]
    except TypeError as exc:
        raise ConfigError(f"corpus manifest has a malformed item: {exc}") from None
