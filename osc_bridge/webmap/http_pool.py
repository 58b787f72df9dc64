"""An HTTP server that slow or crowding clients cannot take down: the web map's transport.

The accept thread owns each connection until its request has arrived: it accepts, reads the
request head (and a POST body up to ``max_body``) without blocking, and only then hands the
whole request to a bounded pool of workers (``concurrent.futures.ThreadPoolExecutor``). So a
client that connects and sends nothing, or half a request, costs one file descriptor until
``head_timeout_s``, never a thread. At most ``max_connections`` are open at once (by default
well inside the file-descriptor limit); a connection beyond that gets a quick 503 and is closed,
and a head over ``max_head`` bytes a 431. Workers read anything further and write the answer
within ``request_timeout_s``. When accept() runs out of file descriptors the listening socket
rests for a moment instead of waking the loop again at once (no busy spin).

Threads: ``serve_forever`` is the accept thread; ``shutdown`` and ``stats`` from any other.
"""

from __future__ import annotations

import concurrent.futures
import errno
import http.server
import io
import json
import logging
import re
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger("gesam.web")

MAX_HEAD = 32 * 1024  # bytes of a request line and headers
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LENGTH = re.compile(rb"^content-length:[ \t]*([0-9]{1,9})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_REST_S = 0.1  # how long accepting rests after running out of file descriptors
_ACCEPTS_PER_WAKE = 64


def default_max_connections() -> int:
    """Open connections the web map allows: 512, or fewer when the file-descriptor limit is low
    (half of what is left after 64 for the engine, OSC, MIDI and JACK); 512 where there is no such limit
    to read (Windows)."""
    if resource is None:
        return 512
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 512
    return max(8, min(512, (soft - 64) // 2))


@dataclass
class _Pending:
    """A connection whose request is still arriving (accept thread only)."""

    sock: socket.socket
    address: Any
    since: float
    data: bytearray = field(default_factory=bytearray)


class PooledHTTPServer:
    """Serves ``handler_class`` (a ``PooledRequestHandler``) on a bounded pool; see the module text.

    ``context`` is kept as ``server.context`` for the handlers. ``on_crash(address)`` is called
    (and the exception logged) when a handler raises.
    """

    def __init__(self, handler_class: type[PooledRequestHandler], context: Any = None, *, max_workers: int = 8,
                 max_connections: int | None = None, head_timeout_s: float = 10.0,
                 request_timeout_s: float = 10.0, max_head: int = MAX_HEAD, max_body: int = 64 * 1024,
                 backlog: int = 256, on_crash: Callable[[Any], None] | None = None) -> None:
        if max_workers < 1 or head_timeout_s <= 0 or request_timeout_s <= 0:
            raise ValueError(f"max_workers must be >= 1 and timeouts > 0, got {max_workers}, "
                             f"{head_timeout_s}, {request_timeout_s}")
        self.handler_class, self.context, self.on_crash = handler_class, context, on_crash
        self.max_workers = max_workers
        self.max_connections = max_connections or default_max_connections()
        self.head_timeout_s, self.request_timeout_s = head_timeout_s, request_timeout_s
        self.max_head, self.max_body, self.backlog = max_head, max_body, backlog
        self.socket: socket.socket | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: dict[socket.socket, _Pending] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._stopped = threading.Event()
        self._stopped.set()
        self._lock = threading.Lock()
        self._open = 0  # connections accepted and not yet closed
        self._starved = False  # accept() ran out of file descriptors and has not succeeded since
        self._counts = dict.fromkeys(("connections", "busy", "head_timeouts", "heads_too_large", "accept_errors",
                                      "request_timeouts"), 0)

    # ---- life cycle -----------------------------------------------------------------------------
    def bind(self, host: str, port: int) -> None:
        """Open, bind and listen; OSError (e.g. EADDRINUSE) or socket.gaierror if it cannot."""
        family, _, _, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(where)
            sock.listen(self.backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.socket = sock

    @property
    def address(self) -> tuple[str, int]:
        assert self.socket is not None, "bind() first"
        host, port = self.socket.getsockname()[:2]
        return host, port

    def serve_forever(self) -> None:
        """The accept thread: accept, gather each request, hand it to the pool; until ``shutdown``."""
        assert self.socket is not None, "bind() first"
        self._stopping = False
        self._stopped.clear()
        self._pool = concurrent.futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="gesam-web-worker")
        selector = selectors.DefaultSelector()
        selector.register(self.socket, selectors.EVENT_READ, "listen")
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        resting_until: float | None = None
        try:
            while not self._stopping:
                timeout = 0.1 if resting_until is not None else (0.25 if self._pending else None)
                for key, _ in selector.select(timeout):
                    if key.data == "listen":
                        if self._accept(selector):
                            selector.unregister(self.socket)
                            resting_until = time.monotonic() + _REST_S
                    elif key.data == "wake":
                        self._wake_r.recv(4096)
                    else:
                        self._receive(selector, key.data)
                now = time.monotonic()
                if resting_until is not None and now >= resting_until:
                    selector.register(self.socket, selectors.EVENT_READ, "listen")
                    resting_until = None
                self._expire(selector, now)
        finally:
            for pending in list(self._pending.values()):
                self._close(selector, pending)
            selector.close()
            self._pool.shutdown(wait=False)
            self._stopped.set()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop ``serve_forever`` (from another thread); requests in the pool finish on their own."""
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._stopped.wait(timeout)

    def close(self) -> None:
        """Close the listening socket (after ``shutdown``)."""
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        self._wake_r.close()
        self._wake_w.close()

    def stats(self) -> dict[str, int]:
        """connections (accepted), open, waiting (requests still arriving), busy (refused: too many
        open), head_timeouts, heads_too_large, request_timeouts, accept_errors (e.g. out of fds)."""
        with self._lock:
            out = dict(self._counts)
            out["open"] = self._open
        out["waiting"] = len(self._pending)
        return out

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    # ---- the accept thread --------------------------------------------------------------------------
    def _accept(self, selector: selectors.BaseSelector) -> bool:
        """Accept what is waiting; True when out of file descriptors (rest, then try again)."""
        assert self.socket is not None
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                conn, address = self.socket.accept()
            except BlockingIOError:
                return False
            except OSError as exc:
                self.count("accept_errors")
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self._starved:  # one line per episode, not one per rest
                        log.warning("web map: cannot accept connections (%s); accepting again as connections "
                                    "close", exc.strerror)
                    self._starved = True
                    return True
                continue  # ECONNABORTED and the like: that client is gone
            self._starved = False
            with self._lock:
                self._counts["connections"] += 1
                full = self._open >= self.max_connections
                if not full:
                    self._open += 1
            if full:
                self.count("busy")
                _answer_and_close(conn, 503, f"the web map is busy ({self.max_connections} connections are open); "
                                             "try again in a moment", retry=True)
                continue
            conn.setblocking(False)
            self._pending[conn] = pending = _Pending(conn, address, time.monotonic())
            selector.register(conn, selectors.EVENT_READ, pending)
        return False

    def _receive(self, selector: selectors.BaseSelector, pending: _Pending) -> None:
        try:
            chunk = pending.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._close(selector, pending)
            return
        if not chunk:  # the client finished sending: serve what came, if anything
            if pending.data:
                self._hand_over(selector, pending)
            else:
                self._close(selector, pending)
            return
        pending.data += chunk
        end = _HEAD_END.search(pending.data)
        if end is None:
            if len(pending.data) > self.max_head:
                self.count("heads_too_large")
                self._close(selector, pending, 431, f"the request head is over {self.max_head} bytes")
            return
        head = bytes(pending.data[: end.start()])
        length = _LENGTH.search(head) if head[:5].upper() == b"POST " else None
        if length is not None and int(length.group(1)) <= self.max_body and \
                len(pending.data) < end.end() + int(length.group(1)):
            return  # the body is still arriving
        self._hand_over(selector, pending)

    def _expire(self, selector: selectors.BaseSelector, now: float) -> None:
        for pending in [p for p in self._pending.values() if now - p.since > self.head_timeout_s]:
            self.count("head_timeouts")
            self._close(selector, pending)

    def _hand_over(self, selector: selectors.BaseSelector, pending: _Pending) -> None:
        selector.unregister(pending.sock)
        del self._pending[pending.sock]
        pending.sock.setblocking(True)
        assert self._pool is not None
        try:
            self._pool.submit(self._work, pending)
        except RuntimeError:  # the pool is shutting down
            self._release(pending.sock)

    def _close(self, selector: selectors.BaseSelector, pending: _Pending, status: int = 0, reason: str = "") -> None:
        selector.unregister(pending.sock)
        del self._pending[pending.sock]
        if status:
            _answer_and_close(pending.sock, status, reason)
            with self._lock:
                self._open -= 1
        else:
            self._release(pending.sock)

    # ---- the workers -----------------------------------------------------------------------------------
    def _work(self, pending: _Pending) -> None:
        try:
            # socketserver's stubs want a socket and a socketserver.BaseServer; this handler is fed
            # (socket, bytes already read) by this pool instead, which its setup() unpacks.
            self.handler_class((pending.sock, bytes(pending.data)), pending.address, self)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - a handler bug: counted and logged, the server goes on
            log.exception("web map request from %s", pending.address)
            if self.on_crash is not None:
                self.on_crash(pending.address)
        finally:
            try:
                pending.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._release(pending.sock)

    def _release(self, sock: socket.socket) -> None:
        sock.close()
        with self._lock:
            self._open -= 1


def _answer_and_close(sock: socket.socket, status: int, reason: str, retry: bool = False) -> None:
    """A short JSON answer without waiting for the client, then close (accept thread)."""
    body = json.dumps({"error": reason}).encode()
    phrase = http.server.BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
    lines = [f"HTTP/1.0 {status} {phrase}", "Content-Type: application/json", f"Content-Length: {len(body)}",
             "Connection: close"] + (["Retry-After: 1"] if retry else [])
    head = "\r\n".join(lines) + "\r\n\r\n"
    try:
        sock.setblocking(False)
        try:
            while sock.recv(65536):  # what the client already sent, so closing does not reset the answer
                pass
        except (BlockingIOError, InterruptedError):
            pass
        sock.send(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        sock.close()


class _RequestReader(io.RawIOBase):
    """The request's bytes: first those the accept thread gathered, then the socket's, until a deadline."""

    def __init__(self, gathered: bytes, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._gathered, self._at, self._sock, self._deadline = gathered, 0, sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._at < len(self._gathered):
            n = min(len(buffer), len(self._gathered) - self._at)
            buffer[:n] = self._gathered[self._at: self._at + n]
            self._at += n
            return n
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _ResponseWriter(io.RawIOBase):
    """Writes all of each answer, within the request's deadline (at least one second)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.settimeout(max(self._deadline - time.monotonic(), 1.0))
        self._sock.sendall(data)
        return len(data)


class PooledRequestHandler(http.server.BaseHTTPRequestHandler):
    """A BaseHTTPRequestHandler fed by ``PooledHTTPServer``: reads and writes under a deadline;
    a request that times out or a client that goes away ends the connection quietly (counted)."""

    server: PooledHTTPServer  # type: ignore[assignment]

    def setup(self) -> None:
        self.connection, gathered = self.request
        deadline = time.monotonic() + self.server.request_timeout_s
        self.rfile = io.BufferedReader(_RequestReader(gathered, self.connection, deadline))
        self.wfile = _ResponseWriter(self.connection, deadline)  # type: ignore[assignment]

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            self.server.count("request_timeouts")
        except ConnectionError:
            pass

    def finish(self) -> None:
        self.rfile.close()
