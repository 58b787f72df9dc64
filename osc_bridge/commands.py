"""Typed commands: the one vocabulary every control surface turns its input into.

The console (``osc_bridge.console``), OSC and the web map (``osc_bridge.osc.parse``) and MIDI
(``osc_bridge.midi.map``) parse into these; ``osc_bridge.controller.Controller`` carries them
out on the engine through one dispatch table. Pure data: numbers are finite when a command
exists; ranges are checked by the parser where it can (OSC clamps velocities, refuses pads
beyond the engine's count) and always by the engine.

``Reopen``, ``State`` and ``Metrics`` come from the console only (no OSC address): the OSC
side pushes state as replies instead of answering queries.
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
    """Play the cursor's sound now, ``semitones`` (plus the pitch bend) away from its pitch."""

    velocity: float = 1.0
    semitones: float = 0.0  # the console's `trigger VELOCITY SEMITONES`; OSC pitches with /gesam/bend or /gesam/note
    at: float | None = None  # perf_counter time to land on (a bundle's time tag, a MIDI timestamp); None = now


@dataclasses.dataclass(frozen=True, slots=True)
class Play:
    """Move and play in one message."""

    x: float
    y: float
    velocity: float = 1.0
    at: float | None = None  # as Trigger.at


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
    at: float | None = None  # as Trigger.at


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    """A MIDI-style note-on: pad notes play pads, other notes the cursor pitched from the root."""

    note: int
    velocity: int
    at: float | None = None  # as Trigger.at


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
class Latency:
    """Answered by /gesam/state/latency: what a DAW or patch should compensate (console `latency`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Learn:
    """MIDI learn: the next controller moved drives ``target`` ('x', 'y' or a target of
    ``osc_bridge.midi.controls``: 'pad/3/shape/decay', 'kit/randomize', ...)."""

    target: str


@dataclasses.dataclass(frozen=True, slots=True)
class ProgramChange:
    """Load saved kit number ``program`` (0..127)."""

    program: int


@dataclasses.dataclass(frozen=True, slots=True)
class Locate:
    """Query by example: move the cursor to where an audio file lands on the map."""

    path: str


SHAPE_PARAMS = ("attack", "hold", "decay", "length", "tilt")
"""A pad's shape settings (``PadShape.param``), as ``gesam_engine.runtime.pads.SHAPE_PARAMS``: the
bridge keeps its own copy because it never imports the runtime."""
VARIATION_MODES = ("cycle", "random")
"""How a pad's variants take turns (``PadVariation.mode``), as the runtime's ``pads.VARIATION_MODES``."""


@dataclasses.dataclass(frozen=True, slots=True)
class PadVariation:
    """Round robin on a pad: ``variants`` sounds within ``radius`` of its point, cycled or at random."""

    pad: int
    radius: float
    variants: int | None = None  # None: keep the pad's
    mode: str | None = None  # "cycle" or "random"; None: keep the pad's


@dataclasses.dataclass(frozen=True, slots=True)
class PadLayers:
    """Velocity layers on a pad: a soft hit moves its point by (1 - velocity) * (dx, dy)."""

    pad: int
    dx: float
    dy: float
    layers: int | None = None  # None: keep the pad's


@dataclasses.dataclass(frozen=True, slots=True)
class PadShape:
    """One shape parameter of a pad: attack, hold, decay, length (ms) or tilt (-1..1)."""

    pad: int
    param: str
    value: float


@dataclasses.dataclass(frozen=True, slots=True)
class PadLock:
    """Lock a pad's point against kit randomising (or free it)."""

    pad: int
    locked: bool


@dataclasses.dataclass(frozen=True, slots=True)
class KitRandomize:
    """A new point for every unlocked pad, inside the class region its name says."""


@dataclasses.dataclass(frozen=True, slots=True)
class KitUndo:
    """The pads as they were before the last kit change."""


@dataclasses.dataclass(frozen=True, slots=True)
class ModelSwitch:
    """Load a model (a directory, or a name under the models folder) and switch to it when ready."""

    spec: str


@dataclasses.dataclass(frozen=True, slots=True)
class Sounds:
    """Answered by /gesam/state/sound for the cursor and every pad (the DAW sampler devices)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Reopen:
    """Try the audio output again now (console `reopen`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class State:
    """Cursor, readiness and output state (console `state`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Metrics:
    """Latency, output, cache and voice figures (console `metrics`)."""


Command = (Move | Trigger | Play | PadXY | PadTrigger | Note | PitchBend | FxParam | Gain | Panic | Render
           | Ping | Latency | Learn | ProgramChange | Locate | PadVariation | PadLayers | PadShape | PadLock
           | KitRandomize | KitUndo | ModelSwitch | Sounds | Reopen | State | Metrics)


TIMED = (Trigger, Play, PadTrigger, Note)
"""The commands that can carry a time (``at``): the ones that start a sound."""

SLOW = (Render, Locate, Sounds)
"""The commands that take the model (or the disk) tens of ms or more: OSC runs them on a thread of their own."""
