"""The corpus sources: which Debian package each comes from, where its files are, under what licence.

Only these sources feed the corpus, on purpose: other packaged sample collections stay out
of training, so the model can be judged on sounds nobody tuned it to. A missing package is a
``ConfigError`` that names the ``apt-get install`` line.

Licences come from the package's Debian copyright file (``/usr/share/doc/<pkg>/copyright``):
in the machine-readable (DEP-5) format the stanza whose ``Files:`` pattern matches wins;
otherwise (fluid-soundfont) the source's recorded licence, quoted from that file, is used.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import subprocess
from pathlib import Path

from gesam_engine.errors import ConfigError

DOC_ROOT = Path("/usr/share/doc")


@dataclasses.dataclass(frozen=True)
class Source:
    """A corpus source: its name, Debian packages, files, and licence when the copyright file cannot say."""

    name: str
    packages: tuple[str, ...]
    paths: tuple[str, ...]  # files or folders it reads; the first that exists is used
    licence: str
    note: str = ""

    def install_hint(self) -> str:
        """The command that installs this source."""
        return f"apt-get install --no-install-recommends {' '.join(self.packages)}"


SOURCES: dict[str, Source] = {
    "hydrogen": Source(
        "hydrogen", ("hydrogen-drumkits",), ("/usr/share/hydrogen/data/drumkits",),
        "per kit: see kits in the manifest", "Hydrogen drum kits (WAV/FLAC/AIFF one-shots with drumkit.xml)",
    ),
    "avldrums": Source(
        "avldrums", ("avldrums.lv2-soundfont",),
        ("/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2", "/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"),
        "CC-BY-SA-3.0", "AVL Drumkits (Glen MacArthur): two acoustic kits, five velocity layers per note",
    ),
    "fluid": Source(
        "fluid", ("fluid-soundfont-gm", "fluid-soundfont-gs"),
        ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/FluidR3_GS.sf2"),
        "MIT", "FluidR3 GM/GS (Frank Wen): the drum bank (128) of each font",
    ),
    "csound": Source(
        "csound", ("csound-soundfont",), ("/usr/share/sounds/sf2/sf_GMbank.sf2",),
        "public-domain", "csound's GM bank: the drum bank (128)",
    ),
    "synth": Source("synth", (), (), "MIT", "gesam's own procedural kit (gesam synth-kit recipes), a minor share"),
}

DEFAULT_SOURCES: tuple[str, ...] = ("hydrogen", "avldrums", "fluid", "csound", "synth")


def parse_sources(text: str) -> tuple[str, ...]:
    """``"hydrogen,fluid"`` -> ("hydrogen", "fluid"); ConfigError listing the valid names otherwise."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise ConfigError(f"unknown source(s) {unknown or [text]}; valid sources are {list(SOURCES)}")
    return names


def existing_paths(source: Source) -> list[Path]:
    """The source's files or folders that exist on this machine."""
    return [Path(p) for p in source.paths if Path(p).exists()]


def require(name: str) -> list[Path]:
    """The source's existing paths; ConfigError naming the apt-get line when none is installed."""
    source = SOURCES[name]
    if not source.paths:
        return []
    found = existing_paths(source)
    if not found:
        raise ConfigError(
            f"source {name!r} needs {' and '.join(source.packages)}, which is not installed "
            f"(none of {list(source.paths)} exists): install it ({source.install_hint()}), "
            f"or leave it out with --sources"
        )
    return found


def package_version(package: str) -> str | None:
    """The installed version of a Debian package (dpkg-query), or None."""
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def copyright_file(package: str) -> Path:
    """Where Debian keeps the package's copyright file."""
    return DOC_ROOT / package / "copyright"


def dep5_stanzas(text: str) -> list[tuple[list[str], str]]:
    """(file patterns, licence short name) of every ``Files:`` stanza of a DEP-5 copyright file."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            patterns = fields["Files"].split()
            out.append((patterns, fields["License"].splitlines()[0].strip()))
    return out


def dep5_licence(text: str, candidates: list[str]) -> str | None:
    """Licence of the last stanza whose pattern matches any candidate path (DEP-5: the last match wins)."""
    found = None
    for patterns, licence in dep5_stanzas(text):
        if any(fnmatch.fnmatchcase(c, p) for p in patterns for c in candidates):
            found = licence
    return found


def licence_for(name: str, candidates: list[str]) -> str:
    """Licence of a file of source ``name`` (candidate paths as in the copyright file), else the recorded one."""
    source = SOURCES[name]
    for package in source.packages:
        path = copyright_file(package)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.startswith("Format:"):
            found = dep5_licence(text, candidates)
            if found:
                return found
    return source.licence
