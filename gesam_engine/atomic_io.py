"""Replace a file in one step: a temporary file with a random name in the same folder, fsync, ``os.replace``.

The one way gesam writes files that someone may read while they change (model cards, kits,
caches, bakes, renders). The temporary file is made by ``tempfile.mkstemp`` (``O_EXCL``, random
name, so a planted symlink is never followed), given the mode a plain ``open`` would give
(``0o666`` less the umask, where mkstemp gives 0600), synced, and renamed over the target; on
any error it is removed and the target is untouched. Standard library only: ``osc_bridge``
imports it and must never pull in torch.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["atomic_write", "atomic_write_with", "file_mode", "folder_mode", "umask"]

_UMASK_LINE = re.compile(rb"^Umask:\s*([0-7]+)\s*$", re.MULTILINE)
_fallback_lock = threading.Lock()
_fallback_umask: int | None = None


def umask() -> int:
    """The process umask, read without changing it (Linux: /proc/self/status).

    Where /proc cannot tell, it is read once with the set-and-restore ``os.umask`` dance under a
    lock and remembered, so no other thread's file is ever created under a changed umask again."""
    global _fallback_umask
    try:
        with open("/proc/self/status", "rb") as fh:
            found = _UMASK_LINE.search(fh.read())
        if found:
            return int(found.group(1), 8)
    except OSError:
        pass
    with _fallback_lock:
        if _fallback_umask is None:
            _fallback_umask = os.umask(0o022)
            os.umask(_fallback_umask)
        return _fallback_umask


def file_mode() -> int:
    """Mode of a new plain file, as ``open(path, "w")`` would create it: 0o666 less the umask."""
    return 0o666 & ~umask()


def folder_mode() -> int:
    """Mode of a new folder, as ``os.mkdir`` would create it: 0o777 less the umask."""
    return 0o777 & ~umask()


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[BinaryIO], object], *, sync: bool = True) -> Path:
    """Call ``write(fh)`` on a fresh temporary file beside ``path`` and rename it over ``path``.

    ``fh`` is a seekable binary file (``np.save``, ``soundfile.write(fh, ..., format="WAV")`` and
    ``fh.write(bytes)`` all work). ``sync=False`` skips the fsync (for caches that can be rebuilt).
    The folder must exist. Any thread may call it. Returns ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as fh:
            os.fchmod(fh.fileno(), file_mode())
            write(fh)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, sync: bool = True) -> Path:
    """Replace ``path`` with ``data`` (``str`` is written as UTF-8) in one step; see ``atomic_write_with``."""
    blob = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return atomic_write_with(path, lambda fh: fh.write(blob), sync=sync)
