"""The model's shipped map bake (``<model>/map/bake`` from ``gesam bake``) as a source of ready sounds,
read lazily from its memmap.

A 200 x 200 bake is gigabytes of audio, so nothing is loaded up front: when the cursor enters
a grid cell whose sound is not cached yet, that one sound is read, converted to float32 at the
output rate and put in the sound cache, so the next trigger plays a sound at most half a cell
away while the exact point is still being generated. The engine fills the cursor's and the pads'
cells at start (pinned), so with a shipped bake a trigger sounds at once and no built-in bake is made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.map_bake import load_bake
from gesam_engine.maps.grid import grid_cell
from gesam_engine.runtime.resample import to_rate
from gesam_engine.runtime.sound_cache import SoundCache


class BakedGrid:
    """The audio of a finished bake [N*N, L] (float16 memmap) and its grid size."""

    def __init__(self, directory: Path, model: GesamModel, output_rate: int) -> None:
        """Open the bake in ``directory``; CheckpointError when it is stale, partial or frames-only."""
        points, _, audio, index = load_bake(directory, model)
        if audio is None:
            from gesam_engine.errors import CheckpointError

            raise CheckpointError(f"{directory} is a frames-only bake; the engine needs its audio (bake without --frames-only)")
        self.points, self.audio, self.grid = points, audio, index.grid
        self.model_rate, self.output_rate = model.sample_rate, output_rate

    def fill(self, cache: SoundCache, xy: tuple[float, float], pinned: bool = False) -> tuple[float, float]:
        """Make the sound of ``xy``'s cell ready in ``cache`` (a no-op when it already is); its point.
        ``pinned`` keeps it there for good (the start-up sounds, so a trigger is never silent)."""
        i = grid_cell(xy[0], xy[1], self.grid)
        point = (float(self.points[i, 0]), float(self.points[i, 1]))
        if point not in cache:
            wave = to_rate(np.asarray(self.audio[i], dtype=np.float32), self.model_rate, self.output_rate)
            cache.put(point, wave, pinned=pinned)
        return point
