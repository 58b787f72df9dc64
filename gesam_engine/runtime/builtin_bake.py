"""The engine's built-in bake: a small grid of ready sounds for a model that ships no bake of its own.

It is an ordinary ``gesam bake`` (maps/map_bake.py: batched with the KV cache, float16, resumable),
kept under ``<cache>/bakes/<key>/`` where the key names the weights, grid, Griffin-Lim
iterations and codec, so the second start loads it instead of generating. A damaged one is
made again. The engine gets it as float32 at its output rate, pinned in its sound cache
(``bake_into_cache``); a live engine makes it on a thread of its own (``Generator.start_job``),
so start-up does not wait for it, and stopping the engine stops it between batches.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from gesam_engine.errors import CheckpointError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.map_bake import bake_grid, load_bake, weights_id
from gesam_engine.runtime.resample import to_rate
from gesam_engine.runtime.sound_cache import SoundCache

if TYPE_CHECKING:
    from gesam_engine.runtime.generator import Generator

Stop = Callable[[], bool]  # true when the bake should end (between batches)
Report = Callable[[str], None]  # a line for the user (why the bake failed)


class BakeStopped(GesamError):
    """The bake was asked to stop before it finished (what is done stays, to resume next time)."""


def bake_key(model: GesamModel, grid: int, iters: int) -> str:
    """The folder name of a built-in bake: a digest of weights, grid, iterations and codec."""
    ident = {"weights": weights_id(model), "grid": grid, "iters": iters, "codec": model.codec.to_config()}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def _bake_and_load(model: GesamModel, grid: int, iters: int, directory: Path, progress: bool,
                   stop: Stop | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        points, _, audio, _ = load_bake(directory, model)
    except CheckpointError:  # not made yet, unfinished or damaged: bake_grid resumes or remakes it
        try:
            index = bake_grid(model, grid, directory, batch=16, iters=iters, progress=progress, stop=stop)
        except CheckpointError:  # an unreadable index: start over
            index = bake_grid(model, grid, directory, batch=16, iters=iters, progress=progress, force=True, stop=stop)
        if not index.complete:
            raise BakeStopped(f"the built-in bake stopped after {index.done} of {index.total} sounds")
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
    stop: Stop | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Points [N, 2] and waves [N, L'] float32 at ``output_rate`` of the built-in ``grid`` bake,
    loaded from ``cache_dir`` when made before (nothing is kept without a cache dir). ``stop``
    ends the making between batches (BakeStopped; what is done is resumed next time)."""
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="gesam-bake-") as tmp:
            points, audio = _bake_and_load(model, grid, iters, Path(tmp), progress, stop)
    else:
        points, audio = _bake_and_load(model, grid, iters, Path(cache_dir) / "bakes" / bake_key(model, grid, iters),
                                       progress, stop)
    waves = np.stack([to_rate(w, model.sample_rate, output_rate) for w in audio]).astype(np.float32)
    return points, waves


def bake_into_cache(
    model: GesamModel,
    cache: SoundCache,
    grid: int,
    output_rate: int,
    iters: int,
    cache_dir: Path | None,
    progress: bool = False,
    stop: Stop | None = None,
) -> int:
    """Load or make the built-in bake (``load_or_make_bake``) and pin its sounds in ``cache``, so
    no trigger is ever silent after it; the number of sounds."""
    points, waves = load_or_make_bake(model, grid, output_rate, iters, cache_dir, progress, stop)
    for p, w in zip(points, waves):
        cache.put((float(p[0]), float(p[1])), w, pinned=True)
    return len(points)


def start_builtin_bake(generator: Generator, grid: int, iters: int, cache_dir: Path | None, report: Report) -> None:
    """``bake_into_cache`` for the generator's model, cache and output rate, as its job
    (``Generator.start_job``): the caller does not wait (a trigger plays the nearest ready sound
    meanwhile), stopping the generator stops it between batches, and ``report`` hears why it
    failed, if it does."""

    def job(stopping: threading.Event) -> None:
        try:
            bake_into_cache(generator.model, generator.cache, grid, generator.output_rate, iters, cache_dir,
                            stop=stopping.is_set)
        except BakeStopped:
            return  # stopped first; what was made is resumed by the next start
        except Exception as exc:
            report(f"the built-in bake failed ({type(exc).__name__}: {exc}); a trigger plays the nearest "
                   "sound generated so far")
            raise

    generator.start_job("gesam-builtin-bake", job)
