"""Finding the audio files under the folders a user points gesam at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from gesam_engine.data.audio_io import AUDIO_EXTENSIONS
from gesam_engine.errors import ConfigError


def is_audio_path(path: Path) -> bool:
    """Whether a file name has one of ``AUDIO_EXTENSIONS`` (any case) and is not hidden."""
    return not path.name.startswith(".") and path.suffix.lower() in AUDIO_EXTENSIONS


def find_audio_files(roots: Sequence[Path]) -> list[tuple[Path, Path]]:
    """Every audio file under ``roots`` as (file, root), recursive, sorted, hidden entries skipped.

    A file reachable from two roots is listed once, with the first root. A missing root or
    one that is not a folder raises ConfigError naming it.
    """
    found: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise ConfigError(f"audio folder {root} does not exist; check the path given to scan")
        if not root.is_dir():
            raise ConfigError(f"audio folder {root} is not a folder; give the folder that holds the samples")
        per_root: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                path = Path(dirpath) / name
                if is_audio_path(path) and path.is_file():
                    per_root.append(path)
        for path in sorted(per_root, key=lambda p: p.relative_to(root).as_posix()):
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append((path, root))
    return found
