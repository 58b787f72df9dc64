"""A lock-free single-producer / single-consumer ring of float32 audio frames [capacity, channels].

The render thread is the only producer (``free``, ``write``, ``clear``); the audio callback is
the only consumer (``available``, ``read_into``). Each side owns one monotonically increasing
frame counter (an int64 slot) and is the only thread that assigns it, after the copy that
precedes it, so the consumer never sees an index that is ahead of the data. Buffer and
counters may live in shared memory, with the consumer in another process. Nothing here allocates a
numpy buffer after construction.
"""

from __future__ import annotations

import numpy as np


class AudioRing:
    """Preallocated float32 ring [capacity_frames, channels] for exactly one producer and one consumer.

    Producer thread (render thread): ``free``, ``write``, ``clear``, ``written``.
    Consumer thread (audio callback): ``available``, ``read_into``, ``consumed``.
    ``capacity``, ``channels`` may be read from any thread.
    """

    def __init__(
        self,
        capacity_frames: int,
        channels: int,
        buffer: np.ndarray | None = None,
        indices: np.ndarray | None = None,
    ) -> None:
        """``buffer`` float32 [capacity, channels] and ``indices`` int64 [2] may be given (e.g. views of
        shared memory, so the consumer can live in another process); else they are allocated here."""
        if capacity_frames < 1:
            raise ValueError(f"capacity_frames must be >= 1, got {capacity_frames}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.capacity = int(capacity_frames)
        self.channels = int(channels)
        shape = (self.capacity, self.channels)
        if buffer is not None and (buffer.shape != shape or buffer.dtype != np.float32):
            raise ValueError(f"buffer must be float32 {shape}, got {buffer.dtype} {buffer.shape}")
        if indices is not None and (indices.shape != (2,) or indices.dtype != np.int64):
            raise ValueError(f"indices must be int64 (2,), got {indices.dtype} {indices.shape}")
        self._buf = np.zeros(shape, dtype=np.float32) if buffer is None else buffer
        # [0] frames ever written (assigned by the producer only), [1] frames ever read (consumer only);
        # aligned 8-byte stores, so a reader in another thread or process never sees a torn value
        self._idx = np.zeros(2, dtype=np.int64) if indices is None else indices

    @property
    def _write(self) -> int:
        return int(self._idx[0])

    @_write.setter
    def _write(self, value: int) -> None:
        self._idx[0] = value

    @property
    def _read(self) -> int:
        return int(self._idx[1])

    @_read.setter
    def _read(self, value: int) -> None:
        self._idx[1] = value

    @property
    def written(self) -> int:
        """Frames ever written (the ring frame index the next ``write`` starts at). Any thread."""
        return self._write

    @property
    def consumed(self) -> int:
        """Frames ever read (the ring frame index the next ``read_into`` starts at). Any thread."""
        return self._read

    def free(self) -> int:
        """Frames the producer can write now without overwriting unread data. Producer thread."""
        return self.capacity - (self._write - self._read)

    def available(self) -> int:
        """Frames the consumer can read now. Consumer thread (a racy estimate from any other)."""
        return self._write - self._read

    def write(self, block: np.ndarray) -> int:
        """Copy as much of ``block`` [n, channels] float32 as fits (wrapping around); return frames copied.

        Never overwrites unread frames. Producer thread only.
        """
        w = self._write
        n = min(int(block.shape[0]), self.capacity - (w - self._read))
        if n <= 0:
            return 0
        start = w % self.capacity
        first = min(n, self.capacity - start)
        np.copyto(self._buf[start : start + first], block[:first])
        if first < n:
            np.copyto(self._buf[: n - first], block[first:n])
        self._write = w + n  # publish only after the data is in place
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` frames into ``out[:n]`` ([frames, channels] float32); return n.

        Wraps around, allocates no buffer, leaves ``out[n:]`` untouched. Consumer thread only.
        """
        r = self._read
        n = min(int(out.shape[0]), self._write - r)
        if n <= 0:
            return 0
        start = r % self.capacity
        first = min(n, self.capacity - start)
        np.copyto(out[:first], self._buf[start : start + first])
        if first < n:
            np.copyto(out[first:n], self._buf[: n - first])
        self._read = r + n  # release the frames only after they are copied out
        return n

    def clear(self) -> None:
        """Drop every unread frame and restart both counters at 0 (for a stream restart).

        Call it from the producer side ONLY while the consumer is stopped (no callback running):
        it assigns the consumer's counter too, which is not safe against a concurrent read.
        """
        self._read = 0
        self._write = 0
