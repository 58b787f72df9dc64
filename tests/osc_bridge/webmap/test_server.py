"""The web map over real HTTP (urllib) on port 0, with a real Engine (tiny model, WAV output) and
a small maps folder written here (4 x 4 grid, one class per quadrant, two features, t-SNE)."""

import contextlib
import dataclasses
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.maps.maps_file import MapsFile, View, write_maps_file
from osc_bridge.controller import Controller
from osc_bridge.webmap.app import host_name, is_loopback
from osc_bridge.webmap.server import WebMap, WebMapError
from tests.osc_bridge import ENGINE_CONFIG
from tests.waiting import wait_for

GRID = 4
# one class per quadrant: 0 bottom left, 1 bottom right, 2 top left, 3 top right (y up)
CLASSES = [{"name": "kick", "color": "#d62728"}, {"name": "snare", "color": "#1f77b4"},
           {"name": "hihat", "color": "#2ca02c"}, {"name": "clap", "color": "#ff7f0e"}]
FEATURE_CLIP = {"centroid": [1000.0, 4000.0], "loudness": [-40.0, -10.0]}
VIEW_NAMES = ["class", "centroid", "loudness", "tsne"]
TITLES, KINDS = {"class": "class", "tsne": "t-SNE"}, {"class": "class", "tsne": "tsne"}  # the rest: features
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy for 127.0.0.1


# ---- a maps folder and an engine that reads it ------------------------------------------------------
def quadrant(x: float, y: float) -> int:
    """The class index the test maps give the point (x, y)."""
    return int(x >= 0.5) + 2 * int(y >= 0.5)


def _cell_colours(grid: int) -> dict[str, np.ndarray]:
    """view name -> [grid, grid, 3] uint8 colours per cell, row 0 at the bottom."""
    cols, rows = np.meshgrid(np.arange(grid), np.arange(grid))
    t_x, t_y = cols / (grid - 1), rows / (grid - 1)
    klass = np.array([[int(CLASSES[quadrant((c + 0.5) / grid, (r + 0.5) / grid)]["color"][i:i + 2], 16)
                       for i in (1, 3, 5)] for r in range(grid) for c in range(grid)]).reshape(grid, grid, 3)
    ramp = lambda t: np.stack([255 * t, 60 + 0 * t, 255 * (1 - t)], axis=-1)  # noqa: E731 - blue -> red
    return {"class": klass.astype(np.uint8), "centroid": ramp(t_x).astype(np.uint8),
            "loudness": ramp(t_y).astype(np.uint8),
            "tsne": np.stack([255 * t_x, 255 * t_y, 128 + 0 * t_x], axis=-1).astype(np.uint8)}


def write_test_maps(directory: Path, weights: dict[str, str], grid: int = GRID, size: int = 128) -> MapsFile:
    """A maps folder like `gesam maps` writes: maps.json, <view>.png and plain/<view>.png (y up)."""
    from PIL import Image

    cells = [(c, r) for r in range(grid) for c in range(grid)]  # grid order: index = row * grid + col
    class_ids = [quadrant((c + 0.5) / grid, (r + 0.5) / grid) for c, r in cells]
    maps = MapsFile(
        grid=grid, weights=weights,
        views=[View(n, TITLES.get(n, n), KINDS.get(n, "feature"), f"{n}.png", f"plain/{n}.png") for n in VIEW_NAMES],
        classes=CLASSES, class_source="training labels", class_ids=class_ids,
        class_colors=[CLASSES[k]["color"] for k in class_ids],
        features={"centroid": [1000.0 + 1000.0 * c for c, _ in cells],
                  "loudness": [-40.0 + 10.0 * r for _, r in cells]},
        feature_units={"centroid": "Hz", "loudness": "LUFS"}, feature_clip=FEATURE_CLIP,
        feature_colors={"centroid": ["#0000ff", "#ff0000"], "loudness": ["#0000ff", "#ff0000"]},
        tsne_rgb=[[c / (grid - 1), r / (grid - 1), 0.5] for c, r in cells],
    )
    (directory / "plain").mkdir(parents=True, exist_ok=True)
    rows = ((grid * (size - 1 - np.arange(size))) // size)  # picture row 0 is the top: the highest y
    cols = (grid * np.arange(size)) // size
    for name, colours in _cell_colours(grid).items():
        picture = Image.fromarray(colours[rows][:, cols])
        picture.save(directory / "plain" / f"{name}.png")
        picture.save(directory / f"{name}.png")
    write_maps_file(directory, maps)
    return maps


def make_maps_engine(directory: Path) -> Any:
    """A started Engine (tiny model, 3x3 bake, WAV output) whose maps folder is ``directory/maps``."""
    from gesam_engine.maps.map_bake import weights_id
    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import serve_config_from_dict
    from tests.tiny import tiny_model

    model = tiny_model(0.3)
    # how its (imagined) training sounds were prepared: what /gesam/locate prepares a file like
    model.card["settings"] = {"preprocess": {"sample_rate": model.codec.sample_rate, "duration_s": 0.3}}
    write_test_maps(directory / "maps", weights_id(model, sound_only=False))
    engine = Engine(model, serve_config_from_dict(ENGINE_CONFIG), output_file=directory / "out.wav", realtime=True,
                    cache_dir=directory / "cache", progress=False, maps_dir=directory / "maps").start()
    assert engine.maps is not None, "the test maps were not accepted"
    return engine


# ---- HTTP ---------------------------------------------------------------------------------------
class Reply(NamedTuple):
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        assert self.headers["Content-Type"] == "application/json", self.headers["Content-Type"]
        return json.loads(self.body)


def fetch(web: WebMap, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
          method: str | None = None) -> Reply:
    """One request with ``path`` sent exactly as given (urllib does not normalise '..' or escapes)."""
    host, port = web.address
    request = urllib.request.Request(f"http://{host}:{port}{path}", data=body, headers=headers or {}, method=method)
    try:
        with _OPENER.open(request, timeout=20) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read())


def post_osc(web: WebMap, address: str, *args: Any) -> Reply:
    body = json.dumps({"address": address, "args": list(args)}).encode()
    return fetch(web, "/api/osc", body, {"Content-Type": "application/json"})


def played(engine: Any) -> int:
    """Triggers whose sound reached the output."""
    return engine.metrics()["trigger_latency_ms"]["count"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    e = make_maps_engine(tmp_path_factory.mktemp("web_engine"))
    yield e
    e.stop()


@pytest.fixture
def web(engine: Any, tmp_path: Path) -> Iterator[WebMap]:
    w = WebMap(Controller(engine, tmp_path / "renders"), port=0).start()
    yield w
    w.stop()


# ---- the page -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "content_type", "needle"), [
    ("/", "text/html; charset=utf-8", b'<script src="/static/app.js"></script>'),
    ("/static/index.html", "text/html; charset=utf-8", b'<select id="view"'),
    ("/static/app.js", "text/javascript; charset=utf-8", b'fetch("/api/osc"'),
    ("/static/style.css", "text/css; charset=utf-8", b"#map"),
])
def test_the_page_and_its_files_are_served(web: WebMap, path: str, content_type: str, needle: bytes) -> None:
    r = fetch(web, path)
    assert r.status == 200 and r.headers["Content-Type"] == content_type and needle in r.body
    assert r.headers["Cache-Control"] == "no-cache" and int(r.headers["Content-Length"]) == len(r.body)


def test_the_page_fetches_nothing_from_the_internet(web: WebMap) -> None:
    for name in web.files:
        text = fetch(web, f"/static/{name}").body.decode()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


@pytest.mark.parametrize("path", [
    "/static/../controller.py", "/static/%2e%2e/controller.py", "/static/%2e%2e/%2e%2e/gesam_engine/errors.py",
    "/static/..%2fcontroller.py", "/static//etc/passwd", "/static/controller.py", "/static/__init__.py", "/static/",
    "/static/.", "/static/index.html/", "/static/INDEX.HTML", "/map/../../model.json", "/map/../maps.json",
    "/map/../class.png", "/map/..%2fclass.png", "/map/%2e%2e/%2e%2e/x.png", "/map/nope.png", "/map/class",
    "/map/plain/class.png", "/map//etc/passwd.png", "/etc/passwd", "/api/", "/api/osc", "/..", "//etc/passwd",
    "/static/app.js%00.png",
])
def test_escapes_and_unknown_paths_are_404_and_the_server_goes_on(web: WebMap, path: str) -> None:
    r = fetch(web, path)
    assert r.status == 404, (path, r.body[:200])
    assert "error" in r.json()
    assert fetch(web, "/").status == 200
    assert web.stats()["internal_errors"] == 0


def test_a_view_whose_image_leaves_the_maps_folder_is_404(web: WebMap, engine: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    link = Path(engine.maps_dir) / "plain" / "evil.png"
    link.symlink_to(outside)
    try:
        maps = dataclasses.replace(engine.maps, views=engine.maps.views + [View("evil", "evil", "feature", "evil.png",
                                                                               "plain/evil.png")])
        monkeypatch.setattr(engine, "maps", maps)
        r = fetch(web, "/map/evil.png")
        assert r.status == 404 and b"secret" not in r.body
    finally:
        link.unlink()


# ---- the maps ---------------------------------------------------------------------------------------
def test_views_list_every_view_with_its_image(web: WebMap, engine: Any) -> None:
    r = fetch(web, "/api/views")
    data = r.json()
    assert r.headers["Cache-Control"] == "no-store"
    assert [v["name"] for v in data["views"]] == VIEW_NAMES
    assert [v["kind"] for v in data["views"]] == ["class", "feature", "feature", "tsne"]
    assert data["classes"] == CLASSES and data["grid"] == GRID and data["feature_clip"] == FEATURE_CLIP
    assert "message" not in data
    for view in data["views"]:
        image = fetch(web, view["image_url"])
        assert image.status == 200 and image.headers["Content-Type"] == "image/png"
        assert image.body == (Path(engine.maps_dir) / "plain" / f"{view['name']}.png").read_bytes()


def test_without_maps_the_views_say_how_to_make_them(web: WebMap, engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "maps", None)
    data = fetch(web, "/api/views").json()
    assert data["views"] == [] and data["classes"] == [] and data["grid"] == 0
    assert "gesam maps --model DIR" in data["message"]
    assert fetch(web, "/map/class.png").status == 404
    assert fetch(web, "/api/state").json()["info"] is None


# ---- state and commands ----------------------------------------------------------------------------
def test_play_moves_the_cursor_triggers_and_the_state_shows_the_class(web: WebMap, engine: Any) -> None:
    before = played(engine)
    r = post_osc(web, "/gesam/play", 0.8, 0.2, 0.9)
    assert r.status == 200, r.body
    assert r.headers["Cache-Control"] == "no-store"
    replies = r.json()["replies"]
    assert replies[0] == ["/gesam/state/xy", [0.8, 0.2]]  # then whatever else OSC answers a play with
    assert dict(replies).get("/gesam/state/class", ["snare", CLASSES[1]["color"]]) == ["snare", CLASSES[1]["color"]]
    assert engine.cursor == (0.8, 0.2)
    wait_for(lambda: played(engine) > before)  # the trigger's sound reached the output
    state = fetch(web, "/api/state").json()
    assert state["cursor"] == [0.8, 0.2] and isinstance(state["ready"], bool)
    assert state["output"] == "running"
    assert state["info"]["class"] == {"name": "snare", "color": CLASSES[1]["color"]}
    assert state["info"]["features"] == {"centroid": 4000.0, "loudness": -40.0}
    assert web.stats()["commands"] == 1


def test_the_web_path_is_the_osc_path(web: WebMap, engine: Any) -> None:
    assert post_osc(web, "/gesam/ping").json() == {"replies": [["/gesam/pong", []]]}
    assert post_osc(web, "/gesam/xy", 2, -1).json()["replies"][0] == ["/gesam/state/xy", [1.0, 0.0]]  # clamped
    before = played(engine)
    assert post_osc(web, "/gesam/trigger").json() == {"replies": []}
    wait_for(lambda: played(engine) > before)
    assert fetch(web, "/api/state").json()["info"]["class"]["name"] == "snare"


_JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("body", "headers", "status", "reason"), [
    (b"not json", _JSON, 400, "must be JSON"),
    (b"[" * 60_000, _JSON, 400, "must be JSON"),  # nested too deep for the decoder
    (b"\xff\xfe", _JSON, 400, "must be JSON"),
    (b"[0.5, 0.5]", _JSON, 400, "JSON object with an \"address\""),
    (b'{"args": [0.5, 0.5]}', _JSON, 400, "JSON object with an \"address\""),
    (b'{"address": "/gesam/play", "args": "0.5 0.5"}', _JSON, 400, "\"args\" must be a list"),
    (b'{"address": "/gesam/play", "args": [null, 0.5]}', _JSON, 400, "\"args\" must be a list"),
    (b'{"address": "/gesam/nope", "args": []}', _JSON, 400, "unknown address '/gesam/nope'"),
    (b'{"address": "/gesam/play", "args": [NaN, 0.5]}', _JSON, 400, "x must be a finite number"),
    (b'{"address": "/gesam/play", "args": [0.5, Infinity]}', _JSON, 400, "y must be a finite number"),
    (b'{"address": "/gesam/play", "args": [0.5]}', _JSON, 400, "/gesam/play expects 2 or 3 numbers"),
    (b'{"address": "/gesam/xy", "args": ["a", 0.5]}', _JSON, 400, "x must be a number"),
    (b'{"address": "/gesam/gain", "args": [9]}', _JSON, 400, "gain must be in 0..4"),
    (b'{"address": "/gesam/fx/reverb/mix", "args": [0.5]}', _JSON, 400, "/gesam/fx/reverb/mix: no effects"),
    (b'{"address": "/gesam/render", "args": [0.5, 0.5, "../x.wav"]}', _JSON, 400, "must stay inside the render"),
    (b'{"address": "/gesam/play", "args": [0.1, 0.1]}', {"Content-Type": "text/plain"}, 415, "application/json"),
    (b'{"address": "/gesam/play", "args": [0.1, 0.1]}', {**_JSON, "Origin": "http://evil.example"}, 403, "Origin"),
    (b'{"address": "/gesam/play", "args": [0.1, 0.1]}', {**_JSON, "Host": "evil.example:8765"}, 403, "loopback"),
    (b'{"address": "/gesam/play", "args": [0.1, 0.1, ' + b"0" * 70_000 + b"]}", _JSON, 413, "at most 65536"),
])
def test_a_refused_command_says_why_and_changes_nothing(web: WebMap, engine: Any, body: bytes,
                                                        headers: dict[str, str], status: int, reason: str) -> None:
    assert post_osc(web, "/gesam/xy", 0.3, 0.6).status == 200
    r = fetch(web, "/api/osc", body, headers)
    assert r.status == status, r.body
    assert reason in r.json()["error"], r.json()
    assert engine.cursor == (0.3, 0.6)
    s = web.stats()
    assert s["commands"] == 1 and s["refused"] == 1 and s["internal_errors"] == 0
    assert post_osc(web, "/gesam/ping").status == 200  # the server goes on


@pytest.mark.reliability
@pytest.mark.parametrize(("args", "reason"), [
    (b"1" * 5000, "must be JSON"),  # Python's int-from-text limit (4,300 digits) raises ValueError
    (b"9" * 400, "must fit in 64 bits"),  # float() of it would overflow
    (b"-" + b"9" * 20, "must fit in 64 bits"),
])
def test_a_huge_json_integer_is_400_not_500(web: WebMap, args: bytes, reason: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    r = fetch(web, "/api/osc", b'{"address": "/gesam/gain", "args": [' + args + b"]}", _JSON)
    assert r.status == 400 and reason in r.json()["error"], r.body[:300]
    assert len(r.body) < 600  # the number is not echoed back
    assert web.stats()["internal_errors"] == 0
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]  # no traceback on the console


@pytest.mark.reliability
@pytest.mark.parametrize("length", [b"-1", b"abc", b"\xb2", b"1e3", b"0x10", b"+5", b"9" * 5000, b"5, 6",
                                    b"5\r\nContent-Length: 6"])
def test_a_bad_content_length_is_400_not_500(web: WebMap, length: bytes, caplog: pytest.LogCaptureFixture) -> None:
    request = (b"POST /api/osc HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + length + b"\r\n\r\n" + b'{"address": "/gesam/ping"}')
    with socket.create_connection(web.address, timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = _read_all(conn)
    assert answer.startswith(b"HTTP/1.0 400"), answer[:300]
    assert b"Content-Length must be one decimal number of bytes" in answer
    assert web.stats()["internal_errors"] == 0 and web.stats()["commands"] == 0
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


@pytest.mark.reliability
@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/views", "/api/state", "/api/sound.wav?x=0.5&y=0.5",
                                  "/map/class.png", "/nope"])
def test_every_request_must_name_a_loopback_host(web: WebMap, path: str) -> None:
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 reads nothing."""
    for method in ("GET", "HEAD"):
        r = fetch(web, path, headers={"Host": f"evil.example:{web.address[1]}"}, method=method)
        assert r.status == 403, (method, path, r.status)
        if method == "GET":
            assert "loopback name" in r.json()["error"] and b"RIFF" not in r.body and b"PNG" not in r.body
    with socket.create_connection(web.address, timeout=10) as conn:  # no Host at all
        conn.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        assert _read_all(conn).startswith(b"HTTP/1.0 403")
    for host in ("localhost", f"127.0.0.1:{web.address[1]}", "[::1]:80"):
        assert fetch(web, "/api/views", headers={"Host": host}).status == 200, host
    assert web.stats()["internal_errors"] == 0


def _read_all(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (headers and body may come apart)."""
    chunks = []
    while chunk := conn.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_post_elsewhere_and_without_a_length_is_refused(web: WebMap) -> None:
    assert fetch(web, "/api/state", b"{}", _JSON).status == 404
    assert fetch(web, "/", b"{}", _JSON).status == 405
    head = b"POST /api/osc HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    with socket.create_connection(web.address, timeout=10) as conn:
        conn.sendall(head + b"\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.0 411")
    with socket.create_connection(web.address, timeout=10) as conn:  # a body cut short
        conn.sendall(head + b"Content-Length: 100\r\n\r\n" + b'{"address": "/gesam/pl')
        conn.shutdown(socket.SHUT_WR)
        answer = _read_all(conn)
        assert answer.startswith(b"HTTP/1.0 400") and b"the body ended after 22 of its 100 bytes" in answer
    assert web.stats()["internal_errors"] == 0


def test_garbage_on_the_socket_is_answered_and_the_server_goes_on(web: WebMap) -> None:
    for junk in (b"\x00\x01\x02 garbage\r\n\r\n", b"GET /" + b"a" * 70_000 + b" HTTP/1.0\r\n\r\n", b""):
        with socket.create_connection(web.address, timeout=10) as conn:
            conn.sendall(junk)
            conn.shutdown(socket.SHUT_WR)
            with contextlib.suppress(ConnectionResetError):  # the server may close with bytes unread
                conn.recv(200)
    assert fetch(web, "/").status == 200
    assert web.stats()["internal_errors"] == 0


class _Broken:
    """A controller with a bug: every command raises."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def execute(self, cmd: Any) -> list:
        raise RuntimeError("a bug")


def test_an_unexpected_exception_is_counted_answered_and_survived(engine: Any) -> None:
    with WebMap(_Broken(engine), port=0) as web:
        r = post_osc(web, "/gesam/ping")
        assert r.status == 500 and "internal error" in r.json()["error"] and "RuntimeError: a bug" in r.json()["error"]
        assert fetch(web, "/").status == 200
        assert web.stats()["internal_errors"] == 1


class _Overlap:
    """A controller that records how many executes ever ran at once."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.active, self.most, self.done = engine, 0, 0, 0
        self.lock = threading.Lock()

    def execute(self, cmd: Any) -> list:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.002)
        with self.lock:
            self.active -= 1
            self.done += 1
        return []


def test_commands_run_one_at_a_time(engine: Any) -> None:
    controller = _Overlap(engine)
    with WebMap(controller, port=0) as web:
        threads = [threading.Thread(target=lambda: [post_osc(web, "/gesam/xy", 0.5, 0.5) for _ in range(5)])
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert controller.done == 40 and controller.most == 1


# ---- sounds -------------------------------------------------------------------------------------------
def test_the_sound_of_a_point_is_a_wav_the_browser_can_play(web: WebMap, engine: Any) -> None:
    r = fetch(web, "/api/sound.wav?x=0.25&y=0.75")
    assert r.status == 200 and r.headers["Content-Type"] == "audio/wav" and r.headers["Cache-Control"] == "no-store"
    wave, rate = sf.read(io.BytesIO(r.body), dtype="float32")
    assert rate == engine.sample_rate and wave.ndim == 1
    expected, _ = engine.sound_for((0.25, 0.75))
    assert len(wave) == len(expected) and np.abs(wave).max() > 1e-3
    assert np.abs(wave - np.clip(expected, -1, 1)).max() < 2 / 2**15  # 16-bit PCM of that sound
    assert r.headers["Content-Disposition"] == 'attachment; filename="gesam_0.250_0.750.wav"'  # saved, when dragged out
    r = fetch(web, "/api/sound.wav?x=0.25&y=0.75&bits=24")
    assert r.status == 200 and sf.info(io.BytesIO(r.body)).subtype == "PCM_24"


@pytest.mark.parametrize("query", ["", "?", "?x=0.5", "?y=0.5", "?x=nan&y=0.5", "?x=0.5&y=inf", "?x=a&y=0.5",
                                   "?x=0.5&x=0.6&y=0.1", "?x=&y=0.5", "?x=0.5&y=0.5&"])
def test_a_sound_without_a_finite_point_is_400(web: WebMap, query: str) -> None:
    r = fetch(web, "/api/sound.wav" + query)
    assert r.status == 400 and "finite numbers" in r.json()["error"], (query, r.body)


# ---- a dropped file: POST /api/locate -------------------------------------------------------------------
HYDROGEN_KIT = Path("/usr/share/hydrogen/data/drumkits/Audiophob")


def post_file(web: WebMap, body: bytes, name: str, content_type: str = "audio/wav",
              origin: str | None = None) -> Reply:
    headers = {"Content-Type": content_type, "X-File-Name": urllib.parse.quote(name)}
    if origin is not None:
        headers["Origin"] = origin
    return fetch(web, "/api/locate", body, headers)


@pytest.mark.skipif(not HYDROGEN_KIT.is_dir(), reason="Debian's hydrogen-drumkits is not installed")
def test_a_dropped_file_lands_where_the_locate_command_puts_it(web: WebMap, engine: Any) -> None:
    from osc_bridge.commands import Locate

    wav = sorted(HYDROGEN_KIT.glob("*.wav"))[0]
    host, port = web.address
    engine.move(0.5, 0.5)
    r = post_file(web, wav.read_bytes(), wav.name, origin=f"http://{host}:{port}")
    found = r.json()
    assert r.status == 200, found
    expected = Controller(engine).run(Locate(str(wav))).value  # the same file by OSC's path
    assert (found["x"], found["y"], found["class"]) == (expected["x"], expected["y"], expected["class"])
    assert found["class"] in ("kick", "snare") and found["file"] == repr(wav.name)
    engine.move(0.5, 0.5)
    r = post_file(web, wav.read_bytes(), wav.name, "application/octet-stream")  # no Origin (curl), no audio type
    assert r.status == 200 and tuple(engine.cursor) == pytest.approx((found["x"], found["y"]), abs=1e-6)
    assert ["/gesam/state/xy", list(engine.cursor)] in r.json()["replies"]


def test_a_dropped_file_that_is_not_audio_is_a_400_and_moves_nothing(web: WebMap, engine: Any) -> None:
    cursor = engine.cursor
    r = post_file(web, b"%PDF-1.4 not a sound", "score.wav")
    assert r.status == 400 and r.json()["error"].startswith("cannot locate 'score.wav': cannot decode")
    assert engine.cursor == cursor and web.stats()["internal_errors"] == 0


def test_a_dropped_file_is_refused_from_another_page_or_as_a_form(web: WebMap, engine: Any) -> None:
    cursor = engine.cursor
    assert post_file(web, b"RIFF", "a.wav", origin="http://evil.example").status == 403
    assert post_file(web, b"RIFF", "a.wav", "text/plain").status == 415
    assert post_file(web, b"RIFF", "a.wav", "multipart/form-data; boundary=x").status == 415
    assert engine.cursor == cursor


def test_a_dropped_file_over_the_limit_is_a_413_before_it_is_read(engine: Any) -> None:
    with WebMap(Controller(engine), port=0, max_upload=100_000) as web:
        r = post_file(web, b"\0" * 100_001, "big.wav")  # a little over: read and dropped, then answered
        assert r.status == 413 and r.json()["error"] == "the dropped file is 100001 bytes; at most 100000 are accepted"
        head = (b"POST /api/locate HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
                b"Content-Length: 999999999\r\n\r\n")  # far over: answered without waiting for the body
        with socket.create_connection(web.address, timeout=10) as conn:
            conn.sendall(head)
            assert _read_all(conn).startswith(b"HTTP/1.0 413")
        body = b"RIFF" + b"\0" * 99_996  # at the limit: read (past what the accept thread gathers) and located
        r = post_file(web, body, "zeros.wav")
        assert r.status == 400 and "cannot locate 'zeros.wav'" in r.json()["error"]
        assert web.stats()["internal_errors"] == 0


# ---- binding and serve ---------------------------------------------------------------------------------
def test_a_port_in_use_is_one_clear_error(engine: Any) -> None:
    with WebMap(Controller(engine), port=0) as first:
        second = WebMap(Controller(engine), port=first.address[1])
        with pytest.raises(WebMapError, match="already in use.*--web-port"):
            second.bind()
    with pytest.raises(WebMapError, match="cannot serve the web map on no-such-host.invalid"):
        WebMap(Controller(engine), host="no-such-host.invalid", port=0).bind()


def test_serve_options_make_a_bound_web_map(engine: Any, tmp_path: Path) -> None:
    from gesam_engine.cli.main import build_parser
    from gesam_engine.cli.serve_cmd import check_maps_dir, make_web_map
    from gesam_engine.errors import GesamError

    parser = build_parser()
    defaults = parser.parse_args(["serve"])
    assert (defaults.web, defaults.web_host, defaults.web_port, defaults.maps) == (False, "127.0.0.1", 8765, None)
    assert make_web_map(defaults, Controller(engine)) is None
    web = make_web_map(parser.parse_args(["serve", "--web", "--web-port", "0"]), Controller(engine))
    assert web is not None
    try:
        assert web.address[0] == "127.0.0.1" and web.address[1] > 0  # bound, before anything starts
    finally:
        web.stop()
    with pytest.raises(GesamError, match="--web-port must be in 0..65535, got 70000"):
        make_web_map(parser.parse_args(["serve", "--web", "--web-port", "70000"]), Controller(engine))
    check_maps_dir(None)
    check_maps_dir(Path(engine.maps_dir))
    with pytest.raises(GesamError, match="has no maps.json; make it with `gesam maps"):
        check_maps_dir(tmp_path)


def test_hosts() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.168.1.2", "evil.example", "", "localhost.evil.example"]))
    assert [host_name(h) for h in ["localhost:8765", "127.0.0.1", "[::1]:80", "::1"]] == ["localhost", "127.0.0.1",
                                                                                         "::1", "::1"]


def test_the_bridge_never_imports_torch_or_the_runtime() -> None:
    code = ("import sys, osc_bridge.webmap.server; "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('gesam_engine.runtime')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _serve(model_dir: Path, tmp_path: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir), "--osc-port", "0",
           "--cache", str(tmp_path / "cache"), "--device", "no-such-device", "--web", *extra]
    env = {**os.environ, "NO_PROXY": "*"}
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


@pytest.mark.slow
@pytest.mark.e2e
def test_gesam_serve_web_serves_the_maps_and_plays(tmp_path: Path) -> None:
    from gesam_engine.gesam_model import GesamModel
    from gesam_engine.maps.map_bake import weights_id
    from tests.tiny import tiny_model

    model_dir = tmp_path / "model"
    tiny_model(0.3).save(model_dir)
    write_test_maps(tmp_path / "maps", weights_id(GesamModel.load(model_dir, "cpu"), sound_only=False))
    proc = _serve(model_dir, tmp_path, "--web-port", "0", "--maps", str(tmp_path / "maps"))
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("web map on "):
                break
        url = lines[-1].split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/"), lines
        with _OPENER.open(url + "api/views", timeout=20) as r:
            assert [v["name"] for v in json.load(r)["views"]] == VIEW_NAMES
        play = json.dumps({"address": "/gesam/play", "args": [0.2, 0.9]}).encode()
        request = urllib.request.Request(url + "api/osc", play, _JSON)
        with _OPENER.open(request, timeout=20) as r:
            assert json.load(r)["replies"][0] == ["/gesam/state/xy", [0.2, 0.9]]
        with _OPENER.open(url + "api/state", timeout=20) as r:
            assert json.load(r)["info"]["class"]["name"] == "hihat"
        out, _ = proc.communicate("quit\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(lines) + out
    assert "Traceback" not in out


@pytest.mark.slow
@pytest.mark.e2e
def test_gesam_serve_web_on_a_port_in_use_fails_before_the_engine_starts(tmp_path: Path) -> None:
    from tests.tiny import tiny_model

    model_dir = tmp_path / "model"
    tiny_model(0.3).save(model_dir)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _serve(model_dir, tmp_path, "--web-port", str(port))
        out, _ = proc.communicate("", timeout=120)
    assert proc.returncode == 2, out
    assert out.strip().splitlines() == [f"gesam serve: error: web map port {port} on 127.0.0.1 is "
                                        "already in use (another gesam?); pass --web-port N (0 picks a free one)"]
    proc = _serve(model_dir, tmp_path, "--web-port", "0", "--maps", str(tmp_path / "nowhere"))
    out, _ = proc.communicate("", timeout=120)
    assert proc.returncode == 2 and "--maps" in out and "has no maps.json" in out, out
