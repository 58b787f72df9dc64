"""The web map's request handler: Host and origin checks, a strict Content-Length, routing to
``WebMap``'s endpoints, and an answer for everything (JSON ``{"error": ...}`` for refusals).

Runs on ``osc_bridge.http_pool`` workers; the ``WebMap`` is ``server.context``.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any

from osc_bridge.http_pool import PooledRequestHandler

if TYPE_CHECKING:
    from osc_bridge.web_map import WebMap

log = logging.getLogger("gesam.web")

_MAX_DRAIN = 4 * 2**20  # a larger body than MAX_BODY is read and dropped up to this size before the 413


class HttpError(Exception):
    """A refusal with its HTTP status; the text is the JSON ``error`` the page shows."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a ``Host`` header without its port: 'localhost:8765' -> 'localhost', '[::1]:80' -> '::1'."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class WebHandler(PooledRequestHandler):
    """One request to the web map (``server.context``): the Host check, the POST checks, routing
    to the map's endpoints and the answer; every refusal is JSON ``{"error": reason}``."""

    server_version = "gesam-web"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("web %s: " + format, self.client_address[0], *args)

    @property
    def web(self) -> "WebMap":
        return self.server.context  # type: ignore[no-any-return]

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._handle(lambda path, query: self.web.get(path, query))

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(lambda path, query: self.web.get(path, query), head=True)

    def do_POST(self) -> None:  # noqa: N802
        self._handle(self._post)

    def _post(self, path: str, query: str) -> tuple[int, bytes, str, bool]:
        web = self.web
        if path != "/api/osc":
            raise HttpError(404 if path.startswith("/api/") else 405, f"POST is only for /api/osc, not {path[:200]}")
        self._check_origin()
        length = self._content_length()
        if length > web.max_body:
            self.close_connection = True
            if length <= _MAX_DRAIN:  # read it, so the client sees the answer rather than a reset
                self._discard(length)
            raise HttpError(413, f"the body is {length} bytes; at most {web.max_body} are accepted")
        body = self.rfile.read(length)
        if len(body) < length:
            raise HttpError(400, f"the body ended after {len(body)} of its {length} bytes")
        return 200, web._json({"replies": web.osc(body)}), "application/json", True

    def _content_length(self) -> int:
        """The one Content-Length, a plain decimal number; 411 without one, 400 for anything else."""
        values = self.headers.get_all("Content-Length") or []
        if not values:
            raise HttpError(411, "a POST needs a Content-Length")
        text = values[0].strip()
        if len(set(v.strip() for v in values)) > 1 or not (text.isascii() and text.isdigit() and len(text) <= 12):
            raise HttpError(400, f"Content-Length must be one decimal number of bytes, got {', '.join(values)[:80]!r}")
        return int(text)

    def _discard(self, n: int) -> None:
        while n > 0:
            chunk = self.rfile.read(min(n, 65536))
            if not chunk:
                return
            n -= len(chunk)

    def _check_host(self) -> None:
        """On a loopback address, only a loopback name may be in Host: a page of another site that
        renamed itself to 127.0.0.1 (DNS rebinding) can read nothing and play nothing."""
        host = self.headers.get("Host", "")
        if is_loopback(self.web.host) and not is_loopback(host_name(host)):
            raise HttpError(403, f"requests must address the web map by a loopback name, not Host {host[:80]!r}")

    def _check_origin(self) -> None:
        """Only the page itself may play: JSON (a cross-site form cannot send it without asking)
        and an Origin that is this server."""
        if self.headers.get_content_type() != "application/json":
            raise HttpError(415, "POST /api/osc needs Content-Type: application/json")
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{self.headers.get('Host', '')}":
            raise HttpError(403, f"POST /api/osc from another page (Origin {origin[:80]!r}) is refused")

    def _handle(self, route: Any, head: bool = False) -> None:
        web = self.web
        web.count("requests")
        api = True
        try:
            path, _, query = self.path.partition("?")
            self._check_host()
            if not path.startswith("/"):  # absolute-form targets (http://...) and the like
                raise HttpError(404, f"no such page: {path[:200]}")
            status, body, content_type, api = route(path.partition("#")[0], query)
        except HttpError as exc:
            status, content_type = exc.status, "application/json"
            body = web._json({"error": str(exc)})
            web.count("not_found" if exc.status == 404 else "refused")
        except (TimeoutError, ConnectionError):  # the client stopped sending or went away: nobody to answer
            web.count("disconnects")
            self.close_connection = True
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not end the server: counted, logged, answered
            web.count("internal_errors")
            log.exception("web map %s %s", self.command, self.path[:200])
            status, content_type = 500, "application/json"
            body = web._json({"error": f"internal error, nothing more was done ({type(exc).__name__}: {exc})"})
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store" if api else "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if not head:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            web.count("disconnects")
