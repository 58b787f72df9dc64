"""When each trigger reached the engine and which rendered block it starts in: a lock-free ring
the render thread writes and one metrics thread reads (for trigger latency, ``metrics.py``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class TriggerRecord(NamedTuple):
    """When a trigger reached the engine and which rendered block its first sample is in."""

    trigger_id: int
    arrival: float  # time.perf_counter() seconds, from PlaySound.arrival
    block_index: int  # the sound's first sample is this block's first frame (heard a limiter latency later)


class TriggerLog:
    """A fixed ring of ``capacity`` records: ``add`` on the render thread, ``read`` on one metrics thread."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"max_records must be >= 1, got {capacity}")
        self._id = np.zeros(capacity, dtype=np.int64)
        self._arrival = np.zeros(capacity, dtype=np.float64)
        self._block = np.zeros(capacity, dtype=np.int64)
        self._written = 0  # assigned by the render thread only, after the entry is complete
        self._read = 0  # assigned by the metrics thread only
        self.lost = 0  # records overwritten before ``read`` got them

    def add(self, trigger_id: int, arrival: float, block_index: int) -> None:
        """Record one trigger. Render thread only; allocates nothing."""
        i = self._written
        slot = i % self._id.shape[0]
        self._id[slot] = trigger_id
        self._arrival[slot] = arrival
        self._block[slot] = block_index
        self._written = i + 1  # publish after the entry is complete

    def read(self) -> list[TriggerRecord]:
        """Records written since the last call, oldest first. One metrics thread only.

        Lock-free: reads only entries the render thread has completed, and drops any that it may
        have overwritten while they were copied (counted in ``lost``); when the ring is full its
        oldest entry counts as overwritten, as the render thread may be rewriting it.
        """
        cap = self._id.shape[0]
        written = self._written
        first = max(self._read, written - cap)
        idx = np.arange(first, written) % cap
        ids, arrivals, blocks = self._id[idx], self._arrival[idx], self._block[idx]
        safe_from = max(first, self._written - cap + 1)  # the slot being written now is unsafe
        skip = min(safe_from - first, written - first)
        self.lost += (first - self._read) + skip
        self._read = written
        return [TriggerRecord(int(i), float(a), int(b)) for i, a, b in zip(ids[skip:], arrivals[skip:], blocks[skip:])]
