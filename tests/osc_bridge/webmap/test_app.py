"""The web map's request handling without HTTP or a model: ``WebApp`` over a stand-in engine and
controller, and the header checks, by plain calls."""

from __future__ import annotations

import io
import json
import tempfile
import urllib.parse
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.errors import GesamError
from osc_bridge.commands import Gain, Move, Ping, Play
from osc_bridge.webmap.app import (
    HttpError, WebApp, check_host, check_origin, check_upload, content_length, static_files, to_json,
)
from osc_bridge.webmap.upload import AUDIO_SUFFIXES, display_name, temp_suffix
from tests.maps.test_locate import located_model  # noqa: F401 - a fixture: a tiny model trained on three real files

RATE = 16000


class FakeEngine:
    """The members the web app reads: maps, maps_dir, state, map_info, sound_for, sample_rate, config."""

    def __init__(self, maps_dir: Path | None = None, maps: Any = None, pads: int = 8) -> None:
        self.maps, self.maps_dir, self.sample_rate = maps, maps_dir, RATE
        self.config = SimpleNamespace(engine=SimpleNamespace(pads=pads))

    def state(self) -> dict[str, Any]:
        return {"cursor": (np.float32(0.25), 0.75), "ready": True, "output": "running"}

    def map_info(self) -> dict[str, Any] | None:
        return {"class": {"name": "kick", "color": "#d62728"}} if self.maps is not None else None

    def sound_for(self, xy: tuple[float, float]) -> tuple[np.ndarray, Any]:
        if xy[0] > 0.9:
            raise GesamError("the model is not ready")
        return np.full(100, 2.0 * xy[0] - 0.5, dtype=np.float32), None


class FakeController:
    """Records every command; Gain raises the engine's refusal; Ping answers with a numpy scalar."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine, self.done = engine, []

    def execute(self, cmd: Any) -> list[tuple[str, list[Any]]]:
        if isinstance(cmd, Gain):
            raise GesamError("the output is closed")
        self.done.append(cmd)
        return [("/gesam/pong", [np.float32(0.5), np.int64(3)])] if isinstance(cmd, Ping) else []


def make_maps(tmp_path: Path) -> SimpleNamespace:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "class.png").write_bytes(b"\x89PNG class")
    views = [SimpleNamespace(name="class", title="class", kind="class", image="plain/class.png"),
             SimpleNamespace(name="a b/c", title="odd", kind="feature", image="plain/missing.png"),
             SimpleNamespace(name="evil", title="evil", kind="feature", image="../secret.png")]
    return SimpleNamespace(views=views, classes=[{"name": "kick", "color": "#d62728"}], feature_clip={"rms": [0, 1]},
                           feature_units={"rms": ""}, feature_colors={"rms": ["#000000", "#ffffff"]}, grid=4)


@pytest.fixture
def app(tmp_path: Path) -> WebApp:
    engine = FakeEngine(tmp_path / "maps")
    (tmp_path / "maps").mkdir()
    engine.maps = make_maps(tmp_path / "maps")
    (tmp_path / "secret.png").write_bytes(b"\x89PNG secret")
    return WebApp(FakeController(engine))


def refusal(call: Any, *args: Any) -> tuple[int, str]:
    with pytest.raises(HttpError) as info:
        call(*args)
    return info.value.status, str(info.value)


def osc_body(address: str, *args: Any) -> bytes:
    return json.dumps({"address": address, "args": list(args)}).encode()


# ---- GET ------------------------------------------------------------------------------------------
def test_the_page_and_only_the_pages_files_are_served(app: WebApp) -> None:
    assert app.files == static_files() and "index.html" in app.files
    status, body, content_type, api, headers = app.get("/", "")
    assert (status, body, content_type, api, headers) == (200, app.files["index.html"][0], "text/html; charset=utf-8",
                                                         False, ())
    assert app.get("/static/app.js", "")[2] == "text/javascript; charset=utf-8"
    for path in ("/static/../app.py", "/static/__init__.py", "/static/", "/nope", "/api/nope"):
        assert refusal(app.get, path, "")[0] == 404, path


def test_views_list_the_maps_and_say_how_to_make_them_when_there_are_none(app: WebApp) -> None:
    status, body, content_type, api, _ = app.get("/api/views", "")
    data = json.loads(body)
    assert (status, content_type, api) == (200, "application/json", True)
    assert [v["image_url"] for v in data["views"]] == ["/map/class.png", "/map/a%20b%2Fc.png", "/map/evil.png"]
    assert data["grid"] == 4 and data["classes"] == [{"name": "kick", "color": "#d62728"}] and "message" not in data
    app.engine.maps = None
    data = app.views()
    assert data["views"] == [] and data["grid"] == 0
    assert data["message"].startswith(f"no maps for this model (looked for maps.json in {app.engine.maps_dir})")


def test_a_map_image_is_a_listed_view_inside_the_maps_folder(app: WebApp) -> None:
    assert app.get("/map/class.png", "") == (200, b"\x89PNG class", "image/png", False, ())
    assert refusal(app.map_image, "nope") == (404, "no map view named 'nope'")
    assert refusal(app.map_image, "a%20b%2Fc")[0] == 404  # listed, but its image is missing
    status, reason = refusal(app.map_image, "evil")  # listed, but its image leaves the maps folder
    assert status == 404 and "has no image" in reason


def test_the_state_is_plain_json_with_the_info_at_the_cursor(app: WebApp) -> None:
    state = json.loads(app.get("/api/state", "")[1])
    assert state == {"cursor": [0.25, 0.75], "ready": True, "output": "running",
                     "info": {"class": {"name": "kick", "color": "#d62728"}}}
    assert to_json({"p": Path("/x"), "t": (1, 2), "a": np.arange(2)}) == b'{"p": "/x", "t": [1, 2], "a": [0, 1]}'
    with pytest.raises(ValueError):
        to_json(float("nan"))  # strict JSON, never NaN


def test_a_sound_is_a_16_bit_wav_of_a_finite_point(app: WebApp) -> None:
    status, body, content_type, _, _ = app.get("/api/sound.wav", "x=0.5&y=0.5")
    wave, rate = sf.read(io.BytesIO(body), dtype="float32")
    assert (status, content_type, rate, len(wave)) == (200, "audio/wav", RATE, 100)
    assert np.abs(wave - 0.5).max() < 2 / 2**15
    assert np.abs(sf.read(io.BytesIO(app.sound("x=0.8&y=0")), dtype="float32")[0]).max() <= 1.0  # clipped
    for query in ("", "x=0.5", "x=nan&y=0.5", "x=0.5&x=0.6&y=0.1", "x=a&y=0.5", "x=0.5&y=0.5&"):
        status, reason = refusal(app.sound, query)
        assert status == 400 and "finite numbers" in reason, query
    assert refusal(app.sound, "x=0.95&y=0.5") == (503, "the model is not ready")


# ---- POST /api/osc --------------------------------------------------------------------------------
def test_a_command_takes_the_osc_parser_and_the_controller(app: WebApp) -> None:
    assert app.osc(osc_body("/gesam/xy", 0.5, 1)) == []
    assert app.osc(osc_body("/gesam/ping")) == [["/gesam/pong", [0.5, 3]]]  # numpy scalars made plain
    assert app.osc(osc_body("/gesam/play", 0.1, 0.2, 0.3)) == []
    assert app.controller.done == [Move(0.5, 1.0), Ping(), Play(0.1, 0.2, pytest.approx(0.3))]
    assert app.counts()["commands"] == 3


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json", "the body must be JSON like"),
    (b"\xff", "the body must be JSON like"),
    (b"[1]", "a JSON object with an \"address\" string"),
    (b'{"address": 7}', "a JSON object with an \"address\" string"),
    (b'{"address": "/gesam/xy", "args": {"x": 1}}', "\"args\" must be a list of numbers"),
    (b'{"address": "/gesam/xy", "args": [[1], 2]}', "\"args\" must be a list of numbers"),
    (b'{"address": "/gesam/gain", "args": [' + b"9" * 30 + b"]}", "must fit in 64 bits"),
    (b'{"address": "/gesam/nope", "args": []}', "unknown address '/gesam/nope'"),
    (b'{"address": "/gesam/pad/9/trigger", "args": []}', "pad"),  # beyond the engine's 8 pads
    (b'{"address": "/gesam/gain", "args": [1.0]}', "/gesam/gain: the output is closed"),  # the engine's refusal
])
def test_a_refused_command_is_a_400_with_the_reason_and_runs_nothing(app: WebApp, body: bytes, reason: str) -> None:
    status, text = refusal(app.osc, body)
    assert status == 400 and reason in text, text
    assert app.controller.done == [] and app.counts()["commands"] == 0


# ---- header checks ----------------------------------------------------------------------------------
def test_on_loopback_only_a_loopback_host_may_ask() -> None:
    for header in ("localhost:8765", "127.0.0.1", "[::1]:80", "LOCALHOST"):
        check_host("127.0.0.1", header)
    for header in ("evil.example:8765", "", "localhost.evil.example"):
        assert refusal(check_host, "127.0.0.1", header)[0] == 403, header
    check_host("0.0.0.0", "my-laptop.local:8765")  # not bound to loopback: any name


def test_a_post_must_be_json_from_the_page_itself() -> None:
    check_origin("application/json", None, "127.0.0.1:8765")
    check_origin("application/json", "http://127.0.0.1:8765", "127.0.0.1:8765")
    assert refusal(check_origin, "text/plain", None, "127.0.0.1:8765")[0] == 415
    assert refusal(check_origin, "application/json", "http://evil.example", "127.0.0.1:8765")[0] == 403


def test_content_length_is_one_plain_decimal_number() -> None:
    assert content_length(["12"]) == 12 and content_length([" 7 ", "7"]) == 7
    assert refusal(content_length, [])[0] == 411
    for values in (["-1"], ["1e3"], ["+5"], ["١٢"], ["5", "6"], ["1" * 13], [""]):
        assert refusal(content_length, values)[0] == 400, values


def test_counters_count_from_any_request() -> None:
    app = WebApp(FakeController(FakeEngine()), files={"index.html": (b"<html>", "text/html; charset=utf-8")})
    app.count("requests")
    app.count("refused", 2)
    assert app.counts() == {"requests": 1, "commands": 0, "refused": 2, "not_found": 0, "internal_errors": 0,
                            "disconnects": 0}
    assert app.pads == 8 and WebApp(FakeController(FakeEngine()), pads=3).pads == 3


# ---- sounds out: drag and download -------------------------------------------------------------------
def test_a_sound_downloads_as_a_named_attachment_16_or_24_bit(app: WebApp) -> None:
    answer = app.get("/api/sound.wav", "x=0.25&y=0.7")
    assert answer.headers == (("Content-Disposition", 'attachment; filename="gesam_0.250_0.700.wav"'),)
    assert sf.info(io.BytesIO(answer.body)).subtype == "PCM_16"
    body, name = app.sound_file("x=-0.0&y=1.5&bits=24")  # the name says the point the engine plays: clamped
    assert name == "gesam_0.000_1.000.wav"
    info = sf.info(io.BytesIO(body))
    assert (info.subtype, info.samplerate, info.frames) == ("PCM_24", RATE, 100)
    wave16 = sf.read(io.BytesIO(app.sound("x=0.3&y=0.5")), dtype="float64")[0]
    wave24 = sf.read(io.BytesIO(app.sound_file("x=0.3&y=0.5&bits=24")[0]), dtype="float64")[0]
    assert np.abs(wave24 - 0.1).max() < 2 / 2**23 < np.abs(wave16 - 0.1).max()  # 24 bits are finer
    for query in ("x=0.5&y=0.5&bits=8", "x=0.5&y=0.5&bits=24&bits=16", "x=0.5&y=0.5&bits="):
        status, reason = refusal(app.sound_file, query)
        assert status == 400 and "bits must be 16 or 24" in reason, query


# ---- pads in the state -----------------------------------------------------------------------------
def test_the_state_shows_each_pads_point_when_the_engine_has_a_kit(app: WebApp) -> None:
    assert "pads" not in app.state()  # an engine without a kit
    pads = (SimpleNamespace(x=0.125, y=np.float32(0.5)), SimpleNamespace(x=1.0, y=0.0))
    app.engine.kit = lambda name: SimpleNamespace(name=name, pads=pads)
    assert json.loads(app.get("/api/state", "")[1])["pads"] == [[0.125, 0.5], [1.0, 0.0]]


# ---- POST /api/locate: a dropped file -----------------------------------------------------------------
KIT = Path("/usr/share/hydrogen/data/drumkits/Audiophob")
needs_kit = pytest.mark.skipif(not KIT.is_dir(), reason="Debian's hydrogen-drumkits is not installed")


class LocatingEngine(FakeEngine):
    """FakeEngine with the real ``Engine.locate`` (training's reading and preparation, the model's
    encoder and classifier) over a saved tiny model; records each path it was given and its mode."""

    def __init__(self, model_dir: Path) -> None:
        from gesam_engine.gesam_model import GesamModel

        super().__init__()
        self.model, self.cursor, self.seen = GesamModel.load(model_dir), (0.5, 0.5), []

    def move(self, x: float, y: float) -> tuple[float, float]:
        self.cursor = (x, y)
        return self.cursor

    def locate(self, path: str) -> dict[str, Any]:
        from gesam_engine.runtime.engine import Engine

        self.seen.append((path, Path(path).stat().st_mode & 0o777))
        return Engine.locate(self, path)  # type: ignore[arg-type]


@pytest.fixture
def locating(located_model: tuple[Path, list[Path]], tmp_path: Path,  # noqa: F811
             monkeypatch: pytest.MonkeyPatch) -> WebApp:
    from osc_bridge.controller import Controller

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the temporary copies land here
    (tmp_path / "tmp").mkdir()
    return WebApp(Controller(LocatingEngine(located_model[0]), tmp_path / "renders"))


def _left_over(tmp_path: Path) -> list[str]:
    return [p.name for p in (tmp_path / "tmp").iterdir()]


@needs_kit
def test_a_dropped_wav_lands_where_locate_puts_the_file(locating: WebApp, tmp_path: Path,
                                                       located_model: tuple[Path, list[Path]]) -> None:  # noqa: F811
    from gesam_engine.maps.locate import locate

    directory, files = located_model
    (expected,) = locate(locating.engine.model, [files[1]], nearest=5)
    assert not isinstance(expected, GesamError)
    found = locating.locate(files[1].read_bytes(), urllib.parse.quote("Hat One.WAV"), "audio/wav")
    assert (found["x"], found["y"], found["class"]) == (expected.x, expected.y, expected.class_name)
    assert found["file"] == "'Hat One.WAV'" and found["class_probability"] == expected.class_probability
    assert found["nearest"][0] == {"file": files[1].name, "label": "hihat", "distance": 0.0}  # its own training point
    assert locating.engine.cursor == (expected.x, expected.y)
    replies = dict((a, v) for a, v in found["replies"])
    assert replies["/gesam/state/locate"] == [expected.x, expected.y, expected.class_name]
    assert replies["/gesam/state/xy"] == [expected.x, expected.y]
    (path, mode), = locating.engine.seen
    assert Path(path).parent == tmp_path / "tmp" and path.endswith(".wav") and mode == 0o600  # private, its suffix
    assert _left_over(tmp_path) == [] and locating.counts()["commands"] == 1
    json.loads(to_json(found))  # plain JSON


@needs_kit
def test_a_text_file_named_wav_is_a_400_with_the_reason(locating: WebApp, tmp_path: Path) -> None:
    status, reason = refusal(locating.locate, b"these are my notes, not audio\n" * 10, "notes.wav", "audio/wav")
    assert status == 400
    assert reason == ("cannot locate 'notes.wav': cannot decode: Format not recognised. "
                      "(drop an audio file: WAV, AIFF, FLAC, OGG or MP3)")
    assert "gesam-drop" not in reason  # the temporary copy's path is never shown
    assert locating.engine.cursor == (0.5, 0.5) and _left_over(tmp_path) == [] and locating.counts()["commands"] == 0
    assert refusal(locating.locate, b"", "empty.wav") == (
        400, "'empty.wav' is empty (0 bytes); drop an audio file (WAV, AIFF, FLAC, OGG or MP3)")
    assert locating.engine.seen[1:] == []  # an empty body never reaches the engine


def test_a_dropped_file_over_the_limit_is_a_413(tmp_path: Path) -> None:
    app = WebApp(FakeController(FakeEngine()), max_upload=1000)
    status, reason = refusal(app.locate, b"x" * 1001, "big.wav")
    assert status == 413 and reason == "'big.wav' is 1001 bytes; at most 1000 are accepted"
    assert app.views()["max_upload"] == 1000  # the page checks before it sends


def test_a_dropped_file_must_come_from_the_page_itself() -> None:
    host = "127.0.0.1:8765"
    for content_type in ("application/octet-stream", "audio/wav", "audio/x-aiff"):
        check_upload(content_type, f"http://{host}", host)
    check_upload("audio/flac", None, host)  # not from a browser: curl and the like
    assert refusal(check_upload, "audio/wav", "http://evil.example", host) == (
        403, "POST /api/locate from another page (Origin 'http://evil.example') is refused")
    for content_type in ("text/plain", "multipart/form-data", "application/x-www-form-urlencoded", "application/json"):
        status, reason = refusal(check_upload, content_type, f"http://{host}", host)  # what a form could send
        assert status == 415 and "application/octet-stream or audio/*" in reason, content_type


def test_a_dropped_files_name_and_suffix() -> None:
    from gesam_engine.data.audio_io import AUDIO_EXTENSIONS

    assert AUDIO_SUFFIXES == AUDIO_EXTENSIONS
    assert display_name("my%20kick.wav") == "'my kick.wav'" and display_name(None) == "the dropped file"
    assert display_name("..%2F..%2Fetc%2Fpasswd") == "'passwd'" and display_name("a%0Ab.wav") == "'ab.wav'"
    assert display_name("x" * 300) == repr("x" * 100 + "...")
    assert temp_suffix("Kick.FLAC", "application/octet-stream") == ".flac"
    assert temp_suffix("kick.exe", "audio/mpeg") == ".mp3" and temp_suffix("kick", "audio/wav") == ".wav"
    assert temp_suffix("kick.sh", "application/octet-stream") == "" and temp_suffix(None, "audio/unknown") == ""
