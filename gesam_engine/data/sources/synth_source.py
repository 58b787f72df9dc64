"""gesam's own procedural drums (``gesam synth-kit``'s recipes) as corpus kits: a minor share by design.

Each kit is drawn from its own seed, so kits differ and the split can hold some out.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from gesam_engine.data.sources.jobs import KitJob, Loaded, SourceHit
from gesam_engine.data.synth import KINDS, synth_drum
from gesam_engine.errors import ConfigError


def _load(hits: tuple[SourceHit, ...], seed: int, sample_rate: int) -> Iterator[Loaded]:
    rng = np.random.default_rng(seed)
    for hit in hits:
        yield Loaded(hit, synth_drum(hit.instrument, rng, sample_rate), sample_rate)


def _job(kit: str, licence: str, hits: tuple[SourceHit, ...], seed: int, sample_rate: int) -> KitJob:
    return KitJob("synth", kit, licence, hits, lambda: _load(hits, seed, sample_rate))


def synth_jobs(kits: int = 4, per_class: int = 4, seed: int = 0, sample_rate: int = 44100,
               licence: str = "MIT") -> list[KitJob]:
    """``kits`` kits of ``per_class`` sounds of each kind (kick, snare, hihat, tom, clap)."""
    if not 0 <= kits <= 100 or not 1 <= per_class <= 1000:
        raise ConfigError(f"synth kits must be in 0..100 and per_class in 1..1000, got {kits} and {per_class}")
    jobs = []
    for k in range(kits):
        kit = f"synth-kit-{k}"
        hits = tuple(
            SourceHit("synth", kit, kind, f"{kind}_{i:02d}", f"gesam synth seed {seed + k} {kind} {i}")
            for kind in KINDS for i in range(per_class)
        )
        jobs.append(_job(kit, licence, hits, seed + k, sample_rate))
    return jobs
