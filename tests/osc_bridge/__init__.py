"""Helpers for the OSC bridge tests: a real Engine with a tiny model writing a WAV (no sound
card), and a UDP client that sends OSC and collects the replies on its own socket."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

ENGINE_CONFIG = {"cache": {"bake_grid": 3}, "output": {"blocksize": 512}}


def make_engine(directory: Path) -> Any:
    """A started Engine (tiny untrained model, 3x3 bake, real-time WAV output in ``directory``)."""
    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import serve_config_from_dict
    from tests.tiny import tiny_model

    return Engine(tiny_model(0.3), serve_config_from_dict(ENGINE_CONFIG), output_file=directory / "out.wav",
                  realtime=True, cache_dir=directory / "cache", progress=False).start()


def message(address: str, *args: Any) -> bytes:
    """One OSC message's datagram (python-osc infers the types: float -> f, int -> i, str -> s)."""
    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


class Client:
    """A UDP socket on 127.0.0.1 that sends to ``server`` and keeps every reply it receives."""

    def __init__(self, server: tuple[str, int], buffer: int = 4 * 2**20) -> None:
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        self.sock.bind(("127.0.0.1", 0))
        self.replies: list[tuple[str, list[Any]]] = []

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def send(self, address: str, *args: Any) -> None:
        self.sock.sendto(message(address, *args), self.server)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def _receive(self, deadline: float) -> tuple[str, list[Any]] | None:
        """The next reply before ``deadline`` (kept in ``replies``), or None when none came."""
        self.sock.settimeout(max(deadline - time.monotonic(), 1e-4))
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return None
        msg = OscMessage(data)
        self.replies.append((msg.address, msg.params))
        return msg.address, msg.params

    def poll(self, timeout: float) -> list[tuple[str, list[Any]]]:
        """Replies that arrive within ``timeout`` s (all of them kept in ``replies`` too)."""
        got = []
        deadline = time.monotonic() + timeout
        while (reply := self._receive(deadline)) is not None:
            got.append(reply)
            if time.monotonic() >= deadline:
                break
        return got

    def expect(self, address: str, timeout: float = 5.0) -> list[Any]:
        """The arguments of the next reply on ``address`` (earlier others are kept); fails on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (reply := self._receive(deadline)) is not None:
            if reply[0] == address:
                return reply[1]
        raise AssertionError(f"no {address} within {timeout} s; got {self.replies[-5:]}")

    def close(self) -> None:
        self.sock.close()
