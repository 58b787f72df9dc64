"""Generated sounds shared with the audio process: written once into a slot, played by slot number.

The pool is float32 [slots, slot_len] in shared memory. The engine (``SoundPool.place``, under
its lock) copies a sound into a slot the first time it is played and then only sends the slot
number; a slot is reused for another sound only when nothing can still read it: no voice holds
it (the audio process publishes each voice's slot in ``holders``), no queued command names it
(the command ring's ``consumed`` has passed the last one) and no timed play of it is still
waiting (the stream has passed its target frame). Among the free slots the least recently
played is taken, so the sounds of a pad or cursor stay in the pool while they are in use.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gesam_engine.errors import GesamError


class PoolFull(GesamError):
    """Every slot is held by a voice or a queued play; the trigger is refused."""


class SoundPool:
    """The engine side of the pool: which sound is in which slot, and when a slot may be reused.

    ``holders()`` returns the audio process's int64 [voice slots] array (slot per voice, -1 =
    none); ``consumed()`` the command ring's consumed count; ``frame()`` the stream frame the
    audio process has rendered up to. One thread at a time (the engine holds its lock).
    """

    def __init__(self, data: np.ndarray, holders: Callable[[], np.ndarray], consumed: Callable[[], int],
                 frame: Callable[[], int]) -> None:
        if data.ndim != 2 or data.dtype != np.float32:
            raise ValueError(f"the pool must be float32 [slots, slot_len], got {data.dtype} {data.shape}")
        self.data = data
        self.slots, self.slot_len = data.shape
        self._holders, self._consumed, self._frame = holders, consumed, frame
        self._key: list[int | None] = [None] * self.slots  # id() of the sound array in each slot
        self._keep: list[np.ndarray | None] = [None] * self.slots  # keeps that id valid
        self._by_key: dict[int, int] = {}
        self._last_seq = np.full(self.slots, -1, np.int64)  # newest command naming the slot
        self._last_frame = np.full(self.slots, -1, np.int64)  # latest target frame of a timed play
        self._used = np.zeros(self.slots, np.int64)  # for least-recently-played
        self._clock = 0
        self.writes = 0  # sounds copied in (a measure of churn)

    def place(self, sound: np.ndarray) -> tuple[int, int]:
        """(slot, length) of ``sound`` (mono float32 [L]), copying it in when it is not there yet.

        Raises GesamError for a sound longer than a slot, PoolFull when no slot can be reused now.
        """
        length = int(sound.shape[0])
        if sound.ndim != 1 or sound.dtype != np.float32 or not 0 < length <= self.slot_len:
            raise GesamError(f"a sound for the audio process must be mono float32 of 1..{self.slot_len} "
                             f"samples, got {sound.dtype} {sound.shape}")
        self._clock += 1
        slot = self._by_key.get(id(sound))
        if slot is not None and self._keep[slot] is sound:
            self._used[slot] = self._clock
            return slot, length
        slot = self._reusable()
        old = self._key[slot]
        if old is not None:
            self._by_key.pop(old, None)
        self.data[slot, :length] = sound
        self._key[slot], self._keep[slot] = id(sound), sound
        self._by_key[id(sound)] = slot
        self._used[slot] = self._clock
        self.writes += 1
        return slot, length

    def sent(self, slot: int, seq: int, target_frame: int) -> None:
        """Note that command ``seq`` names ``slot`` (and plays it at ``target_frame``, -1 = next block)."""
        self._last_seq[slot] = seq
        self._last_frame[slot] = max(int(self._last_frame[slot]), target_frame)

    def _reusable(self) -> int:
        """The least recently played slot nothing can read any more."""
        consumed, frame = self._consumed(), self._frame()  # read before the holders (see module text)
        held = np.zeros(self.slots, bool)
        holders = self._holders()
        ok = holders[(holders >= 0) & (holders < self.slots)]
        held[ok] = True
        free = ~held & (self._last_seq < consumed) & (self._last_frame < frame)
        if not free.any():
            raise PoolFull(f"all {self.slots} sound slots are playing or queued; the trigger was dropped "
                           "(raise output.sound_slots)")
        candidates = np.flatnonzero(free)
        return int(candidates[np.argmin(self._used[candidates])])
