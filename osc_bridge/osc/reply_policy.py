"""What the OSC server may answer, and how much: no reply to a reply, and error replies capped
in size and rate, so a spoofed or looping sender cannot make gesam an amplifier or a ping-pong.

- A message on a reply address (``/gesam/state/*``, ``/gesam/error``, ``/gesam/pong``) is never
  answered: another gesam, or this one through a bad ``--feedback``, would answer back forever.
- An ``/gesam/error`` datagram is at most ``max(256, 2 x the request)`` bytes and never over
  1 KiB; a longer reason is cut at a word and ends in ``...``.
- Error replies go through a token bucket per destination (20 a second, bursts of 40) and one
  for all destinations together (200 a second, bursts of 400); the rest are counted, not sent.

Pure functions and one thread-safe class; no sockets here.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable, Hashable

from pythonosc.osc_message_builder import OscMessageBuilder

ERROR_ADDRESS = "/gesam/error"
REPLY_ADDRESSES = frozenset({ERROR_ADDRESS, "/gesam/pong"})
REPLY_PREFIX = "/gesam/state/"
ERROR_FLOOR_BYTES = 256  # an error reply may always be this long
ERROR_FACTOR = 2  # ... or this many times the datagram that caused it
ERROR_MAX_BYTES = 1024  # ... but never longer
ERROR_RATE, ERROR_BURST = 20.0, 40.0  # error replies a second per destination, and the burst
TOTAL_RATE, TOTAL_BURST = 200.0, 400.0  # error replies a second to all destinations together
_HEAD = len(OscMessageBuilder(ERROR_ADDRESS).build().dgram)  # the address and its type tags: 20 bytes
_ELLIPSIS = " ..."


def is_reply_address(address: str) -> bool:
    """Whether ``address`` is one gesam sends (never answered when it arrives)."""
    return address in REPLY_ADDRESSES or address.startswith(REPLY_PREFIX)


def looks_like_reply(data: bytes) -> bool:
    """Whether a raw datagram is a message on a reply address, even a malformed one."""
    if data.startswith(REPLY_PREFIX.encode()):
        return True
    return any(data.startswith(a.encode() + b"\x00") for a in REPLY_ADDRESSES)


def error_limit(request_bytes: int) -> int:
    """The most bytes an ``/gesam/error`` datagram answering a ``request_bytes`` datagram may have."""
    return min(max(ERROR_FLOOR_BYTES, ERROR_FACTOR * max(int(request_bytes), 0)), ERROR_MAX_BYTES)


def fit_reason(reason: str, request_bytes: int) -> str:
    """``reason`` cut (at a word where one is near) so its ``/gesam/error`` fits ``error_limit``."""
    room = (error_limit(request_bytes) - _HEAD) // 4 * 4 - 1  # string bytes; the NUL and padding after
    raw = reason.encode("utf-8")
    if len(raw) <= room:
        return reason
    cut = raw[: room - len(_ELLIPSIS)].decode("utf-8", "ignore")
    space = cut.rfind(" ", len(cut) - 40)
    return (cut[:space] if space > 0 else cut).rstrip(" ,;:") + _ELLIPSIS


def error_datagram(reason: str, request_bytes: int) -> bytes:
    """The ``/gesam/error`` datagram answering a ``request_bytes`` datagram, within ``error_limit``."""
    builder = OscMessageBuilder(address=ERROR_ADDRESS)
    builder.add_arg(fit_reason(reason, request_bytes))
    return builder.build().dgram


class TokenBuckets:
    """A token bucket per key plus one shared by all keys; ``allow(key)`` takes a token from both.

    At most ``max_keys`` keys are remembered (the least recently used is forgotten, so a flood
    of spoofed senders costs bounded memory). Any thread may call ``allow``.
    """

    def __init__(self, rate: float = ERROR_RATE, burst: float = ERROR_BURST, *, total_rate: float = TOTAL_RATE,
                 total_burst: float = TOTAL_BURST, max_keys: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (rate > 0 and burst >= 1 and total_rate > 0 and total_burst >= 1 and max_keys >= 1):
            raise ValueError(f"rates must be > 0 and bursts >= 1, got rate {rate}, burst {burst}, "
                             f"total_rate {total_rate}, total_burst {total_burst}, max_keys {max_keys}")
        self.rate, self.burst, self.total_rate, self.total_burst = rate, burst, total_rate, total_burst
        self.max_keys, self.clock = max_keys, clock
        self._buckets: collections.OrderedDict[Hashable, tuple[float, float]] = collections.OrderedDict()
        self._total = (total_burst, clock())
        self._lock = threading.Lock()

    def allow(self, key: Hashable) -> bool:
        """True (and a token taken from ``key``'s bucket and the shared one) if both have one."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            total, total_then = self._total
            total = min(self.total_burst, total + (now - total_then) * self.total_rate)
            ok = tokens >= 1.0 and total >= 1.0
            if ok:
                tokens, total = tokens - 1.0, total - 1.0
            self._buckets[key] = (tokens, now)  # most recently used last
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            self._total = (total, now)
            return ok
