"""Ready sounds, keyed by their map point: bounded memory (LRU), with nearest-point lookup.

The engine asks it two things: is the exact point ready, and if not, which ready sound lies
nearest. Baked sounds are pinned (never evicted), so a trigger always finds something.
Thread-safe (one small lock); never touched by the audio callback.
"""

from __future__ import annotations

import collections
import dataclasses
import threading

import numpy as np

RESOLUTION = 1e-4  # points closer than this in normalised coordinates are the same point


def point_key(xy: tuple[float, float] | np.ndarray) -> tuple[int, int]:
    """The cache key of a normalised point: coordinates quantised to ``RESOLUTION``."""
    return (int(round(float(xy[0]) / RESOLUTION)), int(round(float(xy[1]) / RESOLUTION)))


@dataclasses.dataclass(frozen=True)
class CachedSound:
    """A ready sound: mono float32 [L] at the output rate, and the point it belongs to."""

    xy: tuple[float, float]
    wave: np.ndarray
    pinned: bool = False


class SoundCache:
    """LRU cache of ready sounds bounded by ``max_bytes`` (pinned sounds count but stay)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._entries: collections.OrderedDict[tuple[int, int], CachedSound] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes of audio held."""
        return self._bytes

    def put(self, xy: tuple[float, float], wave: np.ndarray, pinned: bool = False) -> None:
        """Store ``wave`` (mono float32, made read-only) for point ``xy``; evicts least recently used."""
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        wave.setflags(write=False)
        entry = CachedSound((float(xy[0]), float(xy[1])), wave, pinned)
        key = point_key(xy)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.wave.nbytes
                entry = dataclasses.replace(entry, pinned=entry.pinned or old.pinned)
            self._entries[key] = entry
            self._bytes += wave.nbytes
            self._evict()

    def _evict(self) -> None:
        if self._bytes <= self.max_bytes:
            return
        for key in [k for k, e in self._entries.items() if not e.pinned]:
            if self._bytes <= self.max_bytes:
                break
            self._bytes -= self._entries.pop(key).wave.nbytes
            self.evictions += 1

    def get(self, xy: tuple[float, float]) -> CachedSound | None:
        """The sound of exactly this point, if ready (and mark it recently used)."""
        key = point_key(xy)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def __contains__(self, xy: tuple[float, float]) -> bool:
        return point_key(xy) in self._entries

    def nearest(self, xy: tuple[float, float]) -> CachedSound | None:
        """The ready sound whose point is nearest to ``xy`` (None only when the cache is empty)."""
        with self._lock:
            if not self._entries:
                return None
            entries = list(self._entries.values())
        points = np.array([e.xy for e in entries])  # (N, 2)
        d2 = ((points - np.asarray(xy, dtype=np.float64)) ** 2).sum(axis=1)
        return entries[int(np.argmin(d2))]

    def stats(self) -> dict[str, int]:
        """Counts for metrics: entries, pinned, bytes, hits, misses, evictions."""
        with self._lock:
            pinned = sum(e.pinned for e in self._entries.values())
        return {"entries": len(self._entries), "pinned": pinned, "bytes": self._bytes,
                "max_bytes": self.max_bytes, "hits": self.hits, "misses": self.misses, "evictions": self.evictions}
