import threading

import numpy as np
import pytest

from gesam_engine.runtime.ring_buffer import AudioRing


def _frames(start: int, n: int, channels: int = 2) -> np.ndarray:
    """Frame i holds (i, -i): order and content are checkable after any number of wraps."""
    idx = np.arange(start, start + n, dtype=np.float32)
    return np.stack([idx, -idx], axis=1)[:, :channels].copy()


def test_wraps_around_and_keeps_order() -> None:
    ring = AudioRing(8, 2)
    assert ring.write(_frames(0, 5)) == 5
    out = np.full((3, 2), 99.0, dtype=np.float32)
    assert ring.read_into(out) == 3
    np.testing.assert_array_equal(out, _frames(0, 3))
    assert ring.write(_frames(5, 5)) == 5  # frames 8 and 9 wrap to the start
    assert ring.available() == 7 and ring.free() == 1
    out = np.zeros((7, 2), dtype=np.float32)
    assert ring.read_into(out) == 7
    np.testing.assert_array_equal(out, _frames(3, 7))
    assert ring.written == 10 and ring.consumed == 10


def test_never_overwrites_unread_data() -> None:
    ring = AudioRing(8, 2)
    assert ring.write(_frames(0, 10)) == 8  # only what fits
    assert ring.free() == 0
    assert ring.write(_frames(100, 4)) == 0
    out = np.zeros((8, 2), dtype=np.float32)
    assert ring.read_into(out) == 8
    np.testing.assert_array_equal(out, _frames(0, 8))


def test_read_into_returns_count_and_leaves_rest_untouched() -> None:
    ring = AudioRing(16, 1)
    ring.write(_frames(0, 3, channels=1))
    out = np.full((5, 1), 7.0, dtype=np.float32)
    assert ring.read_into(out) == 3
    np.testing.assert_array_equal(out[:3, 0], [0, 1, 2])
    np.testing.assert_array_equal(out[3:, 0], [7, 7])
    assert ring.read_into(out) == 0 and ring.available() == 0


def test_clear_drops_unread_frames() -> None:
    ring = AudioRing(8, 2)
    ring.write(_frames(0, 6))
    ring.clear()
    assert ring.available() == 0 and ring.free() == 8 and ring.written == 0
    ring.write(_frames(50, 2))
    out = np.zeros((4, 2), dtype=np.float32)
    assert ring.read_into(out) == 2
    np.testing.assert_array_equal(out[:2], _frames(50, 2))


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        AudioRing(0, 2)
    with pytest.raises(ValueError):
        AudioRing(8, 0)


def test_producer_and_consumer_threads_move_a_million_frames_in_order() -> None:
    total = 1_000_000
    ring = AudioRing(4096, 2)
    source = _frames(0, total)
    received = np.full((total, 2), -1.0, dtype=np.float32)
    errors: list[BaseException] = []

    def produce() -> None:
        rng = np.random.default_rng(1)
        pos = 0
        while pos < total:
            n = int(rng.integers(1, 1500))
            pos += ring.write(source[pos : pos + n])

    def consume() -> None:
        rng = np.random.default_rng(2)
        chunk = np.empty((1500, 2), dtype=np.float32)
        pos = 0
        try:
            while pos < total:
                n = ring.read_into(chunk[: int(rng.integers(1, 1500))])
                received[pos : pos + n] = chunk[:n]
                pos += n
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert not any(th.is_alive() for th in threads), "producer/consumer did not finish"
    assert not errors
    np.testing.assert_array_equal(received, source)
