"""A 10 s flood of 5,000 OSC messages a second from another process: nothing lost in the server,
the newest cursor position applied, and /gesam/ping answered within 50 ms right afterwards; and
a flood of tiny refused datagrams earns fewer bytes back than it sent (no amplifier)."""

from __future__ import annotations

import multiprocessing
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer
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


def test_a_flood_of_tiny_bad_datagrams_is_not_amplified(tmp_path: Path) -> None:
    """The smallest datagram that earns an error (8 bytes, an unknown address) 5,000 times: the
    error replies together are smaller than the flood, and /gesam/ping is answered at once after."""
    engine = make_engine(tmp_path)
    server = OscServer(Controller(engine, tmp_path / "renders"), port=0).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
    sock.bind(("127.0.0.1", 0))
    tiny, n = b"/x\x00\x00,\x00\x00\x00", 5000
    try:
        for i in range(n):
            sock.sendto(tiny, server.address)
            if i % 500 == 499:  # paced by the server's intake, so the kernel drops none
                wait_for(lambda: server.stats()["datagrams"] >= i - 200, 5)
        wait_for(lambda: server.stats()["errors"] == n, 10)
        t0 = time.perf_counter()
        sock.sendto(message("/gesam/ping"), server.address)
        replies = []
        sock.settimeout(5)
        while not replies or not replies[-1].startswith(b"/gesam/pong"):
            replies.append(sock.recv(65536))
        ping_ms = 1000 * (time.perf_counter() - t0)
        s = server.stats()
    finally:
        sock.close()
        server.stop()
        engine.stop()
    out_bytes = sum(len(r) for r in replies[:-1])
    print(f"\n{n} x {len(tiny)}-byte bad datagrams: {len(replies) - 1} error replies, {out_bytes} bytes back for "
          f"{n * len(tiny)} in ({out_bytes / (n * len(tiny)):.2f}x); ping {ping_ms:.1f} ms after")
    assert all(len(r) <= 256 for r in replies) and out_bytes < n * len(tiny), (out_bytes, len(replies))
    assert s["errors_suppressed"] == n - (len(replies) - 1) and s["kernel_drops"] in (0, None), s
    assert ping_ms < 50, ping_ms
