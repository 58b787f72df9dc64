"""Query by example over OSC: `/gesam/locate` with the path of a real drum recording moves the
cursor to where the file lands on the map and answers /gesam/state/locate x y class; a file that
is not audio, or is not there, is answered on /gesam/error and the server goes on serving."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.locate import Location, locate
from gesam_engine.runtime.engine import Engine
from gesam_engine.runtime.engine_config import serve_config_from_dict
from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer
from tests.osc_bridge import ENGINE_CONFIG, Client
from tests.tiny import tiny_model

KIT = Path("/usr/share/hydrogen/data/drumkits/Audiophob")
pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="Debian's hydrogen-drumkits is not installed")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, OscServer, Client]]:
    directory = tmp_path_factory.mktemp("locate-osc")
    model = tiny_model(0.3)
    model.card["settings"] = {"preprocess": {"sample_rate": model.codec.sample_rate, "duration_s": 0.3}}
    model.save(directory / "model")
    engine = Engine(GesamModel.load(directory / "model"), serve_config_from_dict(ENGINE_CONFIG),
                    output_file=directory / "out.wav", realtime=True, cache_dir=directory / "cache",
                    progress=False).start()
    server = OscServer(Controller(engine, directory / "renders"), port=0).start()
    client = Client(server.address)
    yield engine, server, client
    client.close()
    server.stop()
    engine.stop()


def test_a_dropped_path_moves_the_cursor_to_the_files_point(rig: tuple[Engine, OscServer, Client]) -> None:
    engine, _, client = rig
    file = sorted(KIT.glob("*.wav"))[0]
    (want,) = locate(engine.model, [file], nearest=0)
    assert isinstance(want, Location)
    client.send("/gesam/locate", str(file))
    x, y, name = client.expect("/gesam/state/locate", 30)
    assert (x, y) == pytest.approx((want.x, want.y), abs=1e-6) and name == want.class_name
    assert client.expect("/gesam/state/xy") == pytest.approx([want.x, want.y], abs=1e-6)
    assert engine.cursor == pytest.approx((want.x, want.y), abs=1e-6)
    client.send("/gesam/trigger")
    client.send("/gesam/ping")
    client.expect("/gesam/pong")


@pytest.mark.parametrize(("make", "reason"), [
    (lambda d: d / "missing.wav", "no such file on the engine's machine"),
    (lambda d: (d / "notes.wav").write_text("not audio") and d / "notes.wav", "notes.wav"),
])
def test_a_bad_file_is_answered_on_error_and_the_server_goes_on(rig: tuple[Engine, OscServer, Client], tmp_path: Path,
                                                                make: object, reason: str) -> None:
    engine, _, client = rig
    before = engine.cursor
    path = make(tmp_path)  # type: ignore[operator]
    client.send("/gesam/locate", str(path))
    (error,) = client.expect("/gesam/error", 30)
    assert reason in error and engine.cursor == before
    client.send("/gesam/ping")
    client.expect("/gesam/pong")
