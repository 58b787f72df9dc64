"""``gesam maps``: from a finished bake to every map the paper shows, as PNGs and one maps.json.

Views: ``class`` (5-NN class-colour mix), one per audio feature (``rms`` ... ``zcr``) and
``tsne`` (3D t-SNE of the features as RGB). Each cell of the bake's grid is one pixel.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gesam_engine.errors import CheckpointError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps import render
from gesam_engine.maps.map_bake import load_bake, weights_id
from gesam_engine.maps.class_map import hex_to_rgb, knn_class_mix, rgb_to_hex
from gesam_engine.maps.features import FEATURES, TITLES, UNITS, audio_features, clip_range, feature_matrix, normalise
from gesam_engine.maps.maps_file import MapsFile, View, write_maps_file
from gesam_engine.maps.tsne import tsne_rgb

CLASS_SOURCES = ("auto", "classifier", "labels")
TSNE_NOTE = "colour = 3D t-SNE of the six normalised features: red, green, blue = t-SNE axes 1, 2, 3"


def training_points(model: GesamModel) -> tuple[np.ndarray, np.ndarray] | None:
    """The training sounds' map points [N, 2] and class ids [N] from ``map/points.json``, if the model has it."""
    if model.directory is None:
        return None
    path = model.directory / "map" / "points.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        points = np.asarray(doc["points"], dtype=np.float64).reshape(-1, 2)
        names = model.class_names()
        ids = np.array([names.index(str(label)) for label in doc["labels"]], dtype=np.int64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} cannot be used ({exc!r}); retrain or restore the model directory") from None
    if ids.shape[0] != points.shape[0] or not np.isfinite(points).all():
        raise CheckpointError(f"{path}: points and labels do not match")
    return points, ids


def _audio(model: GesamModel, frames: np.ndarray, audio: np.ndarray | None, batch: int) -> np.ndarray:
    """The bake's audio, or (frames-only bake) the frames decoded now, float16 [N, L]."""
    if audio is not None:
        return audio
    out = np.empty((frames.shape[0], model.n_samples), dtype=np.float16)
    for lo in range(0, frames.shape[0], batch):
        part = torch.from_numpy(np.asarray(frames[lo:lo + batch], dtype=np.float32)).to(model.device)
        out[lo:lo + batch] = model.decode(part)
    return out


def _class_mix(model: GesamModel, source: str, points: np.ndarray, frames: np.ndarray,
               batch: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Cell colours [N, 3], class ids [N] and the source used (see class_map)."""
    if not model.classes:
        raise GesamError("the model has no classes, so there is no class map")
    palette = np.stack([hex_to_rgb(c["color"]) for c in model.classes])
    has_classifier = getattr(model, "classifier", None) is not None
    if source == "auto":
        source = "classifier" if has_classifier else "labels"
    if source == "classifier":
        if not has_classifier:
            raise GesamError("this model has no classifier; use --class-source labels or retrain with `gesam train`")
        probs = np.concatenate([model.classify(np.asarray(frames[lo:lo + batch], dtype=np.float32))
                                for lo in range(0, frames.shape[0], batch)])
        colors, ids = knn_class_mix(points, points, probs.argmax(axis=1), palette)
        return colors, ids, "classifier"
    train = training_points(model)
    if train is None:
        raise GesamError("the model directory has no map/points.json to take training labels from")
    colors, ids = knn_class_mix(points, train[0], train[1], palette)
    return colors, ids, "training labels"


def make_maps(model: GesamModel, bake_dir: Path, out_dir: Path, class_source: str = "auto", tsne: bool = True,
              overlay_points: bool = True, seed: int = 0, batch: int = 256, progress: bool = True) -> MapsFile:
    """Compute every view from the finished bake in ``bake_dir`` and write PNGs + maps.json to ``out_dir``."""
    if class_source not in CLASS_SOURCES:
        raise GesamError(f"class source must be one of {CLASS_SOURCES}, got {class_source!r}")
    points, frames, audio, index = load_bake(bake_dir, model)
    grid, out_dir = index.grid, Path(out_dir)
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    waves = _audio(model, frames, audio, batch)
    timing["decode_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    feats = audio_features(waves, index.sample_rate, progress=progress)
    clip = {name: clip_range(feats[name]) for name in FEATURES}
    timing["features_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    class_rgb, class_ids, source = _class_mix(model, class_source, points, frames, batch)
    timing["class_s"] = time.perf_counter() - t0

    rgb = None
    if tsne:
        t0 = time.perf_counter()
        rgb = tsne_rgb(feature_matrix(feats, clip), seed=seed)
        timing["tsne_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    views = _write_pictures(model, out_dir, grid, feats, clip, class_rgb, class_ids, rgb, overlay_points)
    timing["pictures_s"] = time.perf_counter() - t0
    maps = MapsFile(
        grid=grid, weights=weights_id(model, sound_only=False), views=views, classes=list(model.classes), class_source=source,
        class_ids=[int(k) for k in class_ids], class_colors=[rgb_to_hex(c) for c in class_rgb],
        features={name: [float(v) for v in feats[name]] for name in FEATURES}, feature_units=dict(UNITS),
        feature_clip={name: list(clip[name]) for name in FEATURES},
        feature_colors={name: [rgb_to_hex(c) for c in render.colormap_rgb(np.linspace(0, 1, 11), render.FEATURE_CMAPS[name])]
                        for name in FEATURES},
        tsne_rgb=None if rgb is None else np.round(rgb, 4).tolist(), timing={k: round(v, 3) for k, v in timing.items()},
    )
    write_maps_file(out_dir, maps)
    return maps


def _write_pictures(model: GesamModel, out_dir: Path, grid: int, feats: dict[str, np.ndarray],
                    clip: dict[str, tuple[float, float]], class_rgb: np.ndarray, class_ids: np.ndarray,
                    rgb: np.ndarray | None, overlay_points: bool) -> list[View]:
    views: list[View] = []

    def view(name: str, title: str, kind: str) -> View:
        v = View(name=name, title=title, kind=kind, figure=f"{name}.png", image=f"plain/{name}.png")
        views.append(v)
        return v

    out_dir.mkdir(parents=True, exist_ok=True)
    v = view("class", "Class (5 nearest neighbours)", "class")
    train = training_points(model) if overlay_points else None
    counts = np.bincount(class_ids, minlength=len(model.classes)).tolist()
    render.save_class_figure(out_dir / v.figure, class_rgb, grid, v.title, model.classes, counts,
                             *(train if train is not None else (None, None)))
    render.save_plain(out_dir / v.image, class_rgb, grid)
    for name in FEATURES:
        v = view(name, TITLES[name], "feature")
        lo, hi = clip[name]
        values01 = normalise(feats[name], lo, hi)
        cmap = render.FEATURE_CMAPS[name]
        render.save_feature_figure(out_dir / v.figure, values01, grid, v.title, cmap,
                                   f"{UNITS[name]} (clipped to the 2nd-98th percentile)", lo, hi)
        render.save_plain(out_dir / v.image, render.colormap_rgb(values01, cmap), grid)
    if rgb is not None:
        v = view("tsne", "t-SNE of the audio features (RGB)", "tsne")
        render.save_rgb_figure(out_dir / v.figure, rgb, grid, v.title, TSNE_NOTE)
        render.save_plain(out_dir / v.image, rgb, grid)
    return views


def summary(maps: MapsFile) -> dict[str, Any]:
    """A short JSON-ready report of a maps run: grid, views, class counts, timing."""
    counts = np.bincount(np.asarray(maps.class_ids), minlength=len(maps.classes)).tolist()
    return {"grid": maps.grid, "views": [v.name for v in maps.views], "class_source": maps.class_source,
            "class_cells": {c["name"]: n for c, n in zip(maps.classes, counts)}, "timing": maps.timing}
