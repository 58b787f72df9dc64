"""Hydrogen drum kits: a folder per kit, one-shot files, and ``drumkit.xml`` naming each instrument.

Every audio file of a kit becomes a hit; its corpus name is ``<instrument>__<file stem>``, so
the instrument name from ``drumkit.xml`` ("Pearl Kick") is what the labeller reads first and
the file's own name is the fallback. Files the XML does not mention keep their own name.
Kits of beat loops or non-drum sounds are left out (``EXCLUDED_KITS``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

from gesam_engine.data.audio_io import read_audio
from gesam_engine.data.scan import find_audio_files
from gesam_engine.data.sources.jobs import KitJob, Loaded, SourceHit, safe_name
from gesam_engine.data.sources.packages import licence_for
from gesam_engine.errors import AudioFileError

# Not drum one-shots: beat loops (rumpf) and guitar strums (belofilms, in older packages).
EXCLUDED_KITS: frozenset[str] = frozenset({"rumpf_kit_z01_h2", "belofilms_GuitarStrums"})

MAX_INPUT_S = 30.0


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name]


def _text(node: ET.Element, name: str) -> str:
    found = _children(node, name)
    return (found[0].text or "").strip() if found else ""


def read_drumkit_xml(path: Path) -> tuple[str, str, dict[str, str]]:
    """(kit name, licence text, file name -> instrument name) from a Hydrogen ``drumkit.xml``.

    Both layouts are read: ``instrument/layer/filename`` and the older ``instrument/filename``.
    Raises AudioFileError when the file is not XML.
    """
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise AudioFileError(f"cannot read {path}: {exc}") from None
    files: dict[str, str] = {}
    for node in root.iter():
        if _local(node.tag) != "instrument":
            continue
        name = _text(node, "name")
        names = [_text(node, "filename")] + [_text(layer, "filename") for layer in _children(node, "layer")]
        for file_name in names:
            if file_name:
                files.setdefault(Path(file_name).name, name)
    return _text(root, "name"), _text(root, "license"), files


def _contains(haystack: str, needle: str) -> bool:
    def squash(s: str) -> str:
        return "".join(ch for ch in s.lower() if ch.isalnum())

    return squash(needle) != "" and squash(needle) in squash(haystack)


def _load(hits: tuple[SourceHit, ...]) -> Iterator[Loaded]:
    for hit in hits:
        try:
            wave, rate = read_audio(Path(hit.origin), MAX_INPUT_S)
        except AudioFileError as exc:
            yield Loaded(hit, None, 0, str(exc))
            continue
        yield Loaded(hit, wave, rate)


def kit_job(folder: Path, source: str = "hydrogen") -> KitJob:
    """The hits of one Hydrogen kit folder (its files, named by ``drumkit.xml`` when it has one)."""
    kit = folder.name
    xml = folder / "drumkit.xml"
    instruments: dict[str, str] = {}
    xml_licence = ""
    if xml.exists():
        try:
            _, xml_licence, instruments = read_drumkit_xml(xml)
        except AudioFileError:  # a damaged drumkit.xml: the files keep their own names
            pass
    hits = []
    seen: set[str] = set()
    for path, _ in find_audio_files([folder]):
        instrument = instruments.get(path.name, "")
        stem = path.stem if not instrument or _contains(path.stem, instrument) else f"{instrument}__{path.stem}"
        stem = safe_name(stem)
        base, n = stem, 2
        while stem.lower() in seen:  # same stem in two sub-folders or two extensions
            stem, n = f"{base}_{n}", n + 1
        seen.add(stem.lower())
        hits.append(SourceHit(source, kit, instrument or path.stem, stem, str(path)))
    archive = [f"drumkits/{kit}.h2drumkit", f"drumkits/{kit.split(' ')[0]}.h2drumkit"]
    licence = licence_for(source, archive)
    if licence == "per kit: see kits in the manifest":
        licence = xml_licence or "unknown (see /usr/share/doc/hydrogen-drumkits/copyright)"
    frozen = tuple(hits)
    return KitJob(source, kit, licence, frozen, lambda: _load(frozen))


def hydrogen_jobs(root: Path, source: str = "hydrogen") -> list[KitJob]:
    """One job per kit folder under ``root`` (sorted), leaving out ``EXCLUDED_KITS`` and empty kits."""
    jobs = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name in EXCLUDED_KITS:
            continue
        job = kit_job(folder, source)
        if job.hits:
            jobs.append(job)
    return jobs
