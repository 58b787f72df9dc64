"""One summary of latencies for every figure gesam reports: the engine's triggers, OSC and MIDI.

Count, median, 99th percentile and maximum, all by one definition so the figures compare: the
percentile is numpy's default (linear interpolation between the two nearest ranks, Hyndman and
Fan's type 7), so the median of an even count is the mean of the middle two. numpy and the
standard library only: ``osc_bridge`` imports it and must never pull in torch or
``gesam_engine.runtime``. Summaries are made where figures are asked for (metrics and stats
calls), never on the audio thread: ``of`` allocates.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

import numpy as np

__all__ = ["LatencyStats"]


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Count, median, 99th percentile and maximum of latencies in ms (NaN when there are none;
    ``to_dict`` turns those into None, so the JSON has ``null``, never the invalid ``NaN``)."""

    count: int
    median: float
    p99: float
    max: float

    @classmethod
    def of(cls, values_ms: Iterable[float]) -> LatencyStats:
        """Summarise latencies in ms (any thread; pass a snapshot, e.g. ``list(deque)``, of data
        another thread appends to)."""
        v = np.asarray(list(values_ms), dtype=np.float64)
        if v.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"))
        return cls(int(v.size), float(np.median(v)), float(np.percentile(v, 99)), float(v.max()))

    def to_dict(self) -> dict[str, float | int | None]:
        """``{"count", "median", "p99", "max"}``, JSON-ready: a figure with no data is None."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in dataclasses.asdict(self).items()}
