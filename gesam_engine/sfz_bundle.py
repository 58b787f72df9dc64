"""One zip file for an exported SFZ kit (``gesam kit export --zip``): ``kit.sfz``, the samples it
names and the kit's TOML, under one folder, so unpacking it gives a folder any SFZ sampler opens.

The zip is the same bytes for the same files: members in name order, one fixed date, plain
file modes; it is written atomically (``atomic_io``), so a half-written bundle is never seen.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from gesam_engine.atomic_io import atomic_write_with
from gesam_engine.errors import GesamError

__all__ = ["KIT_TOML_NAME", "sfz_samples", "write_sfz_zip"]

KIT_TOML_NAME = "kit.toml"
_SAMPLE = re.compile(r"(?:^|\s)sample=(\S+)")
_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip holds: the same bytes on every run


def sfz_samples(sfz_text: str) -> list[str]:
    """The sample paths an SFZ file's regions name (``sample=...``, relative, '/'-separated), in order;
    comment lines are skipped. GesamError for a path that leaves the kit's folder."""
    found: list[str] = []
    for line in sfz_text.splitlines():
        if line.lstrip().startswith("//"):
            continue
        for match in _SAMPLE.finditer(line):
            name = match.group(1).replace("\\", "/")
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts or not parts:
                raise GesamError(f"the SFZ names the sample {name!r} outside its folder; cannot bundle it")
            if name not in found:
                found.append(name)
    return found


def write_sfz_zip(sfz: Path, kit_toml: str, path: Path, folder: str, force: bool = False) -> list[str]:
    """Write ``path``: ``folder/kit.sfz`` (from ``sfz``), every sample it names (from beside it) and
    ``folder/kit.toml`` (``kit_toml``). Refuses to overwrite an existing ``path`` unless ``force``.
    Returns the member names, in the zip's order."""
    if path.exists() and not force:
        raise GesamError(f"{path} already exists; pass --force to overwrite it")
    text = sfz.read_text(encoding="utf-8")
    files = {sfz.name: sfz.read_bytes(), KIT_TOML_NAME: kit_toml.encode("utf-8")}
    for name in sfz_samples(text):
        sample = sfz.parent / name
        if not sample.is_file():
            raise GesamError(f"{sfz} names the sample {name}, which is not in {sfz.parent}")
        files[name] = sample.read_bytes()
    members = [f"{folder}/{name}" for name in sorted(files)]

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w") as bundle:
            for name in sorted(files):
                info = zipfile.ZipInfo(f"{folder}/{name}", date_time=_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, so the mode below is what unpacking gives
                info.external_attr = 0o100644 << 16
                bundle.writestr(info, files[name])

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_with(path, write)
    return members
