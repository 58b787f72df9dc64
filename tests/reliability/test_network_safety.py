"""Nothing a network client sends makes gesam loop, amplify or stop answering (issue 11): a
feedback address that is the server's own port is refused, reply addresses are never answered,
error replies are capped in size and rate per destination, engine alerts reach /gesam/error,
and a few hundred slow web clients neither take the web map down for good nor slow OSC.

Real UDP and TCP sockets on loopback, a real Engine (tiny model, WAV output) where one is needed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from pythonosc.osc_message import OscMessage

from osc_bridge.commands import Move, Ping
from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer, OscServerError
from osc_bridge.osc.reply_policy import ERROR_BURST, error_limit
from osc_bridge.webmap.server import WebMap
from tests.osc_bridge import Client, make_engine, message
from tests.waiting import wait_for, wait_until

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    e = make_engine(tmp_path_factory.mktemp("safety_engine"))
    yield e
    e.stop()


@pytest.fixture
def server(engine: Any, tmp_path: Path) -> Iterator[OscServer]:
    s = OscServer(Controller(engine, tmp_path / "renders"), port=0).start()
    yield s
    s.stop()


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class RawClient:
    """A UDP socket that keeps each reply's raw bytes (to measure them) and its address."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 2**20)
        self.sock.bind(("127.0.0.1", 0))

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def next(self, timeout: float = 5.0) -> tuple[bytes, OscMessage]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(65536)
        return data, OscMessage(data)

    def drain(self) -> list[bytes]:
        """Every reply already waiting in the socket."""
        self.sock.setblocking(False)
        got = []
        try:
            while True:
                got.append(self.sock.recv(65536))
        except BlockingIOError:
            return got

    def close(self) -> None:
        self.sock.close()


# ---- no reply loops ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("listen", "feedback"), [
    ("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "localhost"), ("0.0.0.0", "127.0.0.1"), ("0.0.0.0", "localhost"),
])
def test_feedback_to_the_servers_own_port_is_refused_at_start(engine: Any, tmp_path: Path, listen: str,
                                                               feedback: str) -> None:
    port = free_udp_port()
    server = OscServer(Controller(engine, tmp_path), host=listen, port=port, feedback=(feedback, port))
    with pytest.raises(OscServerError, match=rf"feedback address {feedback}:{port} is this OSC server's own port "
                                             r".*every reply would come back to it; point --feedback at"):
        server.start()
    # the port was released, and the same feedback port on another listening port is fine
    with OscServer(Controller(engine, tmp_path), host=listen, port=port) as ok:
        assert ok.address[1] == port
    with OscServer(Controller(engine, tmp_path), host=listen, port=0, feedback=(feedback, port)) as ok:
        assert ok.address[1] != port


def test_gesam_serve_refuses_feedback_to_its_own_port(engine: Any) -> None:
    from gesam_engine.cli.main import build_parser
    from gesam_engine.cli.serve_cmd import make_osc_server

    port = free_udp_port()
    args = build_parser().parse_args(["serve", "--osc-port", str(port), "--feedback", f"localhost:{port}"])
    with pytest.raises(OscServerError, match=f"feedback address localhost:{port} is this OSC server's own port"):
        make_osc_server(args, engine)


@pytest.mark.parametrize("data", [
    message("/gesam/error", "unknown address '/gesam/pong'"), message("/gesam/pong"),
    message("/gesam/state/xy", 0.5, 0.5), message("/gesam/state/pad/3/xy", 0.5, 0.5),
    b"/gesam/error\x00\x00\x00\x00,s\x00\x00trunc",  # a broken reply is not answered either
    b"/gesam/pong\x00,zz\x00",
])
def test_a_reply_address_is_counted_and_never_answered(server: OscServer, data: bytes) -> None:
    c = Client(server.address)
    try:
        c.send_raw(data)
        wait_for(lambda: server.stats()["datagrams"] == 1 and server.stats()["queued"] == 0, 5)  # taken
        c.send("/gesam/ping")
        assert c.expect("/gesam/pong", 5) == []
        assert [a for a, _ in c.replies] == ["/gesam/pong"], c.replies  # the pong came first: nothing before it
        wait_for(lambda: server.stats()["replies"] == 1, 5)  # counted just after it was sent
    finally:
        c.close()
    s = server.stats()
    assert s["ignored"] == 1 and s["malformed"] == 0 and s["replies"] == 1 and s["errors"] == 0, s


class Echo:
    """A controller that answers a ping and a move like the real one, with no engine behind it."""

    engine = None

    def execute(self, cmd: Any) -> list[tuple[str, list[Any]]]:
        if isinstance(cmd, Move):
            return [("/gesam/state/xy", [cmd.x, cmd.y])]
        return [("/gesam/pong", [])] if isinstance(cmd, Ping) else []


def test_two_servers_fed_back_to_each_other_do_not_ping_pong() -> None:
    """A's replies go to B and B's to A: a pong, a state or an error must end there, not circle."""
    port_a, port_b = free_udp_port(), free_udp_port()
    a = OscServer(Echo(), port=port_a, feedback=("127.0.0.1", port_b)).start()
    b = OscServer(Echo(), port=port_b, feedback=("127.0.0.1", port_a)).start()
    c = Client(a.address)
    try:
        c.send("/gesam/ping")
        c.send("/gesam/bogus")  # A's error goes to B
        c.send("/gesam/xy", 0.25, 0.5)  # A's /gesam/state/xy goes to B
        wait_for(lambda: b.stats()["ignored"] == 3, 5)
        c.sock.sendto(message("/gesam/ping"), b.address)  # B's pong goes to A
        wait_for(lambda: a.stats()["ignored"] == 1, 5)
        wait_for(lambda: b.stats()["queued"] == 0 and a.stats()["queued"] == 0, 5)
        sa, sb = a.stats(), b.stats()
    finally:
        c.close()
        a.stop()
        b.stop()
    assert sa["errors"] == 1 and sb["errors"] == 0, (sa, sb)  # only the bogus address was refused
    assert (sa["replies"], sb["replies"], sa["ignored"], sb["ignored"]) == (3, 1, 1, 3), (sa, sb)


# ---- error replies: size and rate ---------------------------------------------------------------------
@pytest.mark.parametrize(("data", "cut"), [(b"/x\x00\x00,\x00\x00\x00", True), (message("/gesam/nope"), True),
                                         (b"\x00\x01garbage", False),
                                         (message("/gesam/render", 0.5, 0.5, "../" + "x" * 900), False)])
def test_an_error_reply_is_at_most_twice_the_request_or_256_bytes(server: OscServer, data: bytes, cut: bool) -> None:
    c = RawClient(server.address)
    try:
        c.send(data)
        raw, reply = c.next()
    finally:
        c.close()
    assert reply.address == "/gesam/error"
    assert len(raw) <= max(256, 2 * len(data)) and len(raw) <= error_limit(len(data)), (len(raw), len(data))
    (reason,) = reply.params
    assert reason.split(" ")[0] in ("unknown", "not", "/gesam/render:"), reason  # the reason's start is kept
    assert reason.endswith(" ...") == cut, reason
    if cut:
        assert "send /gesam/ping to check the connection" in reason, reason


def test_error_replies_are_rate_limited_per_sender_and_counted(server: OscServer) -> None:
    noisy, other = RawClient(server.address), RawClient(server.address)
    n = 400
    try:
        start = time.monotonic()
        for i in range(n):
            noisy.send(message(f"/gesam/nope{i}"))
        wait_for(lambda: server.stats()["errors"] == n, 10)
        elapsed = time.monotonic() - start
        other.send(message("/gesam/nope"))  # another sender still hears why
        _, reply = other.next()
        assert reply.address == "/gesam/error"
        noisy.send(message("/gesam/ping"))  # and ordinary replies are never limited
        got = [OscMessage(d).address for d in _drain_until(noisy, "/gesam/pong")]
        s = server.stats()
    finally:
        noisy.close()
        other.close()
    answered = got.count("/gesam/error")
    assert ERROR_BURST <= answered <= ERROR_BURST + 20 * elapsed + 2, (answered, elapsed)
    assert s["errors_suppressed"] == n - answered, s
    assert got[-1] == "/gesam/pong"


def _drain_until(client: RawClient, address: str, timeout: float = 5.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data, msg = client.next(max(deadline - time.monotonic(), 0.01))
        got.append(data)
        if msg.address == address:
            return got
    raise AssertionError(f"no {address} within {timeout} s")


# ---- engine alerts --------------------------------------------------------------------------------------
def test_an_engine_alert_reaches_the_last_client_on_error_within_the_limits(server: OscServer, engine: Any) -> None:
    c = RawClient(server.address)
    try:
        c.send(message("/gesam/ping"))
        assert c.next()[1].address == "/gesam/pong"  # gesam now knows whom to tell
        engine._emit("alert", {"source": "effects", "message": "the chain made a non-finite block; its state "
                                                               "was reset and the block replaced by silence"})
        raw, reply = c.next()
        assert reply.address == "/gesam/error"
        assert reply.params == ["effects: the chain made a non-finite block; its state was reset and the block "
                                "replaced by silence"]
        engine._emit("alert", {"source": "effects", "message": "x" * 5000})
        raw, reply = c.next()
        assert len(raw) <= 256 and reply.params[0].startswith("effects: xxx") and reply.params[0].endswith(" ...")
        start = time.monotonic()
        for _ in range(100):
            engine._emit("alert", {"source": "effects", "message": "again"})
        elapsed = time.monotonic() - start
        wait_for(lambda: server.stats()["alerts"] == 102, 5)
        got = c.drain()
        s = server.stats()
    finally:
        c.close()
    assert len(got) <= ERROR_BURST - 2 + 20 * elapsed + 1, (len(got), elapsed)  # the bucket, and its refill
    assert s["errors_suppressed"] == 100 - len(got) > 0, (len(got), s)


# ---- slow and crowding web clients ------------------------------------------------------------------------
def http_status(address: tuple[str, int], path: str = "/", timeout: float = 10.0) -> str:
    """'200', '503', ... for a GET of ``path``, or 'reset'/'closed' when the server dropped the connection."""
    try:
        with socket.create_connection(address, timeout=timeout) as conn:
            conn.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = conn.recv(64)
    except ConnectionError:  # reset, or a broken pipe while sending
        return "reset"
    return head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "closed"


def thread_cpu_s(thread: threading.Thread) -> float:
    """CPU seconds (user + system) a thread of this process has used, from /proc."""
    with open(f"/proc/self/task/{thread.native_id}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_slow_clients(address: tuple[str, int], n: int) -> list[socket.socket]:
    """``n`` connections: half send nothing, half the start of a request and then nothing."""
    clients = []
    for i in range(n):
        conn = socket.create_connection(address, timeout=10)
        clients.append(conn)
        if i % 2:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow")
    return clients


@pytest.mark.slow
def test_300_slow_web_clients_neither_stop_the_page_nor_osc(engine: Any, server: OscServer, tmp_path: Path) -> None:
    n = 300
    web = WebMap(Controller(engine, tmp_path), port=0, head_timeout_s=5.0).start()
    osc = Client(server.address)
    clients: list[socket.socket] = []
    try:
        web_thread = next(t for t in threading.enumerate() if t.name == "gesam-web")
        clients = open_slow_clients(web.address, n)
        wait_for(lambda: web.stats()["waiting"] == n, 10)  # all accepted, none holds a worker
        cpu0, t0 = thread_cpu_s(web_thread), time.monotonic()
        pings = []
        for _ in range(20):
            sent = time.perf_counter()
            osc.send("/gesam/ping")
            osc.expect("/gesam/pong", 2)
            pings.append(1000 * (time.perf_counter() - sent))
        started = time.perf_counter()
        assert http_status(web.address, "/") == "200"
        assert http_status(web.address, "/api/state") == "200"
        page_ms = 1000 * (time.perf_counter() - started)
        cpu = (thread_cpu_s(web_thread) - cpu0) / max(time.monotonic() - t0, 1e-3)
        held = web.stats()
        wait_for(lambda: web.stats()["waiting"] == 0, 10)  # the silent ones time out and are closed
        for conn in clients[:10]:
            assert conn.recv(100) == b""  # closed by the server, without an answer
        s = web.stats()
    finally:
        for conn in clients:
            conn.close()
        osc.close()
        web.stop()
    pings.sort()
    print(f"\n{n} slow web clients: OSC ping median {pings[10]:.2f} ms, max {pings[-1]:.2f} ms; "
          f"page + state {page_ms:.1f} ms; accept thread CPU {100 * cpu:.1f} %")
    assert held["busy"] == 0 and held["internal_errors"] == 0, held  # nobody was turned away
    assert pings[-1] < 500, pings
    assert s["head_timeouts"] == n and s["open"] == 0 and s["internal_errors"] == 0, s
    assert cpu < 0.25, cpu


@pytest.mark.slow
def test_past_the_connection_cap_a_client_gets_a_quick_503_and_the_page_comes_back(engine: Any,
                                                                                   tmp_path: Path) -> None:
    web = WebMap(Controller(engine, tmp_path), port=0, max_connections=50, head_timeout_s=1.5).start()
    clients: list[socket.socket] = []
    try:
        clients = open_slow_clients(web.address, 50)
        wait_for(lambda: web.stats()["waiting"] == 50, 10)
        with socket.create_connection(web.address, timeout=10) as extra:  # one too many: answered and closed
            answer = extra.recv(4096)
        assert answer.startswith(b"HTTP/1.0 503 Service Unavailable\r\n") and b"Retry-After: 1\r\n" in answer
        assert b"the web map is busy (50 connections are open)" in answer
        assert http_status(web.address) in ("503", "reset")
        wait_for(lambda: web.stats()["waiting"] == 0, 10)  # the slow ones time out
        assert http_status(web.address) == "200"
        s = web.stats()
    finally:
        for conn in clients:
            conn.close()
        web.stop()
    assert s["busy"] >= 2 and s["head_timeouts"] == 50 and s["internal_errors"] == 0, s


SERVE_WITH_FEW_FDS = """
import resource, sys, threading, types
resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))
from osc_bridge.webmap.server import WebMap
web = WebMap(types.SimpleNamespace(engine=None), port=0, max_connections=1000, head_timeout_s=2.0).start()
print(web.address[1], flush=True)
said = threading.Event()
while not said.wait(0.02):
    if web.stats()["accept_errors"] and not said.is_set():
        print("out of fds", flush=True)
        said.set()
sys.stdin.read()
"""


@pytest.mark.slow
def test_out_of_file_descriptors_the_accept_loop_rests_instead_of_spinning() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVE_WITH_FEW_FDS], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    clients: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        address = ("127.0.0.1", int(proc.stdout.readline()))
        clients = [socket.create_connection(address, timeout=10) for _ in range(150)]  # more than it has fds
        assert proc.stdout.readline().strip() == "out of fds"
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu_s() -> float:
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        cpu0, t0 = cpu_s(), time.monotonic()
        wait_until(lambda: False, 1.0)  # a measuring window while out of fds, not a synchronisation
        cpu = (cpu_s() - cpu0) / (time.monotonic() - t0)
        for conn in clients:  # the clients give up; once its silent ones time out, the page is served again
            conn.close()
        clients = []
        assert wait_until(lambda: http_status(address) == "200", 15)
    finally:
        for conn in clients:
            conn.close()
        proc.kill()
        proc.wait(10)
    print(f"\nout of fds: server process CPU {100 * cpu:.1f} %")
    assert cpu < 0.3, cpu


# ---- the policy's parts -----------------------------------------------------------------------------------
def test_every_address_gesam_sends_is_a_reply_address_it_never_answers() -> None:
    from osc_bridge.addresses import INCOMING, OUTGOING
    from osc_bridge.osc.reply_policy import is_reply_address

    assert all(is_reply_address(a.replace("<n>", "3")) for a in OUTGOING)
    assert is_reply_address("/gesam/state/kit")
    assert not any(is_reply_address(a.replace("<n>", "3")) for a in INCOMING)


def test_token_buckets_per_destination_and_in_total() -> None:
    from osc_bridge.osc.reply_policy import TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(20, 40, total_rate=100, total_burst=60, max_keys=2, clock=lambda: now[0])
    assert sum(buckets.allow("a") for _ in range(100)) == 40  # the burst, then nothing
    assert sum(buckets.allow("b") for _ in range(100)) == 20  # the shared bucket had 20 left
    now[0] = 0.5  # half a second: 10 more for each, 50 more in all
    assert sum(buckets.allow("a") for _ in range(100)) == 10
    assert sum(buckets.allow("c") for _ in range(100)) == 40  # a new destination starts full
    assert len(buckets._buckets) == 2  # the least recently used ("b") was forgotten
