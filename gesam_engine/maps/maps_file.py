"""``maps.json``: the per-cell values behind every map picture, read by the engine and the web map.

Layout of a maps folder (``gesam maps -o DIR``; by default ``<model>/map/maps/``)::

    maps.json          this file: grid, weights sha256, views, per-cell class and feature values
    <view>.png         each view as a figure: axes in normalised coordinates, legend or colour bar
    plain/<view>.png   the bare map image, one square picture (y up), for the web map's clicks

Per-cell lists follow the bake's grid order (row-major from the bottom left: index = row * grid
+ col). Nothing is ever unpickled; a maps.json made from other weights is refused as stale.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from gesam_engine.atomic_io import atomic_write
from gesam_engine.errors import CheckpointError
from gesam_engine.maps.grid import grid_cell

FORMAT = "gesam-maps"
VERSION = 1
MAPS_JSON = "maps.json"


@dataclasses.dataclass(frozen=True)
class View:
    """One picture: its name (``class``, a feature name or ``tsne``), title, kind and files."""

    name: str
    title: str
    kind: str  # "class" | "feature" | "tsne"
    figure: str  # <name>.png: with axes and legend
    image: str  # plain/<name>.png: the bare map

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class MapsFile:
    """Everything in ``maps.json``. Lists are per cell, length grid * grid, in grid order."""

    grid: int
    weights: dict[str, str]
    views: list[View]
    classes: list[dict[str, str]]  # [{"name", "color"}] in label order
    class_source: str  # "classifier" (on the baked sounds) or "training labels" (5-NN of the points)
    class_ids: list[int]  # the class at each cell (argmax of its 5-NN mix)
    class_colors: list[str]  # the mixed colour at each cell, "#rrggbb"
    features: dict[str, list[float]]  # raw librosa values per feature name
    feature_units: dict[str, str]
    feature_clip: dict[str, list[float]]  # [low, high] percentiles used for the pictures
    tsne_rgb: list[list[float]] | None  # [r, g, b] in 0..1 per cell, or None when skipped
    feature_colors: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # colour-bar stops, low to high
    timing: dict[str, float] = dataclasses.field(default_factory=dict)
    format: str = FORMAT
    version: int = VERSION

    @property
    def n_cells(self) -> int:
        return self.grid * self.grid

    def at(self, x: float, y: float) -> dict[str, Any]:
        """The class (name, colour) and raw feature values at a point: what /gesam/state reports."""
        i = grid_cell(x, y, self.grid)
        k = self.class_ids[i]
        return {
            "cell": i,
            "class": {"name": self.classes[k]["name"], "color": self.class_colors[i]} if self.classes else None,
            "features": {name: values[i] for name, values in self.features.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "version": self.version, "grid": self.grid, "weights": self.weights,
            "order": "row-major from the bottom left: index = row * grid + col; "
                     "cell centre ((col + 0.5) / grid, (row + 0.5) / grid)",
            "views": [v.to_dict() for v in self.views], "classes": self.classes, "class_source": self.class_source,
            "class_ids": self.class_ids, "class_colors": self.class_colors, "features": self.features,
            "feature_units": self.feature_units, "feature_clip": self.feature_clip,
            "feature_colors": self.feature_colors, "tsne_rgb": self.tsne_rgb, "timing": self.timing,
        }

    @classmethod
    def from_dict(cls, d: Any, where: Path) -> "MapsFile":
        """Parse and check a decoded maps.json; CheckpointError says what is wrong."""
        if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != VERSION:
            raise CheckpointError(f"{where} is not a {FORMAT} version {VERSION} file; make it again with `gesam maps`")
        try:
            grid = int(d["grid"])
            n = grid * grid
            maps = cls(
                grid=grid, weights={str(k): str(v) for k, v in d["weights"].items()},
                views=[View(**{k: str(v[k]) for k in ("name", "title", "kind", "figure", "image")}) for v in d["views"]],
                classes=[{"name": str(c["name"]), "color": str(c["color"])} for c in d["classes"]],
                class_source=str(d["class_source"]), class_ids=[int(k) for k in d["class_ids"]],
                class_colors=[str(c) for c in d["class_colors"]],
                features={str(k): [float(x) for x in v] for k, v in d["features"].items()},
                feature_units={str(k): str(v) for k, v in d.get("feature_units", {}).items()},
                feature_clip={str(k): [float(x) for x in v] for k, v in d.get("feature_clip", {}).items()},
                feature_colors={str(k): [str(c) for c in v] for k, v in d.get("feature_colors", {}).items()},
                tsne_rgb=None if d.get("tsne_rgb") is None else [[float(c) for c in rgb] for rgb in d["tsne_rgb"]],
                timing={str(k): float(v) for k, v in d.get("timing", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{where} is incomplete or invalid ({exc!r}); make it again with `gesam maps`") from None
        lengths = {"class_ids": len(maps.class_ids), "class_colors": len(maps.class_colors),
                   **{f"features.{k}": len(v) for k, v in maps.features.items()}}
        if maps.tsne_rgb is not None:
            lengths["tsne_rgb"] = len(maps.tsne_rgb)
        wrong = {k: v for k, v in lengths.items() if v != n}
        if grid < 1 or wrong:
            raise CheckpointError(f"{where}: per-cell lists must have grid*grid = {n} entries; {wrong} do not")
        if maps.classes and not all(0 <= k < len(maps.classes) for k in maps.class_ids):
            raise CheckpointError(f"{where}: class_ids name classes outside 0..{len(maps.classes) - 1}")
        if not all(math.isfinite(x) for v in maps.features.values() for x in v):
            raise CheckpointError(f"{where}: feature values must be finite numbers")
        for view in maps.views:
            for rel in (view.figure, view.image):
                p = Path(rel)
                if p.is_absolute() or ".." in p.parts or p.suffix != ".png":
                    raise CheckpointError(f"{where}: view {view.name!r} names {rel!r}; "
                                          "pictures must be .png inside the maps folder")
        return maps


def write_maps_file(directory: Path, maps: MapsFile) -> Path:
    """Write ``directory/maps.json`` atomically (temporary file + rename)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return atomic_write(directory / MAPS_JSON, json.dumps(maps.to_dict(), separators=(",", ":")))


def read_maps_file(directory: Path, weights: dict[str, str] | None = None) -> MapsFile:
    """Read and check ``directory/maps.json``; with ``weights``, refuse maps made from other weights."""
    path = Path(directory) / MAPS_JSON
    if not path.is_file():
        raise CheckpointError(f"{path} is missing; make the maps with `gesam maps`")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path} cannot be read as JSON ({type(exc).__name__}: {exc}); make the maps again") from None
    maps = MapsFile.from_dict(data, path)
    if weights is not None and maps.weights != weights:
        raise CheckpointError(f"{path} was made from other weights than this model's (stale); run `gesam maps` again")
    return maps
