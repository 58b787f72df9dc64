"""The engine's built-in bake: a small grid of ready sounds made at start, so no trigger is silent.

It is an ordinary ``gesam bake`` (maps/map_bake.py: batched with the KV cache, float16, resumable),
kept under ``<cache>/bakes/<key>/`` where the key names the weights, grid, Griffin-Lim
iterations and codec, so the second start loads it instead of generating. A damaged one is
made again. The engine gets it as float32 at its output rate.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from gesam_engine.errors import CheckpointError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.map_bake import bake_grid, load_bake, weights_id
from gesam_engine.runtime.resample import to_rate


def bake_key(model: GesamModel, grid: int, iters: int) -> str:
    """The folder name of a built-in bake: a digest of weights, grid, iterations and codec."""
    ident = {"weights": weights_id(model), "grid": grid, "iters": iters, "codec": model.codec.to_config()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def _bake_and_load(model: GesamModel, grid: int, iters: int, directory: Path,
                   progress: bool) -> tuple[np.ndarray, np.ndarray]:
    try:
        points, _, audio, _ = load_bake(directory, model)
    except CheckpointError:  # not made yet, unfinished or damaged: bake_grid resumes or remakes it
        try:
            bake_grid(model, grid, directory, batch=16, iters=iters, progress=progress)
        except CheckpointError:  # an unreadable index: start over
            bake_grid(model, grid, directory, batch=16, iters=iters, progress=progress, force=True)
        points, _, audio, _ = load_bake(directory, model)
    assert audio is not None  # bake_grid stores audio by default
    return np.array(points), np.asarray(audio, dtype=np.float32)


def load_or_make_bake(
    model: GesamModel,
    grid: int,
    output_rate: int,
    iters: int,
    cache_dir: Path | None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Points [N, 2] and waves [N, L'] float32 at ``output_rate`` of the built-in ``grid`` bake,
    loaded from ``cache_dir`` when made before (nothing is kept without a cache dir)."""
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="gesam-bake-") as tmp:
            points, audio = _bake_and_load(model, grid, iters, Path(tmp), progress)
    else:
        points, audio = _bake_and_load(model, grid, iters, Path(cache_dir) / "bakes" / bake_key(model, grid, iters),
                                       progress)
    waves = np.stack([to_rate(w, model.sample_rate, output_rate) for w in audio]).astype(np.float32)
    return points, waves
