"""A line-based control for the engine (typed or piped into ``gesam serve``): the simplest way
to play without an OSC or MIDI controller, and to script a bounce.

``run_line`` carries out one line; ``COMMANDS`` lists every command with its usage and a
one-line description (what ``help`` prints). Nothing a line says can end the caller: every
refusal is a ConsoleError (or the engine's own GesamError) with the usage; numbers must be
finite, and ``sleep`` is bounded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any, Callable

from gesam_engine.errors import GesamError

MAX_SLEEP_S = 3600.0  # `sleep` is for scripted bounces; an hour is more than any script needs

Sleep = Callable[[float], None]


class ConsoleError(GesamError, ValueError):
    """A console line that is not a command or has wrong arguments."""


@dataclasses.dataclass(frozen=True)
class Command:
    """One console command: its usage line, a one-line description and what it does."""

    name: str
    usage: str
    about: str
    run: Callable[[Any, list[str], Sleep], str | None]


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


def _heard(engine: Any, text: str) -> str:
    """``text`` when the output plays; otherwise say that nothing can be heard, and why."""
    output = engine.output
    if output.state == "running":
        return text
    reason = output.message.split(";", 1)[0]
    return f"not heard: the audio output is down ({output.state}: {reason}); `reopen` tries it again now"


def _played(engine: Any, info: Any) -> str:
    return _heard(engine, f"played {'exact' if info.exact else 'nearest'} {info.played_xy}")


def _move(engine: Any, args: list[str], sleep: Sleep) -> str:
    x, y = _floats(args, 2, 2, "move X Y")
    return f"cursor {engine.move(x, y)}"


def _trigger(engine: Any, args: list[str], sleep: Sleep) -> str:
    return _played(engine, engine.trigger(*_floats(args, 0, 2, "trigger [VELOCITY] [SEMITONES]")))


def _play(engine: Any, args: list[str], sleep: Sleep) -> str:
    return _played(engine, engine.play(*_floats(args, 2, 3, "play X Y [VELOCITY]")))


def _pad(engine: Any, args: list[str], sleep: Sleep) -> str | None:
    usage = "pad N [VELOCITY]"
    if not 1 <= len(args) <= 2:
        raise ConsoleError(f"usage: {usage}")
    n = _ints(args[:1], 1, usage)[0]
    engine.trigger_pad(n, *_floats(args[1:], 0, 1, usage))
    return None if engine.output.state == "running" else _heard(engine, "")


def _setpad(engine: Any, args: list[str], sleep: Sleep) -> str:
    usage = "setpad N X Y"
    if len(args) != 3:
        raise ConsoleError(f"usage: {usage}")
    n = _ints(args[:1], 1, usage)[0]
    x, y = _floats(args[1:], 2, 2, usage)
    return f"pad {n} = {engine.set_pad(n, x, y).xy}"


def _note(engine: Any, args: list[str], sleep: Sleep) -> str | None:
    note, vel = _ints(args, 2, "note NOTE VELOCITY")
    played = engine.note(note, vel)
    return None if played is None or engine.output.state == "running" else _heard(engine, "")


def _gain(engine: Any, args: list[str], sleep: Sleep) -> None:
    engine.gain(_floats(args, 1, 1, "gain G")[0])


def _panic(engine: Any, args: list[str], sleep: Sleep) -> None:
    engine.panic()


def _fx(engine: Any, args: list[str], sleep: Sleep) -> None:
    if len(args) != 3:
        raise ConsoleError("usage: fx EFFECT PARAM VALUE")
    value: Any = args[2]
    try:
        value = float(value)
    except ValueError:  # words pass as text (a VST3 choice, or an error from the effect)
        pass
    if isinstance(value, float) and not math.isfinite(value):
        raise ConsoleError(f"usage: fx EFFECT PARAM VALUE (a finite number expected, got {args[2]})")
    engine.set_effect(args[0], args[1], value)


def _reopen(engine: Any, args: list[str], sleep: Sleep) -> str:
    return "output playing" if engine.reopen_output() else f"output not available yet: {engine.output.message}"


def _sleep(engine: Any, args: list[str], sleep: Sleep) -> None:
    seconds = _floats(args, 1, 1, "sleep SECONDS")[0]
    if not 0.0 <= seconds <= MAX_SLEEP_S:
        raise ConsoleError(f"usage: sleep SECONDS (0 to {MAX_SLEEP_S:g} seconds, got {args[0]})")
    sleep(seconds)


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


def _state(engine: Any, args: list[str], sleep: Sleep) -> str:
    return to_json(engine.state())


def _metrics(engine: Any, args: list[str], sleep: Sleep) -> str:
    return json.dumps(json.loads(to_json(engine.metrics())), indent=1)


def _help(engine: Any, args: list[str], sleep: Sleep) -> str:
    return HELP


def _quit(engine: Any, args: list[str], sleep: Sleep) -> None:
    raise EOFError


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("play", "play X Y [VELOCITY]", "move the cursor to a map point (0..1, y up) and play it", _play),
    Command("move", "move X Y", "move the cursor; the exact sound there is made in the background", _move),
    Command("trigger", "trigger [VELOCITY] [SEMITONES]", "play the cursor's sound (velocity 0..1, pitch in semitones)",
            _trigger),
    Command("pad", "pad N [VELOCITY]", "play pad N (0..15)", _pad),
    Command("setpad", "setpad N X Y", "store a map point on pad N", _setpad),
    Command("note", "note NOTE VELOCITY", "a MIDI note-on: 36-51 play the pads, others the cursor pitched", _note),
    Command("gain", "gain G", "output gain (0..4)", _gain),
    Command("fx", "fx EFFECT PARAM VALUE", "set an effect parameter, e.g. fx reverb room_size 0.9", _fx),
    Command("panic", "panic", "stop every voice", _panic),
    Command("reopen", "reopen", "try the audio output again now", _reopen),
    Command("sleep", "sleep SECONDS", f"wait (0 to {MAX_SLEEP_S:g} s; for scripts piped into the console)", _sleep),
    Command("state", "state", "cursor, readiness and output state as JSON", _state),
    Command("metrics", "metrics", "latency, output, cache and voice figures as JSON", _metrics),
    Command("help", "help", "this list", _help),
    Command("quit", "quit", "stop gesam serve (so does Ctrl-D; `exit` too)", _quit),
)}
ALIASES = {"exit": "quit", "?": "help"}
HELP = "commands:\n" + "\n".join(f"  {c.usage:<32}{c.about}" for c in COMMANDS.values())
NAMES = ", ".join(COMMANDS)


def run_line(engine: Any, line: str, sleep: Sleep = time.sleep) -> str | None:
    """Carry out one console line on ``engine``; returns text to print, or None. 'quit' raises
    EOFError; a bad line raises ConsoleError (or the engine's GesamError), never anything else."""
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    cmd, args = words[0].lower(), words[1:]
    command = COMMANDS.get(ALIASES.get(cmd, cmd))
    if command is None:
        raise ConsoleError(f"unknown command {cmd[:40]!r}; commands: {NAMES} (`help` says what each does)")
    return command.run(engine, args, sleep)
