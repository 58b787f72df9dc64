"""The Controller on a real started Engine (tiny model, WAV output): each command does what it
says on the engine and answers the right replies; refusals are GesamErrors, renders stay inside
the render folder."""

from pathlib import Path
from typing import Iterator

import pytest
import soundfile as sf

from gesam_engine.errors import GesamError
from osc_bridge.commands import (
    FxParam, Gain, Learn, Move, Note, Panic, PadTrigger, PadXY, Ping, PitchBend, Play, ProgramChange, Render, Trigger,
)
from osc_bridge.controller import BridgeError, Controller
from tests.osc_bridge import make_engine
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    e = make_engine(tmp_path_factory.mktemp("controller"))
    yield e
    e.stop()


@pytest.fixture
def controller(engine: object, tmp_path: Path) -> Controller:
    return Controller(engine, tmp_path / "renders")


def played(engine) -> int:
    return engine.metrics()["trigger_latency_ms"]["count"]


def test_move_moves_the_cursor_and_answers_its_clamped_point(controller: Controller, engine) -> None:
    assert controller.execute(Move(0.25, 0.75)) == [("/gesam/state/xy", [0.25, 0.75])]
    assert engine.cursor == (0.25, 0.75)
    assert controller.execute(Move(3.0, -1.0)) == [("/gesam/state/xy", [1.0, 0.0])]
    assert engine.cursor == (1.0, 0.0)


def test_ping_is_answered_by_pong(controller: Controller) -> None:
    assert controller.execute(Ping()) == [("/gesam/pong", [])]


def test_trigger_play_pad_and_note_play_voices(controller: Controller, engine) -> None:
    before = played(engine)
    assert controller.execute(Trigger(0.8)) == []
    assert controller.execute(Play(0.4, 0.6, 1.0)) == [("/gesam/state/xy", [0.4, 0.6])]
    assert controller.execute(PadTrigger(3, 0.5)) == []
    assert controller.execute(Note(36, 100)) == []  # pad 0
    wait_for(lambda: played(engine) >= before + 4)
    assert engine.cursor == (0.4, 0.6)


def test_pad_point_gain_bend_panic(controller: Controller, engine) -> None:
    assert controller.execute(PadXY(2, 0.1, 0.9)) == [("/gesam/state/pad/2/xy", [0.1, 0.9])]
    assert engine.pad(2).xy == (0.1, 0.9)
    assert controller.execute(Gain(0.5)) == []
    assert controller.execute(PitchBend(-2.0)) == []
    assert controller.execute(Panic()) == []
    controller.execute(PitchBend(0.0))
    controller.execute(Gain(1.0))


def test_engine_refusals_are_gesam_errors(controller: Controller) -> None:
    with pytest.raises(GesamError, match="gain must be in 0..4"):
        controller.execute(Gain(5.0))
    with pytest.raises(GesamError, match="no effects are configured"):
        controller.execute(FxParam("reverb", "room_size", 0.5))
    with pytest.raises(GesamError, match="pad must be an integer in 0..15"):
        controller.execute(PadTrigger(16, 1.0))
    with pytest.raises(BridgeError, match="MIDI"):
        controller.execute(Learn("x"))
    with pytest.raises(BridgeError, match="kits"):
        controller.execute(ProgramChange(1))


def test_learn_and_kits_go_to_their_callbacks(engine, tmp_path: Path) -> None:
    learned: list[str] = []
    c = Controller(engine, tmp_path, on_learn=learned.append, on_program=lambda n: [("/gesam/state/kit", [n])])
    assert c.execute(Learn("y")) == [("/gesam/state/learn", ["y"])] and learned == ["y"]
    assert c.execute(ProgramChange(7)) == [("/gesam/state/kit", [7])]


def test_render_writes_a_wav_inside_the_render_folder(controller: Controller, engine) -> None:
    replies = controller.execute(Render(0.3, 0.7, "hits/kick"))
    path = controller.render_dir / "hits" / "kick.wav"
    assert replies == [("/gesam/state/render", [str(path)])]
    audio, rate = sf.read(str(path), dtype="float32")
    assert rate == engine.sample_rate and audio.ndim == 1 and abs(audio).max() > 0
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["../x.wav", "/tmp/x.wav", "a/../../x.wav", ""])
def test_render_refuses_paths_outside_the_render_folder(controller: Controller, name: str, tmp_path: Path) -> None:
    with pytest.raises(BridgeError):
        controller.execute(Render(0.3, 0.7, name))
    assert not (tmp_path / "x.wav").exists() and not controller.render_dir.exists()


@pytest.mark.parametrize("name", [".", "./", "x" * 300 + ".wav"])
def test_render_refuses_names_that_are_no_file_name(controller: Controller, name: str) -> None:
    with pytest.raises(BridgeError, match="file name|longer than 200"):
        controller.execute(Render(0.3, 0.7, name))


def test_render_into_a_folder_of_the_same_name_is_a_clear_error(controller: Controller) -> None:
    (controller.render_dir / "taken.wav").mkdir(parents=True)
    with pytest.raises(BridgeError, match="cannot write"):
        controller.execute(Render(0.3, 0.7, "taken.wav"))
