"""The command ring between the engine and the audio process: order, wrap-around, never
overwriting an unread record, and a producer and consumer thread moving many records."""

import threading

import numpy as np
import pytest

from gesam_engine.runtime.command_ring import FIELDS, CommandRing


def _record(i: int) -> np.ndarray:
    return np.full(FIELDS, float(i))


def test_wraps_around_keeps_order_and_refuses_when_full() -> None:
    ring = CommandRing(4)
    out = np.zeros(FIELDS)
    seen = []
    for i in range(10):
        assert ring.push(_record(i)) == i
        assert ring.peek_into(out) == i
        ring.pop()
        seen.append(out[0])
    assert seen == list(range(10))
    for i in range(4):
        assert ring.push(_record(100 + i)) == 10 + i
    assert ring.push(_record(999)) == -1 and ring.free() == 0  # full: nothing unread is overwritten
    assert ring.peek_into(out) == 10 and out[0] == 100
    assert ring.peek_into(out) == 10  # still there until pop
    ring.pop()
    assert ring.consumed == 11 and ring.free() == 1


def test_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        CommandRing(0)
    with pytest.raises(ValueError):
        CommandRing(4, data=np.zeros((4, FIELDS + 1)))


def test_a_producer_and_a_consumer_thread_move_10000_records_in_order() -> None:
    ring = CommandRing(64)
    n = 10_000
    got = np.zeros(n)

    def consume() -> None:
        out = np.zeros(FIELDS)
        i = 0
        while i < n:
            if ring.peek_into(out) >= 0:
                got[i] = out[0]
                ring.pop()
                i += 1

    thread = threading.Thread(target=consume)
    thread.start()
    i = 0
    while i < n:
        if ring.push(_record(i)) >= 0:
            i += 1
    thread.join(timeout=60)
    assert not thread.is_alive()
    np.testing.assert_array_equal(got, np.arange(n))
