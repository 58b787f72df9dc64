"""The training corpus a model records in its card, found again on disk and checked by content.

``gesam train`` writes into model.json::

    training.corpus.folders = ["/abs/folder", ...]            # the folders given to --data
    training.corpus.files   = [{"path": "rel/to/folder.wav", "folder": 0, "sha256": "..."}, ...]

``find_recorded_corpus`` reads that record, checks every file (present, same sha256) and says
exactly what is missing or changed; evaluation then uses exactly those files, not whatever the
folders hold today. A model trained before the record existed gets an error that names ``--train``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from gesam_engine.data.cache import file_hash
from gesam_engine.errors import GesamError

SHOWN = 8  # files named per kind of problem in an error message
OVERRIDE = "give the folders it was trained on with `gesam evaluate --train DIR...` (that overrides the record)"


@dataclasses.dataclass(frozen=True)
class RecordedCorpus:
    """The recorded training folders and the sha256 of every file the model was trained on."""

    folders: list[Path]
    hashes: frozenset[str]
    n_files: int


def _record(card: Mapping[str, Any]) -> tuple[list[Path], list[dict[str, Any]]]:
    """(folders, files) from a card, or a GesamError saying the record is absent or malformed."""
    corpus = ((card.get("training") or {}).get("corpus") or {})
    folders, files = corpus.get("folders"), corpus.get("files")
    if not folders or not files:
        raise GesamError("this model's model.json records no training corpus (it was trained before gesam "
                         f"recorded the files it learnt from): {OVERRIDE}")
    try:
        roots = [Path(str(f)) for f in folders]
        entries: list[dict[str, Any]] = [{"path": str(e["path"]), "folder": int(e["folder"]), "sha256": str(e["sha256"]).lower()}
                   for e in files]
    except (KeyError, TypeError, ValueError) as exc:
        raise GesamError(f"model.json's training.corpus record is malformed ({type(exc).__name__}: {exc}): "
                         f"{OVERRIDE}") from None
    bad = [e["path"] for e in entries if not 0 <= e["folder"] < len(roots)]
    if bad:
        raise GesamError(f"model.json's training.corpus names a folder index that does not exist for {bad[0]!r}: "
                         f"{OVERRIDE}")
    return roots, entries


def _listing(kind: str, paths: list[str]) -> str:
    more = f" ... and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return f"\n  {kind} [{len(paths)}]: " + ", ".join(paths[:SHOWN]) + more


def find_recorded_corpus(card: Mapping[str, Any]) -> RecordedCorpus:
    """The model's recorded training corpus, every file found at its path with its recorded sha256.

    Raises GesamError when the card has no record, or listing the folders that are gone, the
    files missing (moved or deleted) and the files whose content changed, and how to override."""
    roots, entries = _record(card)
    gone_folders = [str(r) for r in roots if not r.is_dir()]
    missing: list[str] = []
    changed: list[str] = []
    for e in entries:
        path = roots[e["folder"]] / e["path"]
        if not path.is_file():
            missing.append(str(path))
        elif file_hash(path) != e["sha256"]:
            changed.append(str(path))
    if missing or changed:
        message = (f"the model was trained on {len(entries)} files recorded in its model.json, but "
                   f"{len(missing)} are missing (moved or deleted) and {len(changed)} changed (sha256 differs):")
        if gone_folders:
            message += _listing("folders gone", gone_folders)
        if missing:
            message += _listing("missing", missing)
        if changed:
            message += _listing("changed", changed)
        raise GesamError(f"{message}\nPut them back, or {OVERRIDE}")
    return RecordedCorpus(roots, frozenset(e["sha256"] for e in entries), len(entries))
