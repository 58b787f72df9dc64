"""Hostile datagrams over real UDP to a running server with a real Engine: random bytes,
truncated and bit-flipped packets, wrong types, NaN and infinity, huge strings, nested bundles
with any time tag. Over 10,000 of them: no crash, no unexpected exception, every refusal
answered on /gesam/error (within its size limit), no message on a reply address answered, and
the server still answers /gesam/ping.
"""

import math
import socket
import struct
import threading
import time
from collections import Counter
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message import OscMessage

from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer
from tests.osc_bridge import make_engine, message
from tests.osc_bridge.osc.test_parse import BAD, GOOD, deep_bundle
from tests.waiting import wait_for, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

PER_EXAMPLE = 50
EXAMPLES = 200  # 10,000 datagrams from hypothesis, plus the hand-made ones


class Listener:
    """A client socket whose thread counts every reply by address."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.counts: Counter[str] = Counter()
        self.bad_replies = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            try:
                msg = OscMessage(data)
            except Exception:  # noqa: BLE001 - a reply we cannot read is itself a failure
                self.bad_replies += 1
                continue
            self.counts[msg.address] += 1
            if msg.address == "/gesam/error" and not (len(msg.params) == 1 and msg.params[0] and len(data) <= 1024):
                self.bad_replies += 1

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OscServer, Listener, Any]]:
    directory = tmp_path_factory.mktemp("fuzz")
    engine = make_engine(directory)
    # every refusal is answered here, so the error replies' rate limit is lifted (test_network_safety checks it)
    server = OscServer(Controller(engine, directory / "renders"), port=0, error_rate=1e9, error_burst=1e9).start()
    listener = Listener()
    yield server, listener, engine
    listener.close()
    server.stop()
    engine.stop()


def answered_every_refusal(server: OscServer, listener: Listener) -> bool:
    s = server.stats()
    return listener.counts["/gesam/error"] == s["errors"] + s["malformed"]


def send_all(server: OscServer, listener: Listener, datagrams: list[bytes]) -> None:
    """Send (paced by the server's intake, so the kernel never drops one) and wait until all are done."""
    start = server.stats()["datagrams"]
    for i, d in enumerate(datagrams):
        listener.sock.sendto(d, server.address)
        if i % 200 == 199:
            wait_until(lambda: server.stats()["datagrams"] >= start + i - 100, 5)
    wait_for(lambda: server.stats()["datagrams"] == start + len(datagrams), 20)
    wait_for(lambda: settled(server), 20)
    wait_for(lambda: answered_every_refusal(server, listener), 10)


def settled(server: OscServer) -> bool:
    s = server.stats()
    return s["queued"] == 0 and s["received"] == (s["handled"] + s["errors"] + s["coalesced"] + s["ignored"]
                                                  + s["pending_scheduled"] + s["renders_waiting"])


# ---- strategies ----------------------------------------------------------------------------------
ADDRESSES = sorted({a for a, _, _ in GOOD} | {a for a, _, _ in BAD if a} | {"/gesam/state/xy", "/", "//"})
NUMBER = st.one_of(st.floats(width=32), st.integers(-2**31, 2**31 - 1),
                   st.sampled_from([math.nan, math.inf, -math.inf]))
ARG = st.one_of(NUMBER, st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12), st.booleans(),
                st.binary(min_size=1, max_size=12), st.none(),
                st.integers(2**31, 2**63 - 1), st.integers(-2**63, -2**31 - 1))  # these go as int64 (h)
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
WELL_FORMED = st.one_of(
    st.builds(lambda a, args: message(a, *args), st.sampled_from(ADDRESSES), st.lists(ARG, max_size=4)),
    st.builds(lambda a, args: message(a, *args), st.sampled_from(ADDRESSES), st.lists(NUMBER, max_size=3)),
    st.builds(lambda x, y, name: message("/gesam/render", x, y, name), NUMBER, NUMBER, TEXT),
    st.builds(lambda fx, param, v: message(f"/gesam/fx/{fx}/{param}", v), TEXT, TEXT, ARG),
)


def mutate(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    b = bytearray(data[: max(1, cut % (len(data) + 1))])
    for pos, bit in flips:
        b[pos % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


BROKEN = st.builds(mutate, WELL_FORMED, st.integers(0, 200), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 7)),
                                                                         max_size=3))
TIMETAG = st.one_of(st.just(b"\x00" * 7 + b"\x01"), st.binary(min_size=8, max_size=8),
                    st.floats(-100, -1).map(lambda d: _ntp(time.time() + d)),  # past
                    st.floats(0.0, 0.2).map(lambda d: _ntp(time.time() + d)),  # soon: scheduled and run
                    st.floats(400, 10**6).map(lambda d: _ntp(time.time() + d)))  # too far ahead: refused


def _ntp(unix: float) -> bytes:
    ntp = unix + 2208988800
    return struct.pack(">II", int(ntp) & 0xFFFFFFFF, int((ntp % 1) * 2**32))


def _bundle(tag: bytes, elements: list[bytes]) -> bytes:
    return b"#bundle\x00" + tag + b"".join(struct.pack(">i", len(e)) + e for e in elements)


BUNDLE = st.recursive(st.one_of(WELL_FORMED, BROKEN),
                      lambda inner: st.builds(_bundle, TIMETAG, st.lists(inner, max_size=4)), max_leaves=8)
RAW = st.one_of(st.binary(max_size=128), st.binary(max_size=16).map(lambda b: b"/" + b),
                st.binary(max_size=32).map(lambda b: b"#bundle\x00" + b))
DATAGRAM = st.one_of(RAW, WELL_FORMED, WELL_FORMED, BROKEN, BUNDLE)

HAND_MADE_WRONG = [message(a, *args) for a, args, _ in BAD if a]  # each must get exactly one /gesam/error
HAND_MADE_MALFORMED = [
    b"", b"\x00" * 64, b"/", b"#bundle", deep_bundle(9), deep_bundle(500),
    b"/gesam/xy\x00\x00\x00,ff\x00", b"/gesam/xy\x00\x00\x00,ffffffffffffffffffff\x00\x00\x00",
    b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", -4),
    b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", 2**31 - 1),
    b"/gesam/render\x00\x00\x00,b\x00\x00" + struct.pack(">i", 2**31 - 1),
    b"/" + b"\xff" * 60000 + b"\x00" * 3,
]
HUGE = [message("/gesam/" + "x" * 60000), message("/gesam/render", 0.5, 0.5, "y" * 60000),
        message("/gesam/xy", *([0.5] * 5000)), message("/gesam/learn", "z" * 60000)]


# ---- tests ---------------------------------------------------------------------------------------------
def test_hand_made_hostile_datagrams(rig: tuple[OscServer, Listener, Any]) -> None:
    server, listener, _ = rig
    before, s0 = listener.counts["/gesam/error"], server.stats()
    send_all(server, listener, HAND_MADE_WRONG)
    assert listener.counts["/gesam/error"] - before == len(HAND_MADE_WRONG)  # one answer each
    send_all(server, listener, HAND_MADE_MALFORMED + HUGE)
    s = server.stats()
    assert s["malformed"] - s0["malformed"] == len(HAND_MADE_MALFORMED)
    assert listener.counts["/gesam/error"] - before == len(HAND_MADE_WRONG) + len(HAND_MADE_MALFORMED) + len(HUGE)
    assert s["internal_errors"] == 0 and listener.bad_replies == 0


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(st.lists(DATAGRAM, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
def test_random_hostile_datagrams(rig: tuple[OscServer, Listener, Any], datagrams: list[bytes]) -> None:
    server, listener, _ = rig
    datagrams = [d[:65000] for d in datagrams]
    send_all(server, listener, datagrams)
    s = server.stats()
    assert s["internal_errors"] == 0 and listener.bad_replies == 0, s


def test_after_the_storm_the_server_still_serves(rig: tuple[OscServer, Listener, Any]) -> None:
    server, listener, engine = rig
    s = server.stats()
    assert s["datagrams"] >= EXAMPLES * PER_EXAMPLE + len(HAND_MADE_WRONG) + len(HAND_MADE_MALFORMED)
    assert s["internal_errors"] == 0 and s["errors"] > 1000 and s["malformed"] > 1000, s
    assert s["ignored"] > 0 and s["errors_suppressed"] == 0, s
    assert all(t.is_alive() for t in threading.enumerate() if t.name.startswith("gesam-osc-"))
    pongs = listener.counts["/gesam/pong"]
    listener.sock.sendto(message("/gesam/ping"), server.address)
    wait_for(lambda: listener.counts["/gesam/pong"] == pongs + 1, 2)
    listener.sock.sendto(message("/gesam/xy", 0.25, 0.75), server.address)
    wait_for(lambda: engine.cursor == (0.25, 0.75), 2)
    assert engine.started and engine.errors == 0
