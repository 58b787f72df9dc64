"""The OSC server's replies: where they go (the feedback addresses, else the sender) and the limits
on ``/gesam/error`` (``osc_bridge.osc.reply_policy``: size cap, token bucket per destination).

Any thread may call ``send``, ``push``, ``error`` and ``alert`` (the executor, the render thread,
engine listeners); a failed send is counted, never raised.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Callable

from pythonosc.osc_message_builder import OscMessageBuilder

from osc_bridge.osc.reply_policy import ERROR_BURST, ERROR_RATE, TokenBuckets, error_datagram

log = logging.getLogger("gesam.osc")


class Replies:
    """Sends replies on ``sock`` for a server whose counters ``count(name, n)`` updates.

    ``feedback`` (socket addresses: an XY patch and a sampler device each listen on their own
    port) receives every reply when set; otherwise each goes to the sender it answers, and
    unprompted ones (engine events, alerts: ``push``) to ``last_client``.
    """

    def __init__(self, count: Callable[..., None], *, error_rate: float = ERROR_RATE,
                 error_burst: float = ERROR_BURST) -> None:
        self.count = count
        self.sock: socket.socket | None = None
        self.feedback: list[Any] = []
        self.last_client: Any = None
        self.buckets = TokenBuckets(error_rate, error_burst,
                                    total_rate=max(10 * error_rate, 200.0), total_burst=max(10 * error_burst, 400.0))

    def destinations(self, sender: Any) -> list[Any]:
        """Where a reply to ``sender`` goes (empty: nowhere known)."""
        return self.feedback or ([sender] if sender is not None else [])

    def push(self, address: str, args: list[Any]) -> None:
        """A reply nobody asked for (an engine event) to the feedback addresses, else the last client."""
        self.send(self.last_client, address, args)

    def send(self, sender: Any, address: str, args: list[Any]) -> None:
        """One reply to the feedback addresses, else to ``sender``."""
        dests = self.destinations(sender)
        if not dests:
            return
        try:
            builder = OscMessageBuilder(address=address)
            for a in args:
                builder.add_arg(a.item() if hasattr(a, "item") else a)  # numpy scalars become plain numbers
            data = builder.build().dgram
        except Exception as exc:  # noqa: BLE001 - a bad argument: counted, logged, never raised
            self.count("reply_failures")
            log.debug("OSC reply %s %r cannot be built: %s", address, args, exc)
            return
        for dest in dests:
            self._sendto(data, dest, address)

    def error(self, sender: Any, reason: str, request_bytes: int) -> None:
        """Answer a refusal on /gesam/error, cut to the size limit, unless the destination's
        token bucket is empty (then counted in ``errors_suppressed``)."""
        log.debug("OSC refused: %s", reason[:1000])
        for dest in self.destinations(sender):
            if not self.buckets.allow(dest):
                self.count("errors_suppressed")
                continue
            self._sendto(error_datagram(reason, request_bytes), dest, "/gesam/error")

    def alert(self, source: str, message: str) -> None:
        """An engine alert (e.g. a non-finite effects block) as /gesam/error to the feedback
        addresses or the last client, under the same limits as any error reply."""
        self.count("alerts")
        self.error(self.last_client, f"{source}: {message}", 0)

    def _sendto(self, data: bytes, dest: Any, address: str) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            sock.sendto(data, dest)
        except Exception as exc:  # noqa: BLE001 - EMSGSIZE, ENOBUFS, a closed socket on stop
            self.count("reply_failures")
            log.debug("OSC reply %s to %s failed: %s", address, dest, exc)
        else:
            self.count("replies")
