"""The Controller on a real started Engine (tiny model, WAV output): each command does what it
says on the engine and answers the right replies; refusals are GesamErrors, renders stay inside
the render folder."""

import dataclasses
import typing
from pathlib import Path
from typing import Iterator

import pytest
import soundfile as sf

from gesam_engine.errors import GesamError
from osc_bridge import commands
from osc_bridge.commands import (
    FxParam, Gain, Learn, Metrics, Move, Note, Panic, PadTrigger, PadXY, Ping, PitchBend, Play, ProgramChange, Render,
    Reopen, State, Trigger,
)
from osc_bridge.controller import HANDLERS, BridgeError, Controller
from osc_bridge.engine_like import EngineLike
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


def test_every_command_class_has_a_handler_in_the_dispatch_table() -> None:
    """A new command class without a handler (or left out of the Command union) fails here."""
    defined = {c for c in vars(commands).values()
               if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == commands.__name__}
    assert defined == set(typing.get_args(commands.Command)) == set(HANDLERS)


def test_an_engine_is_an_engine_like(engine) -> None:
    assert isinstance(engine, EngineLike)


def test_run_gives_the_engines_answer_beside_the_replies(controller: Controller, engine) -> None:
    out = controller.run(Move(0.3, 2.0))
    assert out.value == (0.3, 1.0) and out.replies == [("/gesam/state/xy", [0.3, 1.0])]
    info = controller.run(Play(0.5, 0.5)).value
    assert info.exact and info.played_xy == (0.5, 0.5)  # a baked point
    assert controller.run(Trigger(1.0, -12.0)).value.played_xy == (0.5, 0.5)
    assert controller.run(PadXY(1, 0.2, 0.4)).value.xy == (0.2, 0.4)
    assert controller.run(Note(64, 0)).value is None  # a note-off plays nothing
    assert controller.run(Reopen()).value is True and controller.execute(Reopen()) == []
    assert set(controller.run(State()).value) == set(engine.state()) and controller.execute(State()) == []
    assert "trigger_latency_ms" in controller.run(Metrics()).value and controller.execute(Metrics()) == []
    assert controller.output_status()[0] == "running"
    with pytest.raises(BridgeError, match="not a command: str"):
        controller.execute("play")  # type: ignore[arg-type]


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


# ---- symlinks, planted temporary names and control characters (issue 11) ------------------------
@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the render folder that a render must never touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim.wav").write_bytes(b"precious")
    return folder


def untouched(outside: Path) -> bool:
    return sorted(p.name for p in outside.iterdir()) == ["victim.wav"] and (outside / "victim.wav").read_bytes() == b"precious"


@pytest.mark.reliability
def test_render_refuses_a_symlinked_sub_folder_pointing_outside(controller: Controller, outside: Path) -> None:
    controller.render_dir.mkdir()
    (controller.render_dir / "takes").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BridgeError, match="outside the render folder"):
        controller.execute(Render(0.3, 0.7, "takes/kick.wav"))
    assert untouched(outside)


@pytest.mark.reliability
@pytest.mark.parametrize("target", ["victim.wav", "new.wav"])  # an existing file, and a dangling link
def test_render_refuses_a_symlinked_file_pointing_outside(controller: Controller, outside: Path, target: str) -> None:
    controller.render_dir.mkdir()
    (controller.render_dir / "kick.wav").symlink_to(outside / target)
    with pytest.raises(BridgeError, match="outside the render folder"):
        controller.execute(Render(0.3, 0.7, "kick.wav"))
    assert untouched(outside) and (controller.render_dir / "kick.wav").is_symlink()


@pytest.mark.reliability
def test_render_never_follows_a_symlink_planted_at_the_old_temporary_name(controller: Controller, outside: Path) -> None:
    import os

    controller.render_dir.mkdir()
    (controller.render_dir / f".kick.wav.{os.getpid()}.tmp").symlink_to(outside / "victim.wav")
    (path,) = controller.execute(Render(0.3, 0.7, "kick.wav"))[0][1]
    assert untouched(outside)
    assert Path(path) == (controller.render_dir / "kick.wav").resolve() and not Path(path).is_symlink()
    assert sf.info(path).frames > 0
    assert sorted(p.name for p in controller.render_dir.iterdir()) == [f".kick.wav.{os.getpid()}.tmp", "kick.wav"]


@pytest.mark.reliability
def test_a_symlink_that_stays_inside_the_render_folder_is_followed(controller: Controller) -> None:
    (controller.render_dir / "takes").mkdir(parents=True)
    (controller.render_dir / "latest").symlink_to(controller.render_dir / "takes", target_is_directory=True)
    (path,) = controller.execute(Render(0.3, 0.7, "latest/kick"))[0][1]
    assert Path(path) == (controller.render_dir / "takes" / "kick.wav").resolve() and sf.info(path).frames > 0


@pytest.mark.reliability
@pytest.mark.parametrize("name", ["kick\0../../outside/victim.wav", "kick\0.wav", "kick\n.wav", "a\x1b[2J.wav", "x\x7f.wav"])
def test_render_refuses_control_characters_with_a_clear_error(controller: Controller, outside: Path, name: str) -> None:
    with pytest.raises(BridgeError, match="contains the control character"):
        controller.execute(Render(0.3, 0.7, name))
    assert untouched(outside) and not controller.render_dir.exists()
