"""A corpus's frames on disk: one float32 array [N, T, D] written row by row while the corpus is
built, then memory-mapped, so a corpus of 100 k sounds never has to fit in memory.

With a cache the array is ``<cache>/<config-hash>/corpus-<rows-hash>.f32`` (raw C-order float32)
with ``corpus-<rows-hash>.json`` beside it (format, shape, the hash of its rows' content hashes):
another process (a training rank) can map the same file with ``open_frames``. The newest
``KEEP_CORPORA`` corpus files of a cache folder are kept. Without a cache it is an unlinked
temporary file in the temporary folder (``TMPDIR``), gone when the array is, even after a kill.

The array is mapped copy-on-write: torch can wrap it without a copy (and without its warning
about read-only arrays), and nothing written into it ever reaches the file. Nothing in gesam
writes into it; ``paging`` drops its pages from this process now and then, which would undo
such a write.
"""

from __future__ import annotations

import hashlib
import json
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gesam_engine.atomic_io import atomic_write, file_mode
from gesam_engine.data import paging
from gesam_engine.errors import GesamError

CORPUS_FORMAT = 1
KEEP_CORPORA = 4  # corpus files kept per cache folder (one per distinct file list), newest first
STALE_TEMP_S = 24 * 3600.0  # an unfinished corpus file this old was left by a killed build


class FrameWriter:
    """Appends frames [T, D] one row at a time to a file (no mapping while writing, so the
    build's resident memory stays flat); ``finish`` maps the rows as [N, T, D]."""

    def __init__(self, frame_shape: tuple[int, int], directory: Path | None) -> None:
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.rows = 0
        self._digest = hashlib.sha256(f"{CORPUS_FORMAT}:{self.frame_shape}".encode())
        self._directory = Path(directory) if directory is not None else None
        self._temp: Path | None = None
        self._fh: BinaryIO
        if self._directory is None:
            self._fh = tempfile.TemporaryFile(prefix="gesam-corpus-")
        else:
            self._directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".corpus-", suffix=".tmp", dir=self._directory)
            self._temp = Path(name)
            self._fh = os.fdopen(fd, "w+b")

    def append(self, frames: np.ndarray, content_hash: str) -> None:
        """Write one row: frames [T, D] (as float32) of the sound with this content hash."""
        row = np.ascontiguousarray(frames, dtype=np.float32)
        if row.shape != self.frame_shape:
            raise ValueError(f"frames must be {list(self.frame_shape)}, got {list(row.shape)}")
        self._fh.write(row.data)
        self._digest.update(content_hash.encode("ascii"))
        self.rows += 1

    def finish(self) -> tuple[np.memmap, Path | None]:
        """The rows as a copy-on-write memmap [N, T, D] float32, and its file (None: a temporary one).
        Needs at least one row."""
        if self.rows == 0:
            raise ValueError("a corpus array needs at least one row")
        self._fh.flush()
        path: Path | None = None
        if self._directory is not None and self._temp is not None:
            name = f"corpus-{self._digest.hexdigest()[:16]}"
            path = self._directory / f"{name}.f32"
            same = _existing(path, self._digest.hexdigest(), (self.rows, *self.frame_shape))
            if same is not None:  # the same rows already there (another training rank's): share its pages
                self.discard()
                with contextlib.suppress(OSError):  # pruned meanwhile by another build: our mapping stays valid
                    os.utime(path)  # the newest again, for ``prune``
                return same, path
            os.chmod(self._temp, file_mode())
            os.replace(self._temp, path)  # a reader of an older file with this name keeps its own mapping
            self._temp = None
            header = {"format": CORPUS_FORMAT, "dtype": "float32", "order": "C", "shape": [self.rows, *self.frame_shape],
                      "rows_sha256": self._digest.hexdigest()}
            atomic_write(path.with_suffix(".json"), json.dumps(header, indent=1), sync=False)
        # mapped through our own descriptor: the file we wrote, even if another build renames over its name
        frames = np.memmap(self._fh, dtype=np.float32, mode="c", shape=(self.rows, *self.frame_shape))
        self._fh.close()
        paging.register(frames)
        if self._directory is not None:
            prune(self._directory, KEEP_CORPORA)
        return frames, path

    def discard(self) -> None:
        """Drop what was written (the build failed or found no usable file)."""
        if not self._fh.closed:
            self._fh.close()
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None


def open_frames(path: Path) -> np.memmap:
    """Map a corpus file written by ``FrameWriter`` (copy-on-write, [N, T, D] float32); GesamError
    when it or its header is missing, damaged or of another format."""
    path = Path(path)
    try:
        header = json.loads(path.with_suffix(".json").read_text())
        shape = tuple(int(n) for n in header["shape"])
        ok = header.get("format") == CORPUS_FORMAT and header.get("dtype") == "float32" and len(shape) == 3
        size = path.stat().st_size
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GesamError(f"cannot read the corpus file {path}: {exc}") from None
    if not ok or min(shape) < 1 or size != 4 * shape[0] * shape[1] * shape[2]:
        raise GesamError(f"the corpus file {path} does not match its header (format {CORPUS_FORMAT}, "
                         f"float32 [N, T, D]); build the corpus again")
    frames = np.memmap(path, dtype=np.float32, mode="c", shape=shape)
    paging.register(frames)
    return frames


def _existing(path: Path, rows_sha256: str, shape: tuple[int, int, int]) -> np.memmap | None:
    """The corpus file at ``path`` mapped, when its header says it holds exactly these rows; else None."""
    try:
        header = json.loads(path.with_suffix(".json").read_text())
        if header.get("rows_sha256") != rows_sha256 or tuple(header.get("shape", ())) != shape:
            return None
        return open_frames(path)
    except (OSError, ValueError, GesamError):
        return None


def prune(directory: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest corpus files of a cache folder, and unfinished ones
    older than a day (a mapped file stays readable to whoever maps it until they let go)."""
    now = time.time()
    finished: list[tuple[float, Path]] = []
    for entry in Path(directory).iterdir():
        try:
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        if entry.name.startswith("corpus-") and entry.suffix == ".f32":
            finished.append((mtime, entry))
        elif entry.name.startswith(".corpus-") and entry.suffix == ".tmp" and now - mtime > STALE_TEMP_S:
            entry.unlink(missing_ok=True)
    for _, entry in sorted(finished, reverse=True)[keep:]:
        entry.unlink(missing_ok=True)
        entry.with_suffix(".json").unlink(missing_ok=True)


def scratch_array(shape: tuple[int, ...], directory: Path | None = None) -> np.ndarray:
    """A zeroed, writable float32 array of ``shape`` backed by an unlinked temporary file (in
    ``directory``, else the temporary folder) that goes with the array: room for frames derived
    from a corpus (augmented copies) that need not fit in memory. Empty shapes are plain arrays."""
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=np.float32)
    if directory is not None:
        Path(directory).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(prefix="gesam-scratch-", dir=directory) as fh:
        array = np.memmap(fh, dtype=np.float32, mode="w+", shape=shape)  # shared: written pages reach the file
    paging.register(array)
    return array
