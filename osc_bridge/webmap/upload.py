"""A file dropped on the web map (``POST /api/locate``): the name it is shown by, the suffix its
private temporary copy gets, and that copy, deleted after use. The locating itself is the
Controller's ``Locate`` command, the same as OSC's ``/gesam/locate``."""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import Iterator

__all__ = ["AUDIO_SUFFIXES", "AUDIO_KINDS", "display_name", "is_upload_type", "private_copy", "temp_suffix"]

# gesam_engine.data.audio_io.AUDIO_EXTENSIONS, not imported: that module loads librosa (a test keeps them equal)
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".aiff", ".aif", ".ogg", ".mp3")
AUDIO_KINDS = "WAV, AIFF, FLAC, OGG or MP3"
_TYPE_SUFFIXES = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav",
                  "audio/flac": ".flac", "audio/x-flac": ".flac", "audio/aiff": ".aiff", "audio/x-aiff": ".aiff",
                  "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp3": ".mp3"}
_MAX_NAME = 100  # characters of a file name in a message


def display_name(header: str | None) -> str:
    """The dropped file's name for messages, from its percent-encoded ``X-File-Name`` header: the
    last path part, control characters dropped, at most 100 characters, quoted; 'the dropped
    file' without one."""
    name = urllib.parse.unquote(header or "", errors="replace").replace("\\", "/").rpartition("/")[2]
    name = "".join(c for c in name if c.isprintable()).strip()
    if not name:
        return "the dropped file"
    return repr(name if len(name) <= _MAX_NAME else name[:_MAX_NAME] + "...")


def is_upload_type(content_type: str) -> bool:
    """Whether a dropped file may come with this Content-Type: ``application/octet-stream`` or
    ``audio/*``. Neither can be sent across sites without the browser asking first (CORS
    preflight, which this server never grants), as a form's types could."""
    return content_type == "application/octet-stream" or content_type.startswith("audio/")


def temp_suffix(name: str | None, content_type: str) -> str:
    """The temporary copy's suffix: the file name's when it is a known audio suffix, else the one
    its ``audio/*`` type names, else none (the readers then go by the bytes alone)."""
    suffix = Path(urllib.parse.unquote(name or "", errors="replace")).suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return suffix
    return _TYPE_SUFFIXES.get(content_type, "")


@contextlib.contextmanager
def private_copy(body: bytes, suffix: str) -> Iterator[Path]:
    """``body`` in a new temporary file only this user can read (``mkstemp``: a random name,
    created exclusively, mode 0600), deleted when the block ends."""
    fd, name = tempfile.mkstemp(prefix="gesam-drop-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        yield path
    finally:
        path.unlink(missing_ok=True)
