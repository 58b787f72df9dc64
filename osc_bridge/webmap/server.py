"""The web map's HTTP server: a local page to see the maps and play them. ``WebMap`` binds, serves
on a daemon thread and stops; what each request gets is ``osc_bridge.webmap.app`` (no sockets
there), and one request's reading and answering is ``osc_bridge.webmap.handler``.

The transport is ``osc_bridge.webmap.http_pool``: requests are gathered by the accept thread and
run on a bounded pool, with deadlines, a cap on open connections and a quick 503 beyond it, so
slow or crowding clients cannot take the page (or OSC) down. No request can end the server:
refusals are answered, unexpected exceptions are counted (``stats``), logged and answered with 500.
"""

from __future__ import annotations

import errno
import socket
import threading
from typing import Any

from osc_bridge.webmap.app import MAX_BODY, MAX_UPLOAD, WebApp, WebMapError
from osc_bridge.webmap.handler import WebHandler
from osc_bridge.webmap.http_pool import PooledHTTPServer

__all__ = ["DEFAULT_WEB_HOST", "DEFAULT_WEB_PORT", "WebMap", "WebMapError"]

DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8765
Address = tuple[str, int]


class WebMap:
    """Serves the web map for ``controller`` (an ``osc_bridge.controller.Controller``) over HTTP.

    ``port=0`` picks a free port (see ``address``). ``app`` (an ``osc_bridge.webmap.app.WebApp``)
    answers the requests; ``max_body``, ``max_upload`` and ``pads`` are its. ``max_workers``, ``max_connections``,
    ``head_timeout_s`` and ``request_timeout_s`` are the limits of ``http_pool.PooledHTTPServer``.
    ``bind``/``start``/``stop`` from the owner thread; ``stats`` from any thread.
    """

    def __init__(self, controller: Any, host: str = DEFAULT_WEB_HOST, port: int = DEFAULT_WEB_PORT, *,
                 max_body: int = MAX_BODY, max_upload: int = MAX_UPLOAD, pads: int | None = None, max_workers: int = 8,
                 max_connections: int | None = None, head_timeout_s: float = 10.0,
                 request_timeout_s: float = 10.0) -> None:
        self.controller = controller
        self.app = WebApp(controller, max_body=max_body, max_upload=max_upload, pads=pads)
        self.host, self.port = host, int(port)
        self.max_workers, self.max_connections = max_workers, max_connections
        self.head_timeout_s, self.request_timeout_s = head_timeout_s, request_timeout_s
        self._server: PooledHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def files(self) -> dict[str, tuple[bytes, str]]:
        """The page's files: name -> (content, content type)."""
        return self.app.files

    # ---- life cycle ------------------------------------------------------------------------
    def bind(self) -> Address:
        """Open and bind the listening socket now (``start`` does it otherwise); WebMapError if it cannot."""
        if self._server is not None:
            return self.address
        server = PooledHTTPServer(WebHandler, self, max_workers=self.max_workers, max_connections=self.max_connections,
                                  head_timeout_s=self.head_timeout_s, request_timeout_s=self.request_timeout_s,
                                  max_body=self.app.max_body, on_crash=lambda _: self.app.count("internal_errors"))
        try:
            server.bind(self.host, self.port)
        except (socket.gaierror, UnicodeError, OverflowError) as exc:
            server.close()
            raise WebMapError(f"cannot serve the web map on {self.host}:{self.port}: {exc}") from None
        except OSError as exc:
            server.close()
            if exc.errno == errno.EADDRINUSE:
                raise WebMapError(f"web map port {self.port} on {self.host} is already in use (another gesam?); "
                                  "pass --web-port N (0 picks a free one)") from None
            raise WebMapError(f"cannot serve the web map on {self.host}:{self.port}: {exc.strerror or exc}") from None
        self._server = server
        return self.address

    def start(self) -> "WebMap":
        """Bind (if not yet) and serve on a daemon thread."""
        if self._thread is not None:
            return self
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(target=self._server.serve_forever, name="gesam-web", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (requests in flight finish on their workers)."""
        if self._server is None:
            return
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close()
        self._server = None

    def __enter__(self) -> "WebMap":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> Address:
        """The bound (host, port); port 0 asked for a free one and this says which."""
        if self._server is None:
            raise WebMapError("the web map is not bound; call bind() or start() first")
        return self._server.address

    @property
    def url(self) -> str:
        """The page's address, e.g. http://127.0.0.1:8765/."""
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def stats(self) -> dict[str, int]:
        """Counters: requests, commands run, refused (4xx), not_found, internal_errors (500s and
        handler crashes), disconnects (a client that went away before its answer), and the
        connection figures of ``PooledHTTPServer.stats`` (open, waiting, busy, timeouts...)."""
        out = self.app.counts()
        server = self._server
        if server is not None:
            out.update(server.stats())
        return out
