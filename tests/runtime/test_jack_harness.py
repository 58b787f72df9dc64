"""The JACK test harness itself: it must survive what a busy or crashed earlier run leaves behind."""

from __future__ import annotations

import subprocess
import sys

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


def test_stopping_a_server_whose_client_died_unregisters_it(tmp_path):
    """A client killed without closing makes jackd wait a client timeout on SIGTERM; stop() waits."""
    if not jack_available():
        missing_part("jackd / JACK-Client not installed")
    server = JackServer()
    server.start()
    code = ("import jack, os, signal\n"
            f"c = jack.Client('dies', servername={server.name!r}, no_start_server=True)\n"
            "c.activate()\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code], timeout=30)
    proc = server.proc
    server.stop()
    assert proc is not None and proc.returncode == 0, f"jackd was killed (rc {proc.returncode}): its entry leaks"
