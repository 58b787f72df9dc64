"""Commands from the engine process to the audio process: a lock-free single-producer /
single-consumer ring of fixed-size float64 records, usually in shared memory.

One record is ``FIELDS`` float64 numbers (see the field indices below): a play with a sound-pool
slot, velocity, pitch rate, pan, gain, choke group, target sample and shape (attack, hold, decay,
length in ms); an output gain; an effect
parameter change (effect, parameter and value as numbers, see ``EffectsChain.encode``). Integers
travel as float64, exact up to 2**53. A record's index in the ring (``written`` when it was
pushed) is its sequence number: a panic drops the plays queued before the index it names.

Memory ordering. The producer copies a record into its row and only then stores the new
``written`` counter; the consumer reads ``written``, copies the row out, acts on it, and only
then stores the new ``read`` counter. Each counter is one aligned 8-byte store by one side. On
x86-64 (total store order: stores are seen in program order, loads are not reordered with older
loads) that is enough, and CPython's interpreter does not reorder the statements. A weakly
ordered CPU (ARM, POWER) needs a release fence before each counter store and an acquire fence
after each counter load; numpy offers none, so there gesam would need a small C helper (or
``atomics``) for those two stores. gesam is tested on x86-64 Linux only.
"""

from __future__ import annotations

import numpy as np

# record kinds
PLAY, GAIN, PARAM = 1.0, 2.0, 3.0
# fields of a record
KIND = 0
SLOT, LENGTH, TARGET = 1, 2, 3  # PLAY: sound-pool slot, its length, target frame (-1 = next block)
VELOCITY, LEVEL, RATE, PAN, CHOKE, TRIGGER_ID, ARRIVAL = 4, 5, 6, 7, 8, 9, 10
ATTACK, HOLD, DECAY, CUT = 11, 12, 13, 14  # PLAY: the pad's shape in ms (CUT: its length)
VALUE = 1  # GAIN: the linear gain
EFFECT, PARAMETER, PARAM_VALUE = 1, 2, 3  # PARAM: effect index, parameter index, encoded value
FIELDS = 16  # 15 is spare: a record is 128 bytes, two cache lines
RECORD_BYTES = FIELDS * 8


class CommandRing:
    """Preallocated ring of ``capacity`` float64 records [FIELDS] for one producer and one consumer.

    Producer (one engine thread at a time, under the engine's lock): ``push``, ``free``, ``written``.
    Consumer (the audio callback): ``peek_into``, ``pop``. ``consumed`` may be read anywhere.
    """

    def __init__(self, capacity: int, data: np.ndarray | None = None, indices: np.ndarray | None = None) -> None:
        """``data`` float64 [capacity, FIELDS] and ``indices`` int64 [2] may be views of shared memory."""
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        if data is not None and (data.shape != (capacity, FIELDS) or data.dtype != np.float64):
            raise ValueError(f"data must be float64 [{capacity}, {FIELDS}], got {data.dtype} {data.shape}")
        if indices is not None and (indices.shape != (2,) or indices.dtype != np.int64):
            raise ValueError(f"indices must be int64 (2,), got {indices.dtype} {indices.shape}")
        self._data = np.zeros((capacity, FIELDS), np.float64) if data is None else data
        # [0] records ever pushed (producer only), [1] records ever popped (consumer only)
        self._idx = np.zeros(2, np.int64) if indices is None else indices

    @property
    def written(self) -> int:
        """Records ever pushed: the sequence number the next ``push`` gets."""
        return int(self._idx[0])

    @property
    def consumed(self) -> int:
        """Records the consumer has finished with (acted on, not only read)."""
        return int(self._idx[1])

    def free(self) -> int:
        """Records the producer can push now. Producer only."""
        return self.capacity - (int(self._idx[0]) - int(self._idx[1]))

    def push(self, record: np.ndarray) -> int:
        """Copy ``record`` (float64 [FIELDS]) in; its sequence number, or -1 when the ring is full."""
        w = int(self._idx[0])
        if w - int(self._idx[1]) >= self.capacity:
            return -1
        np.copyto(self._data[w % self.capacity], record)
        self._idx[0] = w + 1  # publish after the record is in place
        return w

    def peek_into(self, out: np.ndarray) -> int:
        """Copy the oldest unread record into ``out`` (float64 [FIELDS]); its sequence number, or -1
        when none waits. It stays in the ring until ``pop``. Consumer only; allocates no buffer."""
        r = int(self._idx[1])
        if r >= int(self._idx[0]):
            return -1
        np.copyto(out, self._data[r % self.capacity])
        return r

    def pop(self) -> None:
        """Release the record ``peek_into`` returned, after acting on it. Consumer only."""
        self._idx[1] += 1
