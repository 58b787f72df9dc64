"""The console through a Controller on a real started Engine (tiny model, WAV output): every
command, usage errors, and that a console line means the same command as its OSC message."""

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from gesam_engine.errors import ConfigError
from gesam_engine.latency_stats import LatencyStats
from gesam_engine.runtime.engine import Engine
from gesam_engine.runtime.engine_config import serve_config_from_dict
from gesam_engine.runtime.pads import PadError
from osc_bridge.commands import (
    FxParam, Gain, Metrics, Move, Note, Panic, PadTrigger, PadXY, Play, Reopen, State, Trigger,
)
from osc_bridge.console import (
    COMMANDS, HELP, MAX_SLEEP_S, ConsoleError, Help, Quit, Wait, parse_line, run_line, to_json,
)
from osc_bridge.controller import Controller
from osc_bridge.osc.parse import parse
from tests.tiny import tiny_model
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    directory: Path = tmp_path_factory.mktemp("console")
    config = serve_config_from_dict({"cache": {"bake_grid": 3}, "output": {"blocksize": 512},
                                     "effects": [{"type": "Gain", "name": "g", "params": {"gain_db": -6.0}}]})
    e = Engine(tiny_model(0.3), config, output_file=directory / "out.wav", realtime=True,
               cache_dir=directory / "cache", progress=False).start()
    yield e
    e.stop()


@pytest.fixture
def console(engine: Engine) -> Controller:
    """The Controller the console lines go through."""
    return Controller(engine)


def last_trigger(engine: Engine) -> int:
    return max(engine._triggers, default=0)


def test_blank_lines_and_comments_do_nothing(engine: Engine, console: Controller) -> None:
    before = last_trigger(engine)
    for line in ("", "   ", "\t", "# trigger", "   # play 0.1 0.1"):
        assert run_line(console, line) is None
    assert last_trigger(engine) == before
    assert run_line(console, "move 0.12 0.34  # a comment after a command") == "cursor (0.12, 0.34)"


@pytest.mark.parametrize("line", ["quit", "exit", "QUIT", "  exit  # bye"])
def test_quit_raises_eof(engine: Engine, line: str, console: Controller) -> None:
    with pytest.raises(EOFError):
        run_line(console, line)


def test_move_trigger_and_play(engine: Engine, console: Controller) -> None:
    assert run_line(console, "move 0.2 0.3") == "cursor (0.2, 0.3)"
    assert engine.cursor == (0.2, 0.3)
    assert run_line(console, "MOVE 5 -1") == "cursor (1.0, 0.0)"  # clamped; commands in any case
    run_line(console, "move 0.2 0.3")
    wait_for(engine.is_ready)
    before = last_trigger(engine)
    assert run_line(console, "trigger") == "played exact (0.2, 0.3)"
    assert run_line(console, "trigger 0.5") == "played exact (0.2, 0.3)"
    assert run_line(console, "trigger 0.5 -12") == "played exact (0.2, 0.3)"
    assert last_trigger(engine) == before + 3
    out = run_line(console, "play 0.9 0.1 0.8")  # not ready yet: the nearest baked sound
    assert out is not None and out.startswith("played nearest (0.8333")
    assert engine.cursor == (0.9, 0.1)
    wait_for(engine.is_ready)
    assert run_line(console, "play 0.9 0.1") == "played exact (0.9, 0.1)"
    assert last_trigger(engine) == before + 5


def test_pads_and_notes(engine: Engine, console: Controller) -> None:
    assert run_line(console, "setpad 2 0.1 0.9") == "pad 2 = (0.1, 0.9)"
    assert engine.pad(2).xy == (0.1, 0.9)
    before = last_trigger(engine)
    assert run_line(console, "pad 2") is None
    assert run_line(console, "pad 2 0.3") is None
    assert engine._triggers[before + 2].xy == (0.1, 0.9)
    assert run_line(console, "note 38 100") is None  # pad 2 by note
    assert engine._triggers[before + 3].xy == (0.1, 0.9)
    run_line(console, "move 0.7 0.7")
    assert run_line(console, "note 64 90") is None  # a pitched cursor note
    assert engine._triggers[before + 4].xy == (0.7, 0.7)
    assert run_line(console, "note 64 0") is None and last_trigger(engine) == before + 4  # note-off
    with pytest.raises(PadError, match=r"0\.\.15"):
        run_line(console, "pad 16")
    with pytest.raises(PadError):
        run_line(console, "setpad -1 0.5 0.5")
    with pytest.raises(ConfigError, match=r"0\.\.127"):
        run_line(console, "note 200 100")


def test_gain_panic_and_fx(engine: Engine, console: Controller) -> None:
    assert run_line(console, "gain 0.5") is None
    wait_for(lambda: engine.output.gain == 0.5)
    assert run_line(console, "gain 1") is None
    wait_for(lambda: engine.output.gain == 1.0)
    with pytest.raises(ConfigError, match=r"gain must be in 0\.\.4"):
        run_line(console, "gain 9")

    run_line(console, "play 0.5 0.5")
    wait_for(lambda: engine.active_voices() > 0)
    assert run_line(console, "panic") is None
    wait_for(lambda: engine.output.mixer.renderer.voices.playing() == 0, timeout=0.2)  # all releasing: the sounds are 0.3 s long

    assert run_line(console, "fx g gain_db -12") is None
    wait_for(lambda: engine.effects.describe()["g"]["gain_db"] == -12.0)
    with pytest.raises(ConfigError, match="valid: gain_db"):
        run_line(console, "fx g gain 3")
    with pytest.raises(ConfigError, match="gain_db.* must be a float, got .loud."):  # words pass as text
        run_line(console, "fx g gain_db loud")
    with pytest.raises(ConfigError, match="no effect named 'verb'; effects: g"):
        run_line(console, "fx verb room_size 0.5")


def test_sleep_uses_the_injected_sleep(engine: Engine, console: Controller) -> None:
    slept: list[float] = []
    t0 = time.perf_counter()
    assert run_line(console, "sleep 30", sleep=slept.append) is None
    assert run_line(console, "sleep 0.25", sleep=slept.append) is None
    assert run_line(console, "sleep 0", sleep=slept.append) is None
    assert run_line(console, f"sleep {MAX_SLEEP_S:g}", sleep=slept.append) is None
    assert slept == [30.0, 0.25, 0.0, MAX_SLEEP_S] and time.perf_counter() - t0 < 1.0


@pytest.mark.reliability
@pytest.mark.parametrize("seconds", ["-1", "-0.001", "nan", "NaN", "inf", "-inf", "1e400", "3601", "1e300",
                                     "99999999999999999999"])
def test_sleep_refuses_negative_non_finite_and_huge_seconds(engine: Engine, seconds: str, console: Controller) -> None:
    with pytest.raises(ConsoleError, match=r"usage: sleep SECONDS \((0 to 3600 seconds|finite numbers expected)"):
        run_line(console, f"sleep {seconds}", sleep=lambda s: pytest.fail(f"slept {s}"))


@pytest.mark.reliability
@pytest.mark.parametrize("line", ["move nan 0.5", "move 0.5 inf", "play 1e999 0.5", "trigger nan", "trigger 1 inf",
                                  "setpad 1 nan 0.5", "pad 1 nan", "gain nan", "gain inf", "fx g gain_db nan",
                                  "fx g gain_db -inf", "fx g gain_db 1e400"])
def test_non_finite_numbers_are_refused_before_the_engine_sees_them(engine: Engine, line: str,
                                                                    console: Controller) -> None:
    cursor, before, gain_db = engine.cursor, last_trigger(engine), engine.effects.describe()["g"]["gain_db"]
    with pytest.raises(ConsoleError, match="finite"):
        run_line(console, line)
    assert engine.cursor == cursor and last_trigger(engine) == before
    assert engine.effects.describe()["g"]["gain_db"] == gain_db


def test_state_metrics_and_help(engine: Engine, console: Controller) -> None:
    run_line(console, "move 0.4 0.6")
    state = json.loads(run_line(console, "state"))
    assert state["cursor"] == [0.4, 0.6] and state["output"] == "running"
    assert set(state) == {"cursor", "ready", "output", "underruns", "pending"}
    metrics = json.loads(run_line(console, "metrics"))
    assert {"trigger_latency_blocks", "cache", "output", "voices_active", "rss_mb"} <= set(metrics)
    assert metrics["cache"]["pinned"] == 9
    assert run_line(console, "help") == HELP == run_line(console, "?")


def test_help_lists_every_command_with_a_one_line_description(engine: Engine, console: Controller) -> None:
    lines = run_line(console, "help").splitlines()
    assert lines[0] == "commands:"
    assert len(lines) == 1 + len(COMMANDS)
    for line, command in zip(lines[1:], COMMANDS.values()):
        assert line.startswith(f"  {command.usage} ")
        about = line[2 + len(command.usage):].strip()
        assert about and "\n" not in about, line
    for name in ("play", "move", "trigger", "pad", "setpad", "note", "gain", "fx", "panic", "reopen", "sleep",
                 "state", "metrics", "help", "quit"):
        assert name in COMMANDS


def strict_json(text: str) -> object:
    """json.loads that refuses NaN and Infinity (Python's accepts them; JSON has neither)."""
    def refuse(token: str) -> object:
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def test_metrics_is_strict_json_before_any_trigger(tmp_path: Path) -> None:
    assert LatencyStats.of([]).to_dict() == {"count": 0, "median": None, "p99": None, "max": None}
    assert strict_json(to_json({"a": float("nan"), "b": [float("inf"), 1.5]})) == {"a": None, "b": [None, 1.5]}
    config = serve_config_from_dict({"cache": {"bake_grid": 2}, "output": {"blocksize": 512}})
    fresh = Engine(tiny_model(0.3), config, output_file=tmp_path / "out.wav", realtime=True,
                   cache_dir=tmp_path / "cache", progress=False).start()
    try:
        metrics = strict_json(run_line(Controller(fresh), "metrics"))
        assert metrics["trigger_latency_ms"] == {"count": 0, "median": None, "p99": None, "max": None}
        strict_json(run_line(Controller(fresh), "state"))
    finally:
        fresh.stop()


USAGE = [
    ("move", "usage: move X Y"),
    ("move 1", "usage: move X Y"),
    ("move 1 2 3", "usage: move X Y"),
    ("move a b", r"usage: move X Y \(numbers expected, got a b\)"),
    ("trigger 1 2 3", r"usage: trigger \[VELOCITY\] \[SEMITONES\]"),
    ("trigger loud", r"usage: trigger \[VELOCITY\] \[SEMITONES\] \(numbers expected"),
    ("play 0.5", r"usage: play X Y \[VELOCITY\]"),
    ("play 0.5 0.5 1 2", r"usage: play X Y \[VELOCITY\]"),
    ("pad", r"usage: pad N \[VELOCITY\]"),
    ("pad 1 2 3", r"usage: pad N \[VELOCITY\]"),
    ("pad one", r"usage: pad N \[VELOCITY\] \(integers expected, got one\)"),
    ("pad 1.5", r"usage: pad N \[VELOCITY\] \(integers expected"),
    ("pad 1 soft", r"usage: pad N \[VELOCITY\] \(numbers expected, got soft\)"),
    ("setpad 1 0.5", "usage: setpad N X Y"),
    ("setpad x 0.5 0.5", r"usage: setpad N X Y \(integers expected"),
    ("setpad 1 x 0.5", r"usage: setpad N X Y \(numbers expected"),
    ("note 60", "usage: note NOTE VELOCITY"),
    ("note 60 loud", r"usage: note NOTE VELOCITY \(integers expected"),
    ("gain", "usage: gain G"),
    ("gain 1 2", "usage: gain G"),
    ("gain up", r"usage: gain G \(numbers expected"),
    ("fx g gain_db", "usage: fx EFFECT PARAM VALUE"),
    ("sleep", "usage: sleep SECONDS"),
    ("sleep soon", r"usage: sleep SECONDS \(numbers expected"),
    ("jump 1 2", r"unknown command 'jump'; commands: play, move, trigger, .*quit \(`help` says what each does\)"),
]


@pytest.mark.parametrize(("line", "message"), USAGE)
def test_usage_errors_raise_console_error_with_the_usage(engine: Engine, line: str, message: str,
                                                         console: Controller) -> None:
    cursor, before = engine.cursor, last_trigger(engine)
    with pytest.raises(ConsoleError, match=message) as info:
        run_line(console, line, sleep=lambda s: pytest.fail("slept"))
    assert isinstance(info.value, ValueError)
    assert engine.cursor == cursor and last_trigger(engine) == before  # nothing was done


def test_reopen_reports_the_output(engine: Engine, console: Controller) -> None:
    assert run_line(console, "reopen") == "output playing"  # a file output is always there


def test_a_trigger_says_not_heard_when_the_output_is_down(engine: Engine, console: Controller) -> None:
    """With the output down nothing can play: the reply must not say 'played'."""
    output = engine.output
    state, message = output.state, output.message
    output._state, output._message = "failed", "no audio output found (no sound card); start JACK ..."
    try:
        for line in ("play 0.5 0.5", "trigger", "pad 1", "note 38 100", "note 64 100"):
            reply = run_line(console, line)
            assert reply is not None and not reply.startswith("played"), (line, reply)
            assert reply.startswith("not heard: the audio output is down (failed: no audio output found (no sound card))")
        assert run_line(console, "note 64 0") is None  # a note-off plays nothing either way
    finally:
        output._state, output._message = state, message
    assert run_line(console, "play 0.5 0.5").startswith("played")


# ---- one vocabulary: a console line is the same typed command as its OSC message ---------------------
SAME_AS_OSC = [
    ("move 0.2 0.3", "/gesam/xy", [0.2, 0.3]),
    ("trigger", "/gesam/trigger", []),
    ("trigger 0.8", "/gesam/trigger", [0.8]),
    ("play 0.3 0.7", "/gesam/play", [0.3, 0.7]),
    ("play 0.3 0.7 0.5", "/gesam/play", [0.3, 0.7, 0.5]),
    ("pad 3", "/gesam/pad/3/trigger", []),
    ("pad 3 0.5", "/gesam/pad/3/trigger", [0.5]),
    ("setpad 2 0.1 0.9", "/gesam/pad/2/xy", [0.1, 0.9]),
    ("note 36 100", "/gesam/note", [36, 100]),
    ("gain 0.5", "/gesam/gain", [0.5]),
    ("fx reverb room_size 0.9", "/gesam/fx/reverb/room_size", [0.9]),
    ("fx plate mode hall", "/gesam/fx/plate/mode", ["hall"]),
    ("panic", "/gesam/panic", []),
]


@pytest.mark.parametrize(("line", "address", "args"), SAME_AS_OSC)
def test_a_console_line_and_its_osc_message_make_the_same_command(line: str, address: str, args: list) -> None:
    assert parse_line(line) == parse(address, args)


def test_console_only_words_parse_into_commands_or_local_actions() -> None:
    assert parse_line("trigger 0.5 -12") == Trigger(0.5, -12.0)  # the console can pitch a trigger
    assert parse_line("reopen") == Reopen() and parse_line("state") == State() and parse_line("metrics") == Metrics()
    assert parse_line("sleep 2") == Wait(2.0) and parse_line("?") == parse_line("help") == Help()
    assert parse_line("exit") == parse_line("QUIT") == Quit()
    assert parse_line("   # nothing") is None
    assert parse_line("MOVE 5 -1") == Move(5.0, -1.0)  # the engine clamps, as for /gesam/xy 5 -1
    assert parse_line("note 200 100") == Note(200, 100)  # the engine refuses it, with its own message
    assert (parse_line("pad 16"), parse_line("gain 9"), parse_line("fx g gain_db loud")) == (
        PadTrigger(16), Gain(9.0), FxParam("g", "gain_db", "loud"))
    assert isinstance(parse_line("setpad 1 0.5 0.5"), PadXY) and isinstance(parse_line("panic"), Panic)
    assert isinstance(parse_line("play 0.1 0.2"), Play)


def test_pad_variation_layers_lock_randomize_and_undo_from_the_console(engine: Engine, console: Controller) -> None:
    assert run_line(console, "variation 1 0.05 3 random") == "pad 1: variation 0.05, 3 variants, random"
    assert engine.pad(1).variation == 0.05 and engine.pad(1).variation_mode == "random"
    assert parse_line("variation 1 0.05 3 random") == parse("/gesam/pad/1/variation", [0.05, 3, "random"])
    assert run_line(console, "layers 2 0 -0.3 2") == "pad 2: 2 velocity layers, soft hits move (0, -0.3)"
    assert parse_line("layers 2 0 -0.3") == parse("/gesam/pad/2/layers", [0.0, -0.3])
    assert run_line(console, "lock 0 1") == "pad 0: locked"
    before = engine.kit()
    said = run_line(console, "randomize")
    assert said is not None and said.startswith("pads: 0=(") and ")L " in said
    assert engine.pad(0).xy == before.pads[0].xy and engine.kit().pads[1:] != before.pads[1:]
    run_line(console, "undo")
    assert [p.xy for p in engine.kit().pads] == [p.xy for p in before.pads]
    assert run_line(console, "lock 0 0") == "pad 0: free"
    for line, usage in [("variation 1", "usage: variation N RADIUS"), ("variation 1 0.1 3 shuffle", "mode cycle or random"),
                        ("layers 1 0.1", "usage: layers N DX DY"), ("lock 1 2", "1 locks, 0 frees"),
                        ("shape 1 sustain 3", "usage: shape N attack|hold|decay|length|tilt VALUE"),
                        ("locate", "usage: locate FILE"), ("model", "usage: model DIR|NAME")]:
        with pytest.raises(ConsoleError, match=usage):
            run_line(console, line)
    with pytest.raises(PadError, match="variation must be a radius in 0..0.5"):
        run_line(console, "variation 1 0.9")
