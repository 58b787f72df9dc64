"""SoundCache: exact and nearest lookup, LRU eviction by bytes around pinned sounds, counters."""

import threading

import numpy as np
import pytest

from gesam_engine.runtime.sound_cache import RESOLUTION, SoundCache, point_key


def _wave(n: int = 1000, value: float = 0.5) -> np.ndarray:
    return np.full(n, value, dtype=np.float32)  # n * 4 bytes


def test_get_returns_the_exact_point_only() -> None:
    cache = SoundCache(1 << 20)
    cache.put((0.25, 0.75), _wave(value=0.1))
    hit = cache.get((0.25, 0.75))
    assert hit is not None and hit.xy == (0.25, 0.75) and not hit.pinned
    np.testing.assert_array_equal(hit.wave, np.float32(0.1))
    assert hit.wave.dtype == np.float32
    assert cache.get((0.25 + RESOLUTION / 4, 0.75)) is hit  # the same point within the resolution
    assert cache.get((0.25 + 3 * RESOLUTION, 0.75)) is None
    assert cache.get((0.75, 0.25)) is None  # not transposed
    assert (0.25, 0.75) in cache and (0.75, 0.25) not in cache
    assert point_key((0.25, 0.75)) == point_key(np.array([0.25, 0.75]))


def test_nearest_picks_the_closest_point() -> None:
    cache = SoundCache(1 << 20)
    assert cache.nearest((0.5, 0.5)) is None  # only when empty
    for i, xy in enumerate([(0.1, 0.1), (0.9, 0.1), (0.1, 0.9), (0.9, 0.9), (0.5, 0.6)]):
        cache.put(xy, _wave(value=i))
    assert cache.nearest((0.0, 0.0)).xy == (0.1, 0.1)
    assert cache.nearest((0.8, 0.2)).xy == (0.9, 0.1)
    assert cache.nearest((0.2, 0.95)).xy == (0.1, 0.9)
    assert cache.nearest((0.5, 0.45)).xy == (0.5, 0.6)
    assert cache.nearest((0.7, 0.7)).xy == (0.5, 0.6)  # 0.224 away vs 0.283 to (0.9, 0.9)
    assert cache.nearest((0.9, 0.1)).xy == (0.9, 0.1)


def test_lru_eviction_by_bytes_never_evicts_pinned_sounds() -> None:
    cache = SoundCache(max_bytes=4 * 4000)  # room for four 1000-sample sounds
    cache.put((0.0, 0.0), _wave(), pinned=True)
    cache.put((0.1, 0.0), _wave(), pinned=True)
    cache.put((0.2, 0.0), _wave())
    cache.put((0.3, 0.0), _wave())
    assert len(cache) == 4 and cache.nbytes == 16000 and cache.evictions == 0
    assert cache.get((0.2, 0.0)) is not None  # (0.3, 0) is now least recently used
    cache.put((0.4, 0.0), _wave())
    assert (0.3, 0.0) not in cache and (0.2, 0.0) in cache and (0.4, 0.0) in cache
    assert cache.nbytes == 16000 and cache.evictions == 1
    # a sound that cannot fit beside the pinned ones: every unpinned sound goes, itself included
    cache.put((0.5, 0.0), _wave(3000))
    assert sorted(e.xy for e in cache._entries.values()) == [(0.0, 0.0), (0.1, 0.0)]
    assert cache.nbytes == 8000 and cache.evictions == 4
    for _ in range(10):  # pinned sounds over the budget are kept, the others evicted
        cache.put((0.6, 0.0), _wave(5000), pinned=True)
    assert (0.0, 0.0) in cache and (0.1, 0.0) in cache and (0.6, 0.0) in cache
    assert all(e.pinned for e in cache._entries.values())
    assert cache.nbytes == 4000 + 4000 + 20000


def test_re_put_replaces_the_bytes_and_keeps_a_pin() -> None:
    cache = SoundCache(1 << 20)
    cache.put((0.5, 0.5), _wave(1000), pinned=True)
    cache.put((0.5, 0.5), _wave(250, value=0.2))
    assert len(cache) == 1 and cache.nbytes == 1000
    hit = cache.get((0.5, 0.5))
    assert hit is not None and hit.pinned and hit.wave.shape == (250,)
    np.testing.assert_array_equal(hit.wave, np.float32(0.2))
    cache.put((0.5, 0.5), _wave(2000))
    assert cache.nbytes == 8000 and cache.stats()["pinned"] == 1


def test_stats_count_hits_misses_evictions() -> None:
    cache = SoundCache(max_bytes=2 * 4000)
    cache.put((0.1, 0.1), _wave(), pinned=True)
    cache.put((0.2, 0.2), _wave())
    cache.get((0.1, 0.1))
    cache.get((0.2, 0.2))
    cache.get((0.3, 0.3))
    cache.put((0.4, 0.4), _wave())  # evicts (0.2, 0.2)
    assert cache.stats() == {"entries": 2, "pinned": 1, "bytes": 8000, "max_bytes": 8000,
                             "hits": 2, "misses": 1, "evictions": 1}
    cache.nearest((0.0, 0.0))  # nearest lookups are not counted as hits or misses
    assert cache.stats()["hits"] == 2 and cache.stats()["misses"] == 1


def test_stored_waves_are_read_only_float32_copies() -> None:
    cache = SoundCache(1 << 20)
    source = np.linspace(-1, 1, 100)  # float64: converted, so the caller's array is not shared
    cache.put((0.5, 0.5), source)
    wave = cache.get((0.5, 0.5)).wave
    assert wave.dtype == np.float32 and not wave.flags.writeable and wave.flags.c_contiguous
    with pytest.raises(ValueError):
        wave[0] = 1.0
    source32 = np.ones(10, dtype=np.float32)
    cache.put((0.2, 0.2), source32)
    with pytest.raises(ValueError):
        cache.nearest((0.2, 0.2)).wave[:] = 0.0


def test_two_threads_putting_and_reading() -> None:
    cache = SoundCache(max_bytes=50 * 400)
    cache.put((0.5, 0.5), _wave(100), pinned=True)
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(offset: int) -> None:
        try:
            rng = np.random.default_rng(offset)
            for i in range(2000):
                xy = (float(rng.random()), float(rng.random()))
                cache.put(xy, _wave(100, value=offset))
                cache.get(xy)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                hit = cache.nearest((0.5, 0.5))
                assert hit is not None and hit.wave.shape == (100,)
                cache.stats()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in (1, 2)]
    rd = threading.Thread(target=reader)
    rd.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    rd.join()
    assert not errors, errors
    assert (0.5, 0.5) in cache
    assert cache.nbytes == sum(e.wave.nbytes for e in cache._entries.values()) <= cache.max_bytes
    assert cache.hits + cache.misses == 4000
