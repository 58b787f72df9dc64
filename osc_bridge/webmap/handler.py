"""One HTTP request to the web map: the checks of ``osc_bridge.webmap.app`` on its headers (Host,
origin, a strict Content-Length), the body read (or drained before a 413), routing to the app's
endpoints, and an answer for everything (JSON ``{"error": ...}`` for refusals).

Runs on ``osc_bridge.webmap.http_pool`` workers; the ``WebMap`` is ``server.context``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from osc_bridge.webmap.app import (
    Answer, HttpError, WebApp, check_host, check_origin, check_upload, content_length, to_json,
)
from osc_bridge.webmap.http_pool import PooledRequestHandler

if TYPE_CHECKING:
    from osc_bridge.webmap.server import WebMap

log = logging.getLogger("gesam.web")

_MAX_DRAIN = 4 * 2**20  # a body over its route's limit is read and dropped up to this size before the 413
_POSTS = ("/api/osc", "/api/locate")


class WebHandler(PooledRequestHandler):
    """One request to the web map (``server.context``): the Host check, the POST checks, routing
    to the map's endpoints and the answer; every refusal is JSON ``{"error": reason}``."""

    server_version = "gesam-web"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("web %s: " + format, self.client_address[0], *args)

    @property
    def web(self) -> "WebMap":
        return self.server.context  # type: ignore[no-any-return]

    @property
    def app(self) -> WebApp:
        return self.web.app

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._handle(lambda path, query: self.app.get(path, query))

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(lambda path, query: self.app.get(path, query), head=True)

    def do_POST(self) -> None:  # noqa: N802
        self._handle(self._post)

    def _post(self, path: str, query: str) -> Answer:
        app = self.app
        if path not in _POSTS:
            raise HttpError(404 if path.startswith("/api/") else 405,
                            f"POST is only for {' and '.join(_POSTS)}, not {path[:200]}")
        content_type, origin, host = self.headers.get_content_type(), self.headers.get("Origin"), \
            self.headers.get("Host", "")
        if path == "/api/osc":
            check_origin(content_type, origin, host)
        else:
            check_upload(content_type, origin, host)
        limit = app.max_body if path == "/api/osc" else app.max_upload
        length = content_length(self.headers.get_all("Content-Length") or [])
        if length > limit:
            self.close_connection = True
            if length <= _MAX_DRAIN:  # read it, so the client sees the answer rather than a reset
                self._discard(length)
            what = "the body" if path == "/api/osc" else "the dropped file"
            raise HttpError(413, f"{what} is {length} bytes; at most {limit} are accepted")
        body = self.rfile.read(length)  # beyond what the accept thread gathered: read here, within the deadline
        if len(body) < length:
            raise HttpError(400, f"the body ended after {len(body)} of its {length} bytes")
        if path == "/api/osc":
            return Answer(200, to_json({"replies": app.osc(body)}), "application/json", True)
        found = app.locate(body, self.headers.get("X-File-Name"), content_type)
        return Answer(200, to_json(found), "application/json", True)

    def _discard(self, n: int) -> None:
        while n > 0:
            chunk = self.rfile.read(min(n, 65536))
            if not chunk:
                return
            n -= len(chunk)

    def _handle(self, route: Any, head: bool = False) -> None:
        app = self.app
        app.count("requests")
        api = True
        try:
            path, _, query = self.path.partition("?")
            check_host(self.web.host, self.headers.get("Host", ""))
            if not path.startswith("/"):  # absolute-form targets (http://...) and the like
                raise HttpError(404, f"no such page: {path[:200]}")
            status, body, content_type, api, headers = route(path.partition("#")[0], query)
        except HttpError as exc:
            status, content_type, headers = exc.status, "application/json", ()
            body = to_json({"error": str(exc)})
            app.count("not_found" if exc.status == 404 else "refused")
        except (TimeoutError, ConnectionError):  # the client stopped sending or went away: nobody to answer
            app.count("disconnects")
            self.close_connection = True
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not end the server: counted, logged, answered
            app.count("internal_errors")
            log.exception("web map %s %s", self.command, self.path[:200])
            status, content_type, headers = 500, "application/json", ()
            body = to_json({"error": f"internal error, nothing more was done ({type(exc).__name__}: {exc})"})
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store" if api else "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            app.count("disconnects")
