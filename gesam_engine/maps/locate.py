"""Query by example: where a sound file lands on a model's map, what class it is, and which
training sounds lie nearest to it there.

A file goes through the same reading and preparation as training (``data.corpus.encode_file``),
then the VAE's encoder gives its map point (normalised coordinates, as everything a person sees).
The class is the classifier's on the file's own frames; the nearest training sounds come from the
model's ``map/points.json`` (the training set's points, labels and files).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gesam_engine.config import from_dict
from gesam_engine.errors import GesamError
from gesam_engine.gesam_model import GesamModel


@dataclasses.dataclass(frozen=True)
class Location:
    """One file on the map: its point, its class (None without a classifier) and its nearest
    training sounds as (file, label, distance in normalised units), nearest first."""

    path: str
    x: float
    y: float
    class_name: str | None
    class_probability: float | None
    nearest: tuple[tuple[str, str, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "x": self.x, "y": self.y, "class": self.class_name,
                "class_probability": self.class_probability,
                "nearest": [{"file": f, "label": lb, "distance": d} for f, lb, d in self.nearest]}


@dataclasses.dataclass(frozen=True)
class TrainingPoints:
    """The training sounds' map points [N, 2], labels and files (``map/points.json``)."""

    points: np.ndarray
    labels: list[str]
    files: list[str]

    @classmethod
    def of(cls, model: GesamModel) -> "TrainingPoints | None":
        """The model's training points, or None when its directory has none."""
        if model.directory is None:
            return None
        name = ((model.card.get("map") or {}).get("points_file")) or "map/points.json"
        path = model.directory / name
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            points = np.asarray(data["points"], dtype=np.float64).reshape(-1, 2)
            labels, files = [str(v) for v in data["labels"]], [str(v) for v in data["files"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GesamError(f"{path} is not a readable points file ({exc})") from None
        if not (len(labels) == len(files) == points.shape[0]):
            raise GesamError(f"{path}: points, labels and files differ in length")
        return cls(points, labels, files)


def locate(model: GesamModel, paths: Sequence[Path], nearest: int = 5) -> list[Location | GesamError]:
    """Each file's Location, or the GesamError saying why it could not be read (in ``paths`` order)."""
    from gesam_engine.data.corpus import encode_file  # lazy: the training-side readers are heavy
    from gesam_engine.data.preprocess import PreprocessConfig

    if nearest < 0:
        raise GesamError(f"nearest must be 0 or more, got {nearest}")
    # a model whose card has no preprocess settings (made by hand, or by a test) still gets files of
    # its own rate and length: the VAE takes exactly n_samples
    stated = dict((model.card.get("settings") or {}).get("preprocess") or {})
    stated.setdefault("sample_rate", model.sample_rate)
    stated.setdefault("duration_s", model.n_samples / model.sample_rate)
    preprocess = from_dict(PreprocessConfig, stated, "preprocess")
    training = TrainingPoints.of(model)
    names = model.class_names()
    out: list[Location | GesamError] = []
    for path in paths:
        try:
            frames = encode_file(Path(path), model.codec, preprocess)[None]
        except GesamError as exc:
            out.append(GesamError(f"{path}: {exc}"))
            continue
        x, y = (float(v) for v in model.encode_points(frames)[0])
        cls_name = prob = None
        if model.classifier is not None:
            probs = model.classify(frames)[0]
            k = int(np.argmax(probs))
            cls_name, prob = names[k], round(float(probs[k]), 4)
        near: tuple[tuple[str, str, float], ...] = ()
        if training is not None and nearest > 0:
            d = np.hypot(training.points[:, 0] - x, training.points[:, 1] - y)
            order = np.argsort(d, kind="stable")[:nearest]
            near = tuple((training.files[i], training.labels[i], round(float(d[i]), 4)) for i in order)
        out.append(Location(str(path), round(x, 6), round(y, 6), cls_name, prob, near))
    return out
