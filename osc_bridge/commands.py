"""Typed commands that every control surface (OSC, MIDI, the web map) turns its messages into.

Pure data: parsing makes them, ``Controller`` carries them out on the engine. Values are
already validated (finite, in range) when a command exists.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Move:
    """Move the cursor to a normalised map point; generation of that point starts."""

    x: float
    y: float


@dataclasses.dataclass(frozen=True, slots=True)
class Trigger:
    """Play the cursor's sound now."""

    velocity: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class Play:
    """Move and play in one message."""

    x: float
    y: float
    velocity: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class PadXY:
    """Store a map point on a pad (kit mode)."""

    pad: int
    x: float
    y: float


@dataclasses.dataclass(frozen=True, slots=True)
class PadTrigger:
    """Play a pad."""

    pad: int
    velocity: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    """A MIDI-style note-on: pad notes play pads, other notes the cursor pitched from the root."""

    note: int
    velocity: int


@dataclasses.dataclass(frozen=True, slots=True)
class PitchBend:
    """Pitch offset in semitones for cursor play (MIDI pitch bend)."""

    semitones: float


@dataclasses.dataclass(frozen=True, slots=True)
class FxParam:
    """Set an effect parameter."""

    effect: str
    param: str
    value: float | str | bool


@dataclasses.dataclass(frozen=True, slots=True)
class Gain:
    """Output gain, linear 0..4."""

    value: float


@dataclasses.dataclass(frozen=True, slots=True)
class Panic:
    """Stop every voice."""


@dataclasses.dataclass(frozen=True, slots=True)
class Render:
    """Write the sound at a point to a WAV file (a path inside the engine's render folder)."""

    x: float
    y: float
    path: str


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    """Answered by /gesam/pong."""


@dataclasses.dataclass(frozen=True, slots=True)
class Learn:
    """MIDI learn: the next controller moved becomes ``target`` ('x' or 'y')."""

    target: str


@dataclasses.dataclass(frozen=True, slots=True)
class ProgramChange:
    """Load saved kit number ``program`` (0..127)."""

    program: int


Command = (Move | Trigger | Play | PadXY | PadTrigger | Note | PitchBend | FxParam | Gain | Panic | Render
           | Ping | Learn | ProgramChange)
