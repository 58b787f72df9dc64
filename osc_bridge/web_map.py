"""The web map: a local HTTP page to see the maps and play them, on the stdlib's ThreadingHTTPServer.

Endpoints (``GET`` unless named):

- ``/`` and ``/static/<file>``: the page, only files of the package folder ``osc_bridge/web/``
  (an allow-list made at start; anything else, ``..``, ``%`` escapes -> 404).
- ``/api/views``: the maps' views, classes, feature clip values and grid (``engine.maps``).
- ``/map/<view>.png``: a listed view's bare map image ``plain/<view>.png`` from ``engine.maps_dir``.
- ``/api/state``: cursor, readiness, output and the class and features at the cursor.
- ``POST /api/osc`` with ``{"address": "/gesam/play", "args": [x, y]}``: parsed by
  ``osc_parse.parse`` and run by ``Controller.execute``, the same path as an OSC message;
  200 ``{"replies": [[address, args], ...]}`` or 4xx ``{"error": reason}``.
- ``/api/sound.wav?x=..&y=..``: the sound a trigger at that point plays now, a 16-bit mono WAV.

The transport is ``osc_bridge.http_pool``: requests are gathered by the accept thread and run on
a bounded pool, with deadlines, a cap on open connections and a quick 503 beyond it, so slow or
crowding clients cannot take the page (or OSC) down. Commands run one at a time under one lock.
No request can end the server: refusals are answered, unexpected exceptions are counted
(``stats``), logged and answered with 500, malformed numbers and lengths are a 400. On a
loopback address every request's ``Host`` must be a loopback name, and a POST must be
``application/json`` from the page's own origin, so another web site open in the same browser
can neither read the state and sounds (DNS rebinding) nor play the instrument (CSRF).
"""

from __future__ import annotations

import errno
import io
import json
import logging
import math
import re
import socket
import threading
import urllib.parse
from importlib import resources
from pathlib import Path
from typing import Any

from gesam_engine.errors import GesamError
from osc_bridge.http_pool import PooledHTTPServer
from osc_bridge.osc_parse import DEFAULT_PADS, OscError, parse
from osc_bridge.web_handler import HttpError, WebHandler, host_name, is_loopback

log = logging.getLogger("gesam.web")

__all__ = ["DEFAULT_WEB_HOST", "DEFAULT_WEB_PORT", "HttpError", "WebMap", "WebMapError", "host_name", "is_loopback",
           "static_files", "wav_bytes"]

DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8765
MAX_BODY = 64 * 1024  # bytes of a POST body
_INT64 = 2**63  # JSON integers must fit an OSC int64, like the numbers an OSC message can carry
Address = tuple[str, int]

_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
                  ".json": "application/json", ".ico": "image/x-icon"}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_EXAMPLE = '{"address": "/gesam/play", "args": [0.5, 0.5]}'
_NO_MAPS = "no maps for this model{where}; make them with `gesam maps --model DIR` and start gesam serve again"


class WebMapError(GesamError):
    """The web map cannot start: port in use, address not available."""


def static_files() -> dict[str, tuple[bytes, str]]:
    """name -> (content, content type) of every servable file in the package folder ``osc_bridge/web``."""
    out: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("osc_bridge").joinpath("web").iterdir():
        suffix = Path(entry.name).suffix
        if entry.is_file() and _STATIC_NAME.match(entry.name) and suffix in _CONTENT_TYPES:
            out[entry.name] = (entry.read_bytes(), _CONTENT_TYPES[suffix])
    if "index.html" not in out:
        raise WebMapError("the web map's files are missing (osc_bridge/web/index.html); reinstall gesam")
    return out


def wav_bytes(wave: Any, sample_rate: int) -> bytes:
    """A mono float wave ([L], -1..1, clipped) as a 16-bit PCM WAV file in memory."""
    import numpy as np
    import soundfile as sf

    mono = np.clip(np.asarray(wave, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, mono, int(sample_rate), subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays, tuples and paths as plain JSON values (for ``json.dumps(default=)``)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class WebMap:
    """Serves the web map for ``controller`` (an ``osc_bridge.controller.Controller``) over HTTP.

    ``port=0`` picks a free port (see ``address``). ``max_workers``, ``max_connections``,
    ``head_timeout_s`` and ``request_timeout_s`` are the limits of ``http_pool.PooledHTTPServer``.
    ``bind``/``start``/``stop`` from the owner thread; ``stats`` from any thread.
    """

    def __init__(self, controller: Any, host: str = DEFAULT_WEB_HOST, port: int = DEFAULT_WEB_PORT, *,
                 max_body: int = MAX_BODY, pads: int | None = None, max_workers: int = 8,
                 max_connections: int | None = None, head_timeout_s: float = 10.0,
                 request_timeout_s: float = 10.0) -> None:
        self.controller = controller
        self.engine = controller.engine
        self.host, self.port, self.max_body = host, int(port), max_body
        engine_config = getattr(getattr(self.engine, "config", None), "engine", None)
        self.pads = pads or int(getattr(engine_config, "pads", DEFAULT_PADS))
        self.files = static_files()
        self.max_workers, self.max_connections = max_workers, max_connections
        self.head_timeout_s, self.request_timeout_s = head_timeout_s, request_timeout_s
        self._server: PooledHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._execute_lock = threading.Lock()
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("requests", "commands", "refused", "not_found", "internal_errors",
                                      "disconnects"), 0)

    # ---- life cycle ------------------------------------------------------------------------
    def bind(self) -> Address:
        """Open and bind the listening socket now (``start`` does it otherwise); WebMapError if it cannot."""
        if self._server is not None:
            return self.address
        server = PooledHTTPServer(WebHandler, self, max_workers=self.max_workers, max_connections=self.max_connections,
                                  head_timeout_s=self.head_timeout_s, request_timeout_s=self.request_timeout_s,
                                  max_body=self.max_body, on_crash=lambda _: self.count("internal_errors"))
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
        with self._lock:
            out = dict(self._counts)
        server = self._server
        if server is not None:
            out.update(server.stats())
        return out

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    # ---- the endpoints (request threads) -------------------------------------------------------
    def get(self, path: str, query: str) -> tuple[int, bytes, str, bool]:
        """(status, body, content type, is API) for a GET of ``path``; HttpError for refusals."""
        if path == "/":
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path.startswith("/map/") and path.endswith(".png"):
            return 200, self.map_image(path[len("/map/"):-len(".png")]), "image/png", False
        if path == "/api/views":
            return 200, self._json(self.views()), "application/json", True
        if path == "/api/state":
            return 200, self._json(self.state()), "application/json", True
        if path == "/api/sound.wav":
            return 200, self.sound(query), "audio/wav", True
        raise HttpError(404, f"no such page: {path[:200]}")

    def _static(self, name: str) -> tuple[int, bytes, str, bool]:
        if name not in self.files:  # an allow-list: '..', escapes and absolute paths are never in it
            raise HttpError(404, f"no such file: /static/{name[:200]}")
        body, content_type = self.files[name]
        return 200, body, content_type, False

    def views(self) -> dict[str, Any]:
        """What ``/api/views`` answers: the views with their image URLs, classes, clip values, grid."""
        maps = self.engine.maps
        if maps is None:
            where = f" (looked for maps.json in {self.engine.maps_dir})" if self.engine.maps_dir else ""
            return {"views": [], "classes": [], "feature_clip": {}, "feature_units": {}, "feature_colors": {}, "grid": 0,
                    "message": _NO_MAPS.format(where=where)}
        views = [{"name": v.name, "title": v.title, "kind": v.kind,
                  "image_url": "/map/" + urllib.parse.quote(v.name, safe="") + ".png"} for v in maps.views]
        return {"views": views, "classes": maps.classes, "feature_clip": maps.feature_clip,
                "feature_units": maps.feature_units, "feature_colors": maps.feature_colors, "grid": maps.grid}

    def map_image(self, quoted_name: str) -> bytes:
        """The bare map image of a view listed in ``engine.maps``; 404 for anything else."""
        maps, root = self.engine.maps, self.engine.maps_dir
        name = urllib.parse.unquote(quoted_name)  # matched exactly against the listed names below
        view = next((v for v in maps.views if v.name == name), None) if maps is not None and root else None
        if view is None:
            raise HttpError(404, f"no map view named {quoted_name[:100]!r}")
        base = Path(root).resolve()
        path: Path = (base / view.image).resolve()
        if not path.is_relative_to(base) or path.suffix != ".png" or not path.is_file():
            raise HttpError(404, f"view {name!r} has no image {view.image!r} in {base}")
        return path.read_bytes()

    def state(self) -> dict[str, Any]:
        """What ``/api/state`` answers: ``engine.state()`` plus the class and features at the cursor."""
        state = dict(self.engine.state())
        state["cursor"] = [float(v) for v in state["cursor"]]
        state["info"] = self.engine.map_info()
        return state

    def osc(self, body: bytes) -> list[list[Any]]:
        """Run one OSC-shaped JSON command through parse + Controller.execute; its replies."""
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, too deep, an integer of 4,300+ digits
            raise HttpError(400, f"the body must be JSON like {_EXAMPLE}: {type(exc).__name__}: "
                                 f"{str(exc)[:200]}") from None
        if not isinstance(data, dict) or not isinstance(data.get("address"), str):
            raise HttpError(400, "the body must be a JSON object with an \"address\" string and an \"args\" list")
        args = data.get("args", [])
        if not isinstance(args, list) or any(isinstance(a, (dict, list)) or a is None for a in args):
            raise HttpError(400, f"{data['address'][:80]}: \"args\" must be a list of numbers, strings or booleans")
        if any(isinstance(a, int) and not -_INT64 <= a < _INT64 for a in args):
            raise HttpError(400, f"{data['address'][:80]}: an integer in \"args\" must fit in 64 bits, as in OSC")
        address = data["address"]
        try:
            cmd = parse(address, args, self.pads)
            with self._execute_lock:
                replies = self.controller.execute(cmd)
        except OscError as exc:
            raise HttpError(400, str(exc)) from None
        except GesamError as exc:
            raise HttpError(400, f"{address}: {exc}") from None
        self.count("commands")
        return [[a, [v.item() if hasattr(v, "item") else v for v in vals]] for a, vals in replies]

    def sound(self, query: str) -> bytes:
        """The WAV of what a trigger at ``?x=..&y=..`` plays now."""
        try:
            fields = urllib.parse.parse_qs(query, keep_blank_values=True, strict_parsing=True, max_num_fields=8)
        except ValueError:
            fields = {}
        xy = []
        for name in ("x", "y"):
            values = fields.get(name, [])
            try:
                value = float(values[0]) if len(values) == 1 else math.nan
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                got = repr(values[0][:40]) if values else "nothing"
                raise HttpError(400, f"/api/sound.wav needs ?x=..&y=.. with finite numbers (normalised 0..1), "
                                     f"got {name}={got}")
            xy.append(value)
        try:
            wave, _ = self.engine.sound_for((xy[0], xy[1]))
        except GesamError as exc:
            raise HttpError(503, str(exc)) from None
        return wav_bytes(wave, self.engine.sample_rate)

    @staticmethod
    def _json(value: Any) -> bytes:
        return json.dumps(value, default=_jsonable, allow_nan=False).encode()
