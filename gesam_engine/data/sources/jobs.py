"""What every source hands the corpus builder: kits of hits, each hit loadable as a mono wave.

A source lists its kits as ``KitJob``s without touching the audio (cheap, so the builder can
count and show progress); ``KitJob.load`` then yields one ``Loaded`` per hit, with the wave
or the reason it could not be made. A fluidsynth kit renders all its hits in one run.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Iterator

import numpy as np


@dataclasses.dataclass(frozen=True)
class SourceHit:
    """One sound a source offers: where it comes from and what it is called.

    ``stem`` is the file name the corpus gives it (no extension): it carries the instrument
    name, so the keyword labeller reads it. ``origin`` says exactly where the sound came
    from (a file path, or ``font.sf2 bank B program P key K velocity V``). ``identity``,
    when set, names the recorded material exactly (a SoundFont hit: font, key and the samples
    it plays); two hits with the same identity are the same sound, whatever else differs.
    """

    source: str
    kit: str
    instrument: str
    stem: str
    origin: str
    key: int | None = None
    velocity: int | None = None
    identity: str | None = None


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A hit's mono float32 wave [L] at ``rate``, or ``error`` (then ``wave`` is None)."""

    hit: SourceHit
    wave: np.ndarray | None
    rate: int
    error: str = ""


@dataclasses.dataclass(frozen=True)
class KitJob:
    """A kit (or SoundFont preset) of a source: its hits, licence, and how to load them."""

    source: str
    kit: str
    licence: str
    hits: tuple[SourceHit, ...]
    load: Callable[[], Iterator[Loaded]]


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(text: str, limit: int = 80) -> str:
    """A file or folder name made of letters, digits and ``._+-`` (runs of others become ``_``).

    Spaces become underscores, which the labeller splits on like spaces. Never empty.
    """
    name = _UNSAFE.sub("_", text.strip()).strip("._")[:limit].strip("._")
    return name or "unnamed"
