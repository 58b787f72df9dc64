"""The JACK test harness itself: it must survive what a busy or crashed earlier run leaves behind."""

from __future__ import annotations


import pytest

from tests.runtime.jack_harness import NAME_POOL, JackServer, Recorder, jack_available
from tests.part_required import missing_part

pytestmark = [pytest.mark.e2e, pytest.mark.reliability, pytest.mark.slow]


def test_killed_servers_do_not_fill_the_registry():
    """A jackd killed with SIGKILL leaves its registry entry, and JACK holds 8: with a new name per
    test, 8 crashes and no jackd started again ("Too many servers already active"). Pool names are
    reclaimed by the next server of the same name."""
    if not jack_available():
        missing_part("jackd / JACK-Client not installed")
    for _ in range(9):
        server = JackServer()
        server.start()
        assert server.proc is not None and server.name in NAME_POOL
        server.proc.kill()  # what a crashed run or a hung stop did
        server.proc.wait()
        server.proc = None
    survivor = JackServer()
    survivor.start()  # used to fail with "Too many servers already active"
    try:
        with Recorder(survivor.name) as recorder:
            assert recorder.wait_frames(2048, timeout=10)
            assert recorder.take().shape[1] == 2
    finally:
        survivor.stop()
    assert survivor.proc is None

