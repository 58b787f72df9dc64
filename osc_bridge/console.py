"""The console: lines typed or piped into ``gesam serve``, the simplest way to play without an OSC
or MIDI controller, and to script a bounce.

A line parses into the same typed commands as OSC, MIDI and the web map (``osc_bridge.commands``;
``parse_line``), the ``Controller`` carries it out, and the console words the outcome
(``run_line``). Three words never reach the engine: ``sleep``, ``help`` and ``quit`` (the
``Local`` actions). ``COMMANDS`` lists every word with its usage and a one-line description
(what ``help`` prints). Nothing a line says can end the caller: every refusal is a ConsoleError
(or the engine's own GesamError) with the usage; numbers must be finite, and ``sleep`` is bounded.
The terminal side (readline, history, status lines) is ``gesam_engine/cli/console_session.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any, Callable

from gesam_engine.errors import GesamError
from osc_bridge.commands import (
    Command, FxParam, Gain, KitRandomize, KitUndo, Latency, Locate, Metrics, ModelSwitch, Move, Note, PadLayers, PadLock,
    PadShape, PadTrigger, PadVariation, PadXY, Panic, Play, Reopen, SHAPE_PARAMS, State, Trigger, VARIATION_MODES,
)
from osc_bridge.controller import Controller

MAX_SLEEP_S = 3600.0  # `sleep` is for scripted bounces; an hour is more than any script needs

Sleep = Callable[[float], None]


class ConsoleError(GesamError, ValueError):
    """A console line that is not a command or has wrong arguments."""


# ---- what only the console does ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Wait:
    """`sleep SECONDS`: wait (0..MAX_SLEEP_S), for scripts piped into the console."""

    seconds: float


@dataclasses.dataclass(frozen=True, slots=True)
class Help:
    """`help`: the list of commands."""


@dataclasses.dataclass(frozen=True, slots=True)
class Quit:
    """`quit`: stop ``gesam serve`` (``run_line`` raises EOFError)."""


Local = Wait | Help | Quit


# ---- parsing the words after the command's name -------------------------------------------------
def _floats(args: list[str], n_min: int, n_max: int, usage: str) -> list[float]:
    if not n_min <= len(args) <= n_max:
        raise ConsoleError(f"usage: {usage}")
    try:
        values = [float(a) for a in args]
    except ValueError:
        raise ConsoleError(f"usage: {usage} (numbers expected, got {' '.join(args)})") from None
    bad = [a for a, v in zip(args, values) if not math.isfinite(v)]
    if bad:
        raise ConsoleError(f"usage: {usage} (finite numbers expected, got {' '.join(bad)})")
    return values


def _ints(args: list[str], n: int, usage: str) -> list[int]:
    if len(args) != n:
        raise ConsoleError(f"usage: {usage}")
    try:
        return [int(a) for a in args]
    except ValueError:  # also a digit string too long to convert
        raise ConsoleError(f"usage: {usage} (integers expected, got {' '.join(a[:40] for a in args)})") from None


def _parse_move(args: list[str]) -> Move:
    x, y = _floats(args, 2, 2, "move X Y")
    return Move(x, y)


def _parse_trigger(args: list[str]) -> Trigger:
    return Trigger(*_floats(args, 0, 2, "trigger [VELOCITY] [SEMITONES]"))


def _parse_play(args: list[str]) -> Play:
    return Play(*_floats(args, 2, 3, "play X Y [VELOCITY]"))


def _parse_pad(args: list[str]) -> PadTrigger:
    usage = "pad N [VELOCITY]"
    if not 1 <= len(args) <= 2:
        raise ConsoleError(f"usage: {usage}")
    n = _ints(args[:1], 1, usage)[0]
    return PadTrigger(n, *_floats(args[1:], 0, 1, usage))


def _parse_setpad(args: list[str]) -> PadXY:
    usage = "setpad N X Y"
    if len(args) != 3:
        raise ConsoleError(f"usage: {usage}")
    n = _ints(args[:1], 1, usage)[0]
    x, y = _floats(args[1:], 2, 2, usage)
    return PadXY(n, x, y)


def _parse_note(args: list[str]) -> Note:
    note, velocity = _ints(args, 2, "note NOTE VELOCITY")
    return Note(note, velocity)


def _parse_gain(args: list[str]) -> Gain:
    return Gain(_floats(args, 1, 1, "gain G")[0])


def _parse_fx(args: list[str]) -> FxParam:
    if len(args) != 3:
        raise ConsoleError("usage: fx EFFECT PARAM VALUE")
    value: float | str = args[2]
    try:
        value = float(args[2])
    except ValueError:  # words pass as text (a VST3 choice, or an error from the effect)
        pass
    if isinstance(value, float) and not math.isfinite(value):
        raise ConsoleError(f"usage: fx EFFECT PARAM VALUE (a finite number expected, got {args[2]})")
    return FxParam(args[0], args[1], value)


def _pad_number(args: list[str], usage: str, n_min: int, n_max: int) -> int:
    if not n_min <= len(args) <= n_max:
        raise ConsoleError(f"usage: {usage}")
    return _ints(args[:1], 1, usage)[0]


def _parse_locate(args: list[str]) -> Locate:
    if len(args) < 1:
        raise ConsoleError("usage: locate FILE")
    return Locate(" ".join(args))  # a path may hold spaces


def _parse_variation(args: list[str]) -> PadVariation:
    usage = "variation N RADIUS [COUNT] [cycle|random]"
    n = _pad_number(args, usage, 2, 4)
    radius = _floats(args[1:2], 1, 1, usage)[0]
    variants = _ints(args[2:3], 1, usage)[0] if len(args) > 2 else None
    mode = args[3].lower() if len(args) > 3 else None
    if mode is not None and mode not in VARIATION_MODES:
        raise ConsoleError(f"usage: {usage} (mode cycle or random, got {args[3][:40]})")
    return PadVariation(n, radius, variants, mode)


def _parse_layers(args: list[str]) -> PadLayers:
    usage = "layers N DX DY [LAYERS]"
    n = _pad_number(args, usage, 3, 4)
    dx, dy = _floats(args[1:3], 2, 2, usage)
    return PadLayers(n, dx, dy, _ints(args[3:4], 1, usage)[0] if len(args) > 3 else None)


def _parse_shape(args: list[str]) -> PadShape:
    usage = "shape N attack|hold|decay|length|tilt VALUE"
    n = _pad_number(args, usage, 3, 3)
    param = args[1].lower()
    if param not in SHAPE_PARAMS:
        raise ConsoleError(f"usage: {usage} (got {args[1][:40]})")
    return PadShape(n, param, _floats(args[2:3], 1, 1, usage)[0])


def _parse_lock(args: list[str]) -> PadLock:
    usage = "lock N 1|0"
    n, on = _ints(args, 2, usage)
    if on not in (0, 1):
        raise ConsoleError(f"usage: {usage} (1 locks, 0 frees)")
    return PadLock(n, bool(on))


def _parse_model(args: list[str]) -> ModelSwitch:
    if len(args) < 1:
        raise ConsoleError("usage: model DIR|NAME")
    return ModelSwitch(" ".join(args))


def _parse_sleep(args: list[str]) -> Wait:
    seconds = _floats(args, 1, 1, "sleep SECONDS")[0]
    if not 0.0 <= seconds <= MAX_SLEEP_S:
        raise ConsoleError(f"usage: sleep SECONDS (0 to {MAX_SLEEP_S:g} seconds, got {args[0]})")
    return Wait(seconds)


# ---- wording what the Controller answered -----------------------------------------------------------
def _heard(controller: Controller, text: str) -> str:
    """``text`` when the output plays; otherwise say that nothing can be heard, and why."""
    state, message = controller.output_status()
    if state == "running":
        return text
    reason = message.split(";", 1)[0]
    return f"not heard: the audio output is down ({state}: {reason}); `reopen` tries it again now"


def _say_nothing(controller: Controller, cmd: Any, value: Any) -> None:
    return None


def _say_cursor(controller: Controller, cmd: Move, xy: tuple[float, float]) -> str:
    return f"cursor {xy}"


def _say_played(controller: Controller, cmd: Trigger | Play, info: Any) -> str:
    return _heard(controller, f"played {'exact' if info.exact else 'nearest'} {info.played_xy}")


def _say_if_not_heard(controller: Controller, cmd: PadTrigger | Note, info: Any) -> str | None:
    """Nothing when the sound plays (or a note-off played nothing); 'not heard: ...' when the output is down."""
    if info is None or controller.output_status()[0] == "running":
        return None
    return _heard(controller, "")


def _say_pad(controller: Controller, cmd: PadXY, pad: Any) -> str:
    return f"pad {cmd.pad} = {pad.xy}"


def _say_located(controller: Controller, cmd: Locate, found: dict[str, Any]) -> str:
    near = ", ".join(f"{n['file']} ({n['label']}, {n['distance']:.3f})" for n in found["nearest"][:3])
    cls = f", {found['class']} {found['class_probability']:.0%}" if found["class"] else ""
    return f"cursor ({found['x']:.4f}, {found['y']:.4f}){cls}" + (f"; nearest: {near}" if near else "")


def _say_pad_setting(controller: Controller, cmd: Any, pad: Any) -> str:
    if isinstance(cmd, PadVariation):
        text = f"variation {pad.variation:g}, {pad.variants} variants, {pad.variation_mode}"
    elif isinstance(cmd, PadLayers):
        text = f"{pad.layers} velocity layers, soft hits move ({pad.soft_x:g}, {pad.soft_y:g})"
    elif isinstance(cmd, PadLock):
        text = "locked" if pad.locked else "free"
    else:
        text = f"{cmd.param} {getattr(pad, cmd.param):g}"
    return f"pad {cmd.pad}: {text}"


def _say_kit(controller: Controller, cmd: Any, kit: Any) -> str:
    return "pads: " + " ".join(f"{n}=({p.x:.3f},{p.y:.3f}){'L' if p.locked else ''}" for n, p in enumerate(kit.pads))


def _say_reopened(controller: Controller, cmd: Reopen, playing: bool) -> str:
    return "output playing" if playing else f"output not available yet: {controller.output_status()[1]}"


def to_json(value: Any) -> str:
    """Strict JSON (no NaN or Infinity, which JSON does not have): non-finite numbers become null."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), allow_nan=False)


def _say_state(controller: Controller, cmd: State, state: dict[str, Any]) -> str:
    return to_json(state)


def _say_metrics(controller: Controller, cmd: Metrics, metrics: dict[str, Any]) -> str:
    return json.dumps(json.loads(to_json(metrics)), indent=1)


# ---- the table ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ConsoleCommand:
    """One console word: its usage line, a one-line description, how its arguments parse into a
    command, and how the outcome's value (``Outcome.value``) is worded (None: nothing to print)."""

    name: str
    usage: str
    about: str
    parse: Callable[[list[str]], Command | Local]
    say: Callable[[Controller, Any, Any], str | None] = _say_nothing


COMMANDS: dict[str, ConsoleCommand] = {c.name: c for c in (
    ConsoleCommand("play", "play X Y [VELOCITY]", "move the cursor to a map point (0..1, y up) and play it",
                   _parse_play, _say_played),
    ConsoleCommand("move", "move X Y", "move the cursor; the exact sound there is made in the background",
                   _parse_move, _say_cursor),
    ConsoleCommand("trigger", "trigger [VELOCITY] [SEMITONES]",
                   "play the cursor's sound (velocity 0..1, pitch in semitones)", _parse_trigger, _say_played),
    ConsoleCommand("pad", "pad N [VELOCITY]", "play pad N (0..15)", _parse_pad, _say_if_not_heard),
    ConsoleCommand("setpad", "setpad N X Y", "store a map point on pad N", _parse_setpad, _say_pad),
    ConsoleCommand("note", "note NOTE VELOCITY", "a MIDI note-on: 36-51 play the pads, others the cursor pitched",
                   _parse_note, _say_if_not_heard),
    ConsoleCommand("locate", "locate FILE", "move the cursor to where an audio file lands on the map",
                   _parse_locate, _say_located),
    ConsoleCommand("variation", "variation N RADIUS [COUNT] [MODE]",
                   "round robin on pad N: variants within RADIUS (0 = off), cycle or random", _parse_variation,
                   _say_pad_setting),
    ConsoleCommand("layers", "layers N DX DY [LAYERS]", "velocity layers on pad N: soft hits move by (DX, DY)",
                   _parse_layers, _say_pad_setting),
    ConsoleCommand("shape", "shape N PARAM VALUE", "pad N's attack, hold, decay, length (ms) or tilt (-1..1)",
                   _parse_shape, _say_pad_setting),
    ConsoleCommand("lock", "lock N 1|0", "keep pad N's point when the kit is randomised (0 frees it)", _parse_lock,
                   _say_pad_setting),
    ConsoleCommand("randomize", "randomize", "a new point for every unlocked pad, in its name's class region",
                   lambda args: KitRandomize(), _say_kit),
    ConsoleCommand("undo", "undo", "the kit as it was before the last randomize or program change",
                   lambda args: KitUndo(), _say_kit),
    ConsoleCommand("model", "model DIR|NAME", "load another model in the background and switch to it",
                   _parse_model),
    ConsoleCommand("gain", "gain G", "output gain (0..4)", _parse_gain),
    ConsoleCommand("fx", "fx EFFECT PARAM VALUE", "set an effect parameter, e.g. fx reverb room_size 0.9", _parse_fx),
    ConsoleCommand("panic", "panic", "stop every voice", lambda args: Panic()),
    ConsoleCommand("reopen", "reopen", "try the audio output again now", lambda args: Reopen(), _say_reopened),
    ConsoleCommand("sleep", "sleep SECONDS", f"wait (0 to {MAX_SLEEP_S:g} s; for scripts piped into the console)",
                   _parse_sleep),
    ConsoleCommand("state", "state", "cursor, readiness and output state as JSON", lambda args: State(), _say_state),
    ConsoleCommand("metrics", "metrics", "latency, output, cache and voice figures as JSON", lambda args: Metrics(),
                   _say_metrics),
    ConsoleCommand("latency", "latency", "what to compensate: trigger to device in ms, and its parts, as JSON",
                   lambda args: Latency(), _say_state),
    ConsoleCommand("help", "help", "this list", lambda args: Help()),
    ConsoleCommand("quit", "quit", "stop gesam serve (so does Ctrl-D; `exit` too)", lambda args: Quit()),
)}
ALIASES = {"exit": "quit", "?": "help"}
HELP = "commands:\n" + "\n".join(f"  {c.usage:<35} {c.about}" for c in COMMANDS.values())
NAMES = ", ".join(COMMANDS)


def _entry(line: str) -> tuple[ConsoleCommand, list[str]] | None:
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    name, args = words[0].lower(), words[1:]
    entry = COMMANDS.get(ALIASES.get(name, name))
    if entry is None:
        raise ConsoleError(f"unknown command {name[:40]!r}; commands: {NAMES} (`help` says what each does)")
    return entry, args


def parse_line(line: str) -> Command | Local | None:
    """The command one console line means (None for a blank line or a comment); ConsoleError with
    the usage for anything else. ``play 0.3 0.7`` gives the same ``Play`` as ``/gesam/play 0.3 0.7``."""
    found = _entry(line)
    return None if found is None else found[0].parse(found[1])


def run_line(controller: Controller, line: str, sleep: Sleep = time.sleep) -> str | None:
    """Carry out one console line through ``controller``; returns text to print, or None. 'quit'
    raises EOFError; a bad line raises ConsoleError (or the engine's GesamError), never anything else."""
    found = _entry(line)
    if found is None:
        return None
    entry, args = found
    cmd = entry.parse(args)
    if isinstance(cmd, Wait):
        sleep(cmd.seconds)
        return None
    if isinstance(cmd, Help):
        return HELP
    if isinstance(cmd, Quit):
        raise EOFError
    return entry.say(controller, cmd, controller.run(cmd).value)
