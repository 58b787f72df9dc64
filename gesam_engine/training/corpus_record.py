"""What a model was trained on, as model.json records it: the folders given to ``--data`` and
every file used, by its path inside its folder and the sha256 of its bytes.

``gesam evaluate`` reads this record to find the training corpus again (and says which files
are missing or changed); a resumed training run compares it with the run it continues.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from gesam_engine.data import Corpus


def corpus_record(roots: Sequence[Path], corpus: Corpus) -> dict[str, Any]:
    """``{"folders": [absolute --data folders], "files": [{"path", "folder", "sha256"}], "sha256"}``.

    ``path`` is relative to ``folders[folder]`` (POSIX separators); ``sha256`` is the file's
    content hash (the feature cache's key). The top ``sha256`` covers the files in training order,
    not the folders' absolute places, so a corpus moved elsewhere still matches."""
    index: dict[str, int] = {}
    for i, root in enumerate(roots):
        index.setdefault(str(Path(root)), i)
    files = [
        {"path": Path(item.path).relative_to(item.root).as_posix(), "folder": index[str(Path(item.root))],
         "sha256": item.content_hash}
        for item in corpus.items
    ]
    return {"folders": [os.path.abspath(root) for root in roots], "files": files, "sha256": files_sha256(files)}


def files_sha256(files: Sequence[Mapping[str, Any]]) -> str:
    """sha256 over (folder, path, sha256) of every file, in order: one figure for the whole corpus."""
    rows = [[f["folder"], f["path"], f["sha256"]] for f in files]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def describe_difference(old: Mapping[str, Any], new: Mapping[str, Any], examples: int = 3) -> str:
    """How two corpus records differ, in words (files added, removed, changed; order; folder count)."""
    def keyed(record: Mapping[str, Any]) -> dict[tuple[int, str], str]:
        return {(int(f["folder"]), str(f["path"])): str(f["sha256"]) for f in record.get("files", [])}

    a, b = keyed(old), keyed(new)
    parts: list[str] = []
    n_old, n_new = len(old.get("folders", [])), len(new.get("folders", []))
    if n_old != n_new:
        parts.append(f"{n_old} --data folder(s) then, {n_new} now")

    def named(keys: list[tuple[int, str]], what: str) -> None:
        if keys:
            shown = ", ".join(f"{p} (folder {i + 1})" for i, p in sorted(keys)[:examples])
            more = f" and {len(keys) - examples} more" if len(keys) > examples else ""
            parts.append(f"{len(keys)} file(s) {what}: {shown}{more}")

    named([k for k in b if k not in a], "added")
    named([k for k in a if k not in b], "removed")
    named([k for k in a if k in b and a[k] != b[k]], "changed")
    if not parts:
        parts.append("the same files in another order (were the --data folders given in another order?)")
    return "; ".join(parts)
