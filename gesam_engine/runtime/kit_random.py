"""Kit randomising: a new map point for every unlocked pad, inside the class region its name says.

A pad named "kick" (or "BD 2", "kck": the corpus labeller's keywords, ``data.labels``) lands on a
cell the class map calls kick; a pad whose name names no class, or a model without maps, lands
anywhere on the map. Pads are kept apart: a cell another pad already holds is taken only when its
class has no free cell left. ``KitHistory`` keeps the kits before each change for undo.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import threading
from typing import TYPE_CHECKING, Any, Mapping

from gesam_engine.errors import GesamError
from gesam_engine.maps.grid import grid_cell
from gesam_engine.maps.maps_file import MapsFile
from gesam_engine.runtime.kits import Kit

if TYPE_CHECKING:
    from gesam_engine.data.labels import LabelConfig

UNDO_DEPTH = 32


def class_of_name(name: str, classes: list[str], labels: LabelConfig | None = None) -> str | None:
    """The class a pad's name says (one of ``classes``), or None when it names none of them."""
    from gesam_engine.data.labels import LabelConfig, label_for_name  # lazy: gesam_engine.data is heavy for serve

    label = label_for_name(name, labels or LabelConfig())
    if label in classes:
        return label
    lowered = name.strip().lower()
    return lowered if lowered in classes else None


def card_labels(card: Mapping[str, Any]) -> LabelConfig:
    """The keyword lists a model was trained with (its card's settings.labels), else the defaults."""
    from gesam_engine.data.labels import LabelConfig, load_label_config

    try:
        return load_label_config((card.get("settings") or {}).get("labels"))
    except (GesamError, ValueError, TypeError, AttributeError):
        return LabelConfig()


def _cell_point(cell: int, grid: int, rng: random.Random) -> tuple[float, float]:
    """A random point inside ``cell`` (row-major from the bottom left, as maps.json)."""
    row, col = divmod(cell, grid)
    return ((col + rng.uniform(0.2, 0.8)) / grid, (row + rng.uniform(0.2, 0.8)) / grid)


def randomize(kit: Kit, maps: MapsFile | None, rng: random.Random, labels: LabelConfig | None = None) -> Kit:
    """``kit`` with a new point for every unlocked pad (see the module text); locked pads stay."""
    if maps is None or not maps.classes:
        pads = [pad if pad.locked else dataclasses.replace(pad, x=rng.random(), y=rng.random()) for pad in kit.pads]
        return Kit(kit.name, tuple(pads))
    names = [c["name"] for c in maps.classes]
    cells: dict[int, list[int]] = collections.defaultdict(list)
    for i, k in enumerate(maps.class_ids):
        cells[k].append(i)
    taken = {grid_cell(pad.x, pad.y, maps.grid) for pad in kit.pads if pad.locked}
    pads = list(kit.pads)
    for n, pad in enumerate(kit.pads):
        if pad.locked:
            continue
        name = class_of_name(pad.name, names, labels)
        pool = cells[names.index(name)] if name is not None and cells[names.index(name)] else list(range(maps.n_cells))
        free = [c for c in pool if c not in taken] or pool
        cell = rng.choice(free)
        taken.add(cell)
        x, y = _cell_point(cell, maps.grid, rng)
        pads[n] = dataclasses.replace(pad, x=x, y=y)
    return Kit(kit.name, tuple(pads))


class KitHistory:
    """The kits before each change, newest last (at most ``UNDO_DEPTH``). Any thread may call it."""

    def __init__(self, depth: int = UNDO_DEPTH) -> None:
        self._kits: collections.deque[Kit] = collections.deque(maxlen=depth)
        self._lock = threading.Lock()

    def push(self, kit: Kit) -> None:
        """Remember ``kit`` (the pads just before a change)."""
        with self._lock:
            self._kits.append(kit)

    def pop(self) -> Kit | None:
        """The kit before the last change (taken off the history), or None when there is none."""
        with self._lock:
            return self._kits.pop() if self._kits else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._kits)
