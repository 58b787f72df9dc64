"""When each trigger reached the engine and on which output frame its sound started: a lock-free
ring the mixer writes (in the audio process, in shared memory) and one metrics thread reads
(for trigger latency, ``metrics.py``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

ID, ARRIVAL, FRAME, TIMED, FIELDS = 0, 1, 2, 3, 4


class TriggerRecord(NamedTuple):
    """When a trigger reached the engine, the output frame its first sample is on, and whether it was timed."""

    trigger_id: int
    arrival: float  # time.perf_counter() seconds, from PlaySound.arrival
    frame: int  # absolute output frame of the sound's first sample (heard a limiter latency later)
    timed: bool = False  # placed by a time tag or timestamp (its latency is chosen, not measured)


class TriggerLog:
    """A fixed ring of ``capacity`` records: ``add`` in the mixer, ``read`` on one metrics thread.

    ``data`` (float64 [capacity, 4]) and ``written`` (int64 [1]) may be views of shared memory.
    """

    def __init__(self, capacity: int, data: np.ndarray | None = None, written: np.ndarray | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"max_records must be >= 1, got {capacity}")
        self._data = np.zeros((capacity, FIELDS), np.float64) if data is None else data
        self._written = np.zeros(1, np.int64) if written is None else written  # by the mixer only, after the entry
        if self._data.shape != (capacity, FIELDS) or self._written.shape != (1,):
            raise ValueError(f"data must be [{capacity}, {FIELDS}] and written [1]")
        self._read = int(self._written[0])  # by the metrics thread only: records before it are not ours
        self.lost = 0  # records overwritten before ``read`` got them

    def add(self, trigger_id: int, arrival: float, frame: int, timed: bool = False) -> None:
        """Record one trigger. Mixer only; allocates no buffer."""
        i = int(self._written[0])
        row = self._data[i % self._data.shape[0]]
        row[ID] = trigger_id
        row[ARRIVAL] = arrival
        row[FRAME] = frame
        row[TIMED] = 1.0 if timed else 0.0
        self._written[0] = i + 1  # publish after the entry is complete

    def read(self) -> list[TriggerRecord]:
        """Records written since the last call, oldest first. One metrics thread only.

        Lock-free: reads only entries the mixer has completed, and drops any that it may have
        overwritten while they were copied (counted in ``lost``); when the ring is full its oldest
        entry counts as overwritten, as the mixer may be rewriting it.
        """
        cap = self._data.shape[0]
        written = int(self._written[0])
        first = max(self._read, written - cap)
        rows = self._data[np.arange(first, written) % cap].copy()
        safe_from = max(first, int(self._written[0]) - cap + 1)  # the slot being written now is unsafe
        skip = min(safe_from - first, written - first)
        self.lost += (first - self._read) + skip
        self._read = written
        return [TriggerRecord(int(r[ID]), float(r[ARRIVAL]), int(r[FRAME]), bool(r[TIMED])) for r in rows[skip:]]
