"""Switching models while the engine plays (``Engine.switch_model``, ``/gesam/model``).

Real tiny model directories, a real engine writing a WAV in real time: the new model loads in
the background while triggers play the old one, pads keep their points, and a model that cannot
be loaded or does not fit is refused with the reason while the old one plays on.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_message import OscMessage

from gesam_engine.cli.serve_cmd import model_reporter
from gesam_engine.errors import CheckpointError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.map_bake import bake_grid
from gesam_engine.runtime.engine import Engine, TriggerInfo
from gesam_engine.runtime.engine_config import serve_config_from_dict
from gesam_engine.runtime.resample import to_rate
from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer
from tests.tiny import tiny_model
from tests.waiting import wait_for

SECONDS = 0.3
CONFIG = {"cache": {"bake_grid": 3}, "output": {"blocksize": 512}}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder: "first" and "second" (other weights, same length), "long" (longer sounds)."""
    root = tmp_path_factory.mktemp("models")
    tiny_model(SECONDS, seed=0).save(root / "first")
    tiny_model(SECONDS, seed=1).save(root / "second")
    tiny_model(2 * SECONDS, seed=2).save(root / "long")
    return root


class Events:
    """The engine's "model" events, waited on."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        engine.add_listener(self._hear)

    def _hear(self, event: str, data: dict[str, Any]) -> None:
        if event == "model":
            self.seen.append(data)
            self.arrived.set()

    def wait(self) -> dict[str, Any]:
        assert self.arrived.wait(60), "no model event within 60 s"
        self.arrived.clear()
        return self.seen[-1]


@pytest.fixture
def engine(models: Path, tmp_path: Path) -> Iterator[Engine]:
    e = Engine(GesamModel.load(models / "first"), serve_config_from_dict(CONFIG), output_file=tmp_path / "out.wav",
               realtime=True, cache_dir=tmp_path / "cache", progress=False).start()
    yield e
    e.stop()


def next_block(e: Engine) -> None:
    start = e.output.reader.blocks
    wait_for(lambda: e.output.reader.blocks > start)


def expected(model_dir: Path, xy: tuple[float, float], e: Engine) -> np.ndarray:
    """The sound ``model_dir``'s model makes at ``xy``, at the engine's rate (decoding is seeded)."""
    model = GesamModel.load(model_dir)
    wave = model.render(np.array([xy]), iters=e.config.generator.griffin_lim_iters)[0]
    return to_rate(wave, model.sample_rate, e.sample_rate)


def receive(client: socket.socket, address: str) -> OscMessage:
    """The next message on ``address`` (engine pushes such as /gesam/state/ready may come between)."""
    while True:
        message = OscMessage(client.recv(65536))
        if message.address == address:
            return message


def assert_plays(e: Engine) -> TriggerInfo:
    """A trigger sounds: its voice starts in the audio process."""
    wait_for(lambda: e.active_voices() == 0)
    info = e.trigger(1.0)
    wait_for(lambda: e.active_voices() > 0)
    return info


def test_a_switch_plays_the_old_model_until_the_new_one_is_ready_and_pads_keep_their_points(engine, models):
    events = Events(engine)
    engine.set_pad(0, 0.2, 0.8)
    engine.set_pad(1, 0.7, 0.3)
    engine.move(0.31, 0.62)
    wait_for(lambda: all(engine.is_ready(xy) for xy in [(0.31, 0.62), (0.2, 0.8), (0.7, 0.3)]))
    old_model, old_generator, old_sound = engine.model, engine.generator, engine.sound_for()[0]
    assert engine.model_name == "first" and engine.models_dir == models

    engine.switch_model("second")  # a name under the models folder
    during = [engine.trigger(1.0)]
    moved = engine.move(0.55, 0.45)  # most likely during the load: the new model makes it after the swap
    while not events.arrived.is_set():  # trigger once a block until the switch is done: never refused
        next_block(engine)
        during.append(engine.trigger(1.0))
    event = events.wait()

    assert during[0].exact  # the old model's ready cursor sound played at once
    assert event["name"] == "second" and event["path"] == str(models / "second") and event["ms"] > 0
    assert "error" not in event
    assert engine.model_name == "second" and engine.model is not old_model
    assert old_generator._thread is None  # stopped
    assert [engine.pad(0).xy, engine.pad(1).xy] == [(0.2, 0.8), (0.7, 0.3)]
    for xy in [(0.2, 0.8), (0.7, 0.3)]:  # made by the new model before the swap
        assert engine.is_ready(xy)
        np.testing.assert_allclose(engine.sound_for(xy)[0], expected(models / "second", xy, engine), atol=1e-4)
    wait_for(lambda: engine.is_ready(moved))
    new_sound = engine.sound_for()[0]
    np.testing.assert_allclose(new_sound, expected(models / "second", moved, engine), atol=1e-4)
    at_old_point = engine.render(0.31, 0.62)  # made by the generator now playing
    np.testing.assert_allclose(at_old_point, expected(models / "second", (0.31, 0.62), engine), atol=1e-4)
    assert not np.allclose(at_old_point, old_sound, atol=1e-3)  # the same point, another model's sound
    assert assert_plays(engine).exact
    engine.stop()
    assert engine.output.path.stat().st_size > 0


def test_a_model_directory_path_works_and_a_second_switch_while_loading_is_refused(engine, models, tmp_path):
    events = Events(engine)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(models / "second", elsewhere)
    engine.switch_model(elsewhere)
    with pytest.raises(GesamError, match="a model is loading: elsewhere"):
        engine.switch_model("first")
    assert events.wait()["name"] == "elsewhere"
    assert engine.model_name == "elsewhere"
    engine.switch_model("first")  # free again once the event came
    assert events.wait()["name"] == "first" and engine.model_name == "first"


def test_what_is_not_a_model_is_refused_at_once_naming_the_models_there(engine, models, tmp_path):
    with pytest.raises(GesamError, match=r"no model 'nope' \(looked for .*nope.*\); models in .*: first, long, second"):
        engine.switch_model("nope")
    with pytest.raises(GesamError, match="is a folder with no model.json, not a model directory"):
        engine.switch_model(tmp_path)
    with pytest.raises(GesamError, match="got an empty one"):
        engine.switch_model(" ")
    broken = tmp_path / "broken"
    shutil.copytree(models / "second", broken)
    (broken / "model.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        engine.switch_model(broken)
    assert engine.model_name == "first"
    assert assert_plays(engine).exact


def test_longer_sounds_than_the_running_layout_holds_are_refused(engine, models):
    with pytest.raises(GesamError, match=r"model long makes sounds of 0\.600 s .* longer than the \d+ samples"):
        engine.switch_model("long")
    assert engine.model_name == "first"
    assert assert_plays(engine).exact


def _corrupt_weights(directory: Path) -> None:
    path = directory / "transformer.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _wrong_architecture(directory: Path) -> None:
    card = json.loads((directory / "model.json").read_text())
    card["transformer"]["d_model"] = 48
    (directory / "model.json").write_text(json.dumps(card))


@pytest.mark.parametrize("damage, reason", [(_corrupt_weights, "sha256"),
                                            (_wrong_architecture, "does not fit the architecture|has shape")])
def test_a_model_that_fails_to_load_is_reported_and_the_old_one_plays_on(engine, models, tmp_path, damage, reason):
    events = Events(engine)
    bad = tmp_path / "bad"
    shutil.copytree(models / "second", bad)
    damage(bad)
    before = engine.sound_for()[0]
    engine.switch_model(bad)  # the card reads fine: the loader finds what is wrong
    while not events.arrived.is_set():
        engine.trigger(1.0)
        next_block(engine)
    event = events.wait()
    assert event["name"] == "bad" and "ms" not in event
    assert any(word in event["error"] for word in reason.split("|")), event["error"]
    assert engine.model_name == "first"
    np.testing.assert_array_equal(engine.sound_for()[0], before)
    assert assert_plays(engine).exact
    engine.switch_model("second")  # nothing is left loading
    assert events.wait()["name"] == "second"


def test_osc_clients_hear_the_switch_and_the_refusal(engine, models, tmp_path):
    """The serve wiring: /gesam/state/model s name after a switch, /gesam/error s reason after a failure."""
    lines: list[str] = []
    events = Events(engine)
    server = OscServer(Controller(engine, tmp_path), "127.0.0.1", 0).start()
    engine.add_listener(model_reporter(lines.append, server))
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(10)
    try:
        client.sendto(OscMessageBuilder("/gesam/ping").build().dgram, server.address)
        receive(client, "/gesam/pong")  # the server knows its client now
        engine.switch_model("second")
        events.wait()
        assert receive(client, "/gesam/state/model").params == ["second"]
        bad = tmp_path / "bad"
        shutil.copytree(models / "first", bad)
        _corrupt_weights(bad)
        engine.switch_model(bad)
        events.wait()
        assert "model bad not loaded, the old one plays on" in receive(client, "/gesam/error").params[0]
    finally:
        client.close()
        server.stop()
    assert lines[0].startswith("[model] now playing second (") and "loaded in" in lines[0]
    assert lines[1].startswith("[model] model bad not loaded, the old one plays on: ")


def test_a_shipped_bake_comes_with_its_model(engine, models, tmp_path):
    events = Events(engine)
    baked = tmp_path / "baked"
    shutil.copytree(models / "second", baked)
    bake_grid(GesamModel.load(baked), 4, baked / "map" / "bake", batch=8, progress=False)
    assert engine.grid is None  # "first" ships none: the built-in bake plays
    engine.switch_model(baked)
    assert "error" not in events.wait()
    assert engine.grid is not None and engine.grid.grid == 4
    engine.generator.stop()  # nothing exact gets made from here: a trigger far off plays the new bake
    engine.move(0.1, 0.1)
    assert engine.trigger(1.0).played_xy == pytest.approx((0.125, 0.125))
    engine.switch_model("first")
    assert "error" not in events.wait()
    assert engine.grid is None


def _generator_threads() -> int:
    return sum(t.name == "gesam-generator" and t.is_alive() for t in threading.enumerate())


def test_stopping_the_engine_during_a_load_ends_the_load_and_its_generator(engine):
    events = Events(engine)
    before = _generator_threads()  # the engine's own among them
    engine.switch_model("second")
    engine.stop()
    assert not any(t.name == "gesam-model-load" and t.is_alive() for t in threading.enumerate())
    assert _generator_threads() == before - 1
    assert all("error" not in data for data in events.seen)  # a load the stop cut short is not a failure
