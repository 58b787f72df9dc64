"""A 10 s flood of 5,000 OSC messages a second from another process: nothing lost in the server,
the newest cursor position applied, and /gesam/ping answered within 50 ms right afterwards."""

from __future__ import annotations

import multiprocessing
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from osc_bridge.controller import Controller
from osc_bridge.osc_server import OscServer
from tests.osc_bridge import Client, make_engine, message
from tests.waiting import wait_for

pytestmark = pytest.mark.reliability
RATE, SECONDS = 5000, 10.0


def flood(server: tuple[str, int], out: Any) -> None:
    """Send /gesam/xy (points exact in float32) at RATE messages/s for SECONDS, in chunks of 50."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    points = [(i / 8192, 1 - i / 8192) for i in range(8192)]
    dgrams = [message("/gesam/xy", x, y) for x, y in points]
    n, start = 0, time.perf_counter()
    while n < RATE * SECONDS:
        for _ in range(50):
            sock.sendto(dgrams[n % 8192], server)
            n += 1
        time.sleep(max(0.0, start + n / RATE - time.perf_counter()))
    out.put({"sent": n, "seconds": time.perf_counter() - start, "last": points[(n - 1) % 8192]})


@pytest.mark.slow
def test_ten_seconds_at_5000_messages_a_second(tmp_path: Path) -> None:
    engine = make_engine(tmp_path)
    server = OscServer(Controller(engine, tmp_path / "renders"), port=0).start()
    try:
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        sender = ctx.Process(target=flood, args=(server.address, q))
        sender.start()
        report = q.get(timeout=SECONDS + 60)
        sender.join()
        client = Client(server.address)
        t0 = time.perf_counter()
        client.send("/gesam/ping")
        client.expect("/gesam/pong", 1)
        ping_ms = 1000 * (time.perf_counter() - t0)
        wait_for(lambda: server.stats()["queued"] == 0, 5)
        s = server.stats()
    finally:
        server.stop()
        engine.stop()
    assert report["sent"] == RATE * SECONDS and report["seconds"] < SECONDS * 1.2, report
    assert ping_ms < 50, (ping_ms, s)
    assert engine.cursor == report["last"], (engine.cursor, report["last"], s)
    assert s["errors"] == 0 and s["kernel_drops"] in (0, None), s
    assert s["received"] == RATE * SECONDS + 1 and s["coalesced"] + s["handled"] == s["received"], s
