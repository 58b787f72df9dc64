"""A line-based control for the engine (typed or piped into ``gesam serve``): the simplest way
to play without an OSC or MIDI controller, and to script a bounce.

Commands: move X Y | trigger [VEL] [SEMITONES] | play X Y [VEL] | pad N [VEL] | setpad N X Y |
note NOTE VEL | gain G | panic | fx EFFECT PARAM VALUE | reopen | sleep SECONDS | state | metrics | quit
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from gesam_engine.errors import GesamError

HELP = __doc__.split("Commands: ", 1)[1].strip()


class ConsoleError(GesamError, ValueError):
    """A console line that is not a command or has wrong arguments."""


def _floats(args: list[str], n_min: int, n_max: int, usage: str) -> list[float]:
    if not n_min <= len(args) <= n_max:
        raise ConsoleError(f"usage: {usage}")
    try:
        return [float(a) for a in args]
    except ValueError:
        raise ConsoleError(f"usage: {usage} (numbers expected, got {' '.join(args)})") from None


def _ints(args: list[str], n: int, usage: str) -> list[int]:
    if len(args) != n:
        raise ConsoleError(f"usage: {usage}")
    try:
        return [int(a) for a in args]
    except ValueError:
        raise ConsoleError(f"usage: {usage} (integers expected, got {' '.join(args)})") from None


def run_line(engine: Any, line: str, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """Carry out one console line on ``engine``; returns text to print, or None. 'quit' raises EOFError."""
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    cmd, args = words[0].lower(), words[1:]
    if cmd in ("quit", "exit"):
        raise EOFError
    if cmd == "move":
        x, y = _floats(args, 2, 2, "move X Y")
        return f"cursor {engine.move(x, y)}"
    if cmd == "trigger":
        vals = _floats(args, 0, 2, "trigger [VELOCITY] [SEMITONES]")
        info = engine.trigger(*vals)
        return f"played {'exact' if info.exact else 'nearest'} {info.played_xy}"
    if cmd == "play":
        vals = _floats(args, 2, 3, "play X Y [VELOCITY]")
        info = engine.play(*vals)
        return f"played {'exact' if info.exact else 'nearest'} {info.played_xy}"
    if cmd == "pad":
        if not 1 <= len(args) <= 2:
            raise ConsoleError("usage: pad N [VELOCITY]")
        n = _ints(args[:1], 1, "pad N [VELOCITY]")[0]
        vel = _floats(args[1:], 0, 1, "pad N [VELOCITY]")
        engine.trigger_pad(n, *vel)
        return None
    if cmd == "setpad":
        if len(args) != 3:
            raise ConsoleError("usage: setpad N X Y")
        n = _ints(args[:1], 1, "setpad N X Y")[0]
        x, y = _floats(args[1:], 2, 2, "setpad N X Y")
        return f"pad {n} = {engine.set_pad(n, x, y).xy}"
    if cmd == "note":
        note, vel = _ints(args, 2, "note NOTE VELOCITY")
        engine.note(note, vel)
        return None
    if cmd == "gain":
        engine.gain(_floats(args, 1, 1, "gain G")[0])
        return None
    if cmd == "panic":
        engine.panic()
        return None
    if cmd == "fx":
        if len(args) != 3:
            raise ConsoleError("usage: fx EFFECT PARAM VALUE")
        value: Any = args[2]
        try:
            value = float(value)
        except ValueError:
            pass
        engine.set_effect(args[0], args[1], value)
        return None
    if cmd == "reopen":
        return "output playing" if engine.reopen_output() else "output not available yet (retrying in the background)"
    if cmd == "sleep":
        sleep(_floats(args, 1, 1, "sleep SECONDS")[0])
        return None
    if cmd == "state":
        return json.dumps(engine.state())
    if cmd == "metrics":
        return json.dumps(engine.metrics(), indent=1)
    if cmd == "help":
        return HELP
    raise ConsoleError(f"unknown command {cmd!r}; commands: {HELP}")
