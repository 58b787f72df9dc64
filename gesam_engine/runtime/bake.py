"""The small built-in bake: a grid of ready sounds made at start, so no trigger is ever silent.

Generated in batches with the KV cache and kept on disk under the cache directory, keyed by
the model's weights and the output rate, so the second start is instant.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from gesam_engine.gesam_model import GesamModel
from gesam_engine.runtime.resample import to_rate


def grid_points(n: int) -> np.ndarray:
    """Centres of an n x n grid over the map, normalised [n*n, 2] (row-major, y up)."""
    c = (np.arange(n) + 0.5) / n
    xx, yy = np.meshgrid(c, c)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def _bake_key(model: GesamModel, grid: int, output_rate: int, iters: int) -> str:
    files = model.card.get("files", {})
    ident = {"weights": {k: v for k, v in files.items() if k.endswith(".safetensors")}, "grid": grid,
             "rate": output_rate, "iters": iters, "codec": model.codec.to_config()}
    if not ident["weights"]:  # an unsaved model: key on its parameters
        digest = hashlib.sha256()
        for t in model.transformer.state_dict().values():
            digest.update(t.detach().cpu().numpy().tobytes())
        ident["weights"] = digest.hexdigest()
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def make_bake(
    model: GesamModel, grid: int, output_rate: int, iters: int, batch: int = 16, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the grid: points [N, 2] and waves [N, L] float32 at ``output_rate``."""
    points = grid_points(grid)
    waves = []
    for i in tqdm(range(0, len(points), batch), desc="built-in bake", unit="batch", disable=not progress):
        for wave in model.render(points[i : i + batch], iters=iters):
            waves.append(to_rate(wave, model.sample_rate, output_rate))
    return points, np.stack(waves).astype(np.float32)


def load_or_make_bake(
    model: GesamModel,
    grid: int,
    output_rate: int,
    iters: int,
    cache_dir: Path | None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The built-in bake from ``cache_dir`` if made before for these weights, else made and stored."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "bakes" / f"{_bake_key(model, grid, output_rate, iters)}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    return data["points"], data["waves"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                path.unlink(missing_ok=True)  # a corrupt bake is made again
    points, waves = make_bake(model, grid, output_rate, iters, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, points=points, waves=waves)
        os.replace(tmp, path)
    return points, waves
