"""The web map's requests without HTTP: what each endpoint answers, the checks on a request's
headers, and the counters. No sockets here, so a test can call it directly.

Endpoints (``GET`` unless named; ``WebApp.get`` routes them):

- ``/`` and ``/static/<file>``: the page, only files of the package folder ``osc_bridge/web/``
  (an allow-list made at start; anything else, ``..``, ``%`` escapes -> 404).
- ``/api/views``: the maps' views, classes, feature clip values and grid (``engine.maps``).
- ``/map/<view>.png``: a listed view's bare map image ``plain/<view>.png`` from ``engine.maps_dir``.
- ``/api/state``: cursor, readiness, output and the class and features at the cursor.
- ``POST /api/osc`` with ``{"address": "/gesam/play", "args": [x, y]}``: parsed by
  ``osc_bridge.osc.parse.parse`` and run by ``Controller.execute``, the same path as an OSC
  message; 200 ``{"replies": [[address, args], ...]}`` or 4xx ``{"error": reason}``.
- ``POST /api/locate`` with a dropped audio file's bytes (``application/octet-stream`` or
  ``audio/*``, its name percent-encoded in ``X-File-Name``): query by example, the ``Locate``
  command of ``/gesam/locate`` on a private temporary copy; 200 ``{"x", "y", "class",
  "class_probability", "nearest", "replies", ...}`` or 400 with the reason (e.g. not audio).
- ``/api/sound.wav?x=..&y=..[&bits=24]``: the sound a trigger at that point plays now, a mono WAV
  (16-bit, or 24), sent as an attachment named ``gesam_<x>_<y>.wav`` (drag-out and download).

Refusals are ``HttpError`` (status and reason); commands run one at a time under one lock;
malformed numbers and lengths are a 400. On a loopback address every request's ``Host`` must be
a loopback name (``check_host``), and a POST must be ``application/json`` from the page's own
origin (``check_origin``), so another web site open in the same browser can neither read the
state and sounds (DNS rebinding) nor play the instrument (CSRF). The HTTP side is
``osc_bridge.webmap.handler`` and ``osc_bridge.webmap.server``.
"""

from __future__ import annotations

import io
import ipaddress
import json
import math
import re
import threading
import urllib.parse
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from gesam_engine.errors import GesamError
from osc_bridge.commands import SLOW, Locate
from osc_bridge.osc.parse import DEFAULT_PADS, OscError, parse
from osc_bridge.webmap.upload import AUDIO_KINDS, display_name, is_upload_type, private_copy, temp_suffix

__all__ = ["MAX_BODY", "MAX_UPLOAD", "Answer", "HttpError", "WebApp", "WebMapError", "check_host", "check_origin",
           "check_upload", "content_length", "host_name", "is_loopback", "static_files", "to_json", "wav_bytes"]

MAX_BODY = 64 * 1024  # bytes of a POST body
MAX_UPLOAD = 50 * 2**20  # bytes of a file dropped on the map (POST /api/locate)
LOCATE_WAIT_S = 30.0  # how long a dropped file waits for the one before it to be located
_INT64 = 2**63  # JSON integers must fit an OSC int64, like the numbers an OSC message can carry
_WAV_SUBTYPES = {16: "PCM_16", 24: "PCM_24"}


class Answer(NamedTuple):
    """What an endpoint answers: status, body, content type, whether it is an API answer (not
    cached), and extra headers (name, value)."""

    status: int
    body: bytes
    content_type: str
    api: bool
    headers: tuple[tuple[str, str], ...] = ()


_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml",
                  ".json": "application/json", ".ico": "image/x-icon"}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_EXAMPLE = '{"address": "/gesam/play", "args": [0.5, 0.5]}'
_NO_MAPS = "no maps for this model{where}; make them with `gesam maps --model DIR` and start gesam serve again"


class WebMapError(GesamError):
    """The web map cannot start: port in use, address not available, its files missing."""


class HttpError(Exception):
    """A refusal with its HTTP status; the text is the JSON ``error`` the page shows."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


# ---- request checks ---------------------------------------------------------------------------------
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


def check_host(bound_host: str, header: str) -> None:
    """On a loopback address, only a loopback name may be in Host (``header``, '' when there is
    none): a page of another site that renamed itself to 127.0.0.1 (DNS rebinding) can read
    nothing and play nothing. HttpError 403 otherwise."""
    if is_loopback(bound_host) and not is_loopback(host_name(header)):
        raise HttpError(403, f"requests must address the web map by a loopback name, not Host {header[:80]!r}")


def check_origin(content_type: str, origin: str | None, host: str) -> None:
    """Only the page itself may play: JSON (a cross-site form cannot send it without asking) and an
    Origin that is this server (``host``: the request's Host header). HttpError 415 or 403 otherwise."""
    if content_type != "application/json":
        raise HttpError(415, "POST /api/osc needs Content-Type: application/json")
    _check_same_origin("/api/osc", origin, host)


def check_upload(content_type: str, origin: str | None, host: str) -> None:
    """Only the page itself may drop a file: ``application/octet-stream`` or ``audio/*`` (types a
    cross-site form cannot send) and an Origin that is this server. HttpError 415 or 403 otherwise."""
    if not is_upload_type(content_type):
        raise HttpError(415, f"POST /api/locate needs Content-Type: application/octet-stream or audio/*, "
                             f"got {content_type[:80]!r}")
    _check_same_origin("/api/locate", origin, host)


def _check_same_origin(path: str, origin: str | None, host: str) -> None:
    if origin is not None and origin != f"http://{host}":
        raise HttpError(403, f"POST {path} from another page (Origin {origin[:80]!r}) is refused")


def content_length(values: Sequence[str]) -> int:
    """The one Content-Length among a request's ``values``, a plain decimal number; 411 without one,
    400 for anything else."""
    if not values:
        raise HttpError(411, "a POST needs a Content-Length")
    text = values[0].strip()
    if len(set(v.strip() for v in values)) > 1 or not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise HttpError(400, f"Content-Length must be one decimal number of bytes, got {', '.join(values)[:80]!r}")
    return int(text)


# ---- answers --------------------------------------------------------------------------------------
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


def wav_bytes(wave: Any, sample_rate: int, bits: int = 16) -> bytes:
    """A mono float wave ([L], -1..1, clipped) as a 16- or 24-bit PCM WAV file in memory."""
    import numpy as np
    import soundfile as sf

    mono = np.clip(np.asarray(wave, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, mono, int(sample_rate), subtype=_WAV_SUBTYPES[bits], format="WAV")
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


def to_json(value: Any) -> bytes:
    """``value`` as strict JSON bytes (numpy values and paths made plain; NaN refused)."""
    return json.dumps(value, default=_jsonable, allow_nan=False).encode()


class WebApp:
    """The web map's endpoints for ``controller`` (an ``osc_bridge.controller.Controller``) and
    its counters. Request threads call ``get``, ``osc`` and ``count`` at once; commands run one
    at a time (a dropped file is located beside them, one at a time). ``max_body`` is the most
    bytes a POST /api/osc body may have, ``max_upload`` those of a dropped file."""

    def __init__(self, controller: Any, *, max_body: int = MAX_BODY, max_upload: int = MAX_UPLOAD,
                 pads: int | None = None, files: dict[str, tuple[bytes, str]] | None = None) -> None:
        self.controller = controller
        self.engine = controller.engine
        self.max_body, self.max_upload = max_body, max_upload
        engine_config = getattr(getattr(self.engine, "config", None), "engine", None)
        self.pads = pads or int(getattr(engine_config, "pads", DEFAULT_PADS))
        self.files = static_files() if files is None else files
        self._execute_lock = threading.Lock()
        self._locate_lock = threading.Lock()  # the model's slow work: beside the quick commands, like OSC's
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("requests", "commands", "refused", "not_found", "internal_errors",
                                      "disconnects"), 0)

    # ---- counters ------------------------------------------------------------------------------
    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def counts(self) -> dict[str, int]:
        """requests, commands run, refused (4xx), not_found, internal_errors, disconnects."""
        with self._lock:
            return dict(self._counts)

    # ---- the endpoints ---------------------------------------------------------------------------
    def get(self, path: str, query: str) -> Answer:
        """The Answer to a GET of ``path``; HttpError for refusals."""
        if path == "/":
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path.startswith("/map/") and path.endswith(".png"):
            return Answer(200, self.map_image(path[len("/map/"):-len(".png")]), "image/png", False)
        if path == "/api/views":
            return Answer(200, to_json(self.views()), "application/json", True)
        if path == "/api/state":
            return Answer(200, to_json(self.state()), "application/json", True)
        if path == "/api/sound.wav":
            body, name = self.sound_file(query)
            return Answer(200, body, "audio/wav", True, (("Content-Disposition", f'attachment; filename="{name}"'),))
        raise HttpError(404, f"no such page: {path[:200]}")

    def _static(self, name: str) -> Answer:
        if name not in self.files:  # an allow-list: '..', escapes and absolute paths are never in it
            raise HttpError(404, f"no such file: /static/{name[:200]}")
        body, content_type = self.files[name]
        return Answer(200, body, content_type, False)

    def views(self) -> dict[str, Any]:
        """What ``/api/views`` answers: the views with their image URLs, classes, clip values, grid."""
        maps = self.engine.maps
        if maps is None:
            where = f" (looked for maps.json in {self.engine.maps_dir})" if self.engine.maps_dir else ""
            return {"views": [], "classes": [], "feature_clip": {}, "feature_units": {}, "feature_colors": {}, "grid": 0,
                    "max_upload": self.max_upload, "message": _NO_MAPS.format(where=where)}
        views = [{"name": v.name, "title": v.title, "kind": v.kind,
                  "image_url": "/map/" + urllib.parse.quote(v.name, safe="") + ".png"} for v in maps.views]
        return {"views": views, "classes": maps.classes, "feature_clip": maps.feature_clip,
                "feature_units": maps.feature_units, "feature_colors": maps.feature_colors, "grid": maps.grid,
                "max_upload": self.max_upload}

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
        """What ``/api/state`` answers: ``engine.state()`` plus the class and features at the cursor
        and, where the engine has a kit, each pad's point (``pads``: [[x, y], ...])."""
        state = dict(self.engine.state())
        state["cursor"] = [float(v) for v in state["cursor"]]
        state["info"] = self.engine.map_info()
        kit = getattr(self.engine, "kit", None)
        if callable(kit):
            state["pads"] = [[float(p.x), float(p.y)] for p in kit("").pads]
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
            # a slow command (a locate, the sound files) never holds up the clicks behind it
            with self._locate_lock if isinstance(cmd, SLOW) else self._execute_lock:
                replies = self.controller.execute(cmd)
        except OscError as exc:
            raise HttpError(400, str(exc)) from None
        except GesamError as exc:
            raise HttpError(400, f"{address}: {exc}") from None
        self.count("commands")
        return _plain_replies(replies)

    def locate(self, body: bytes, name: str | None = None, content_type: str = "application/octet-stream") -> dict[str, Any]:
        """Query by example on a dropped file (``body``; ``name``: its percent-encoded file name, for
        messages and its suffix): the ``Locate`` command on a private temporary copy, deleted after.
        Its point, class, nearest training sounds and replies; HttpError 400 with the reason for a
        file that is not audio, 413 beyond ``max_upload``, 503 while another file waits too long."""
        shown = display_name(name)
        if not body:
            raise HttpError(400, f"{shown} is empty (0 bytes); drop an audio file ({AUDIO_KINDS})")
        if len(body) > self.max_upload:
            raise HttpError(413, f"{shown} is {len(body)} bytes; at most {self.max_upload} are accepted")
        if not self._locate_lock.acquire(timeout=LOCATE_WAIT_S):
            raise HttpError(503, "another dropped file is still being located; try again in a moment")
        try:
            with private_copy(body, temp_suffix(name, content_type)) as path:
                try:
                    outcome = self.controller.run(Locate(str(path)))
                except GesamError as exc:
                    reason = str(exc).replace(f"{path}: ", "").replace(str(path), shown)
                    raise HttpError(400, f"cannot locate {shown}: {reason} (drop an audio file: {AUDIO_KINDS})") from None
        finally:
            self._locate_lock.release()
        self.count("commands")
        found = outcome.value
        return {"file": shown, "x": found["x"], "y": found["y"], "class": found["class"],
                "class_probability": found["class_probability"], "nearest": found["nearest"],
                "replies": _plain_replies(outcome.replies)}

    def sound_file(self, query: str) -> tuple[bytes, str]:
        """The WAV of what a trigger at ``?x=..&y=..`` plays now (``&bits=24`` for 24-bit, 16 by
        default) and the file name to save it as, ``gesam_<x>_<y>.wav``."""
        try:
            fields = urllib.parse.parse_qs(query, keep_blank_values=True, strict_parsing=True, max_num_fields=8)
        except ValueError:
            fields = {}
        xy = self._point(fields)
        bits = fields.get("bits", ["16"])
        if len(bits) != 1 or bits[0] not in ("16", "24"):
            raise HttpError(400, f"/api/sound.wav: bits must be 16 or 24, got {', '.join(bits)[:40]!r}")
        try:
            wave, _ = self.engine.sound_for((xy[0], xy[1]))
        except GesamError as exc:
            raise HttpError(503, str(exc)) from None
        x, y = (min(max(v, 0.0), 1.0) + 0.0 for v in xy)  # + 0.0: never "-0.000" in the name
        return wav_bytes(wave, self.engine.sample_rate, int(bits[0])), f"gesam_{x:.3f}_{y:.3f}.wav"

    def sound(self, query: str) -> bytes:
        """The WAV of what a trigger at ``?x=..&y=..`` plays now (see ``sound_file``)."""
        return self.sound_file(query)[0]

    @staticmethod
    def _point(fields: dict[str, list[str]]) -> list[float]:
        """The finite x and y of a query's fields; HttpError 400 otherwise."""
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
        return xy


def _plain_replies(replies: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
    """OSC replies as JSON lists, numpy scalars made plain."""
    return [[a, [v.item() if hasattr(v, "item") else v for v in vals]] for a, vals in replies]
