"""MIDI messages to typed commands: the mapping (a ``[midi]`` TOML table) and the pure mapper.

No I/O and no ports here: ``MidiMapper.map(msg)`` takes a mido ``Message`` (anything with
``type``/``channel``/... attributes) and returns the commands it means. ``osc_bridge.midi.input``
wires it to a real port. Defaults follow the design page: X/Y on CC 16/17 with 14-bit pairs
16/48 and 17/49, pads on notes 36-51, pitch bend +-2 semitones, program change loads kits.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path
from typing import Any, Mapping

import tomli_w

from gesam_engine.atomic_io import atomic_write
from gesam_engine.config import check, from_dict, read_toml, to_dict
from gesam_engine.errors import ConfigError
from osc_bridge.commands import Command, Move, Note, PitchBend, ProgramChange
from osc_bridge.midi.controls import ControlTarget, parse_target

NO_CC = -1
"""``x_cc_lsb`` / ``y_cc_lsb`` value meaning "no 14-bit LSB controller for this axis"."""

VELOCITY_MODES = ("played", "fixed")
LEARN_TARGETS = ("x", "y")


@dataclasses.dataclass(frozen=True)
class MidiMapping:
    """How MIDI controls the instrument (the ``[midi]`` table of a mapping file).

    ``channel``: 0 = every channel (omni), 1..16 = only that channel.
    ``x_cc``/``y_cc``: controllers (0..119) that move the cursor; ``x_cc_lsb``/``y_cc_lsb``: their
    14-bit LSB partners (0..119, or -1 for none).
    ``first_pad_note``/``pads``: the controller's pad notes (the engine plays notes in its own
    pad range as pads; ``MidiMapper.pad_of`` answers for this layout).
    ``bend_range``: semitones at full pitch-bend deflection (0..48).
    ``velocity``: "played" passes the note's velocity, "fixed" plays every note at ``fixed_velocity``.
    ``program_change_kits``: program change loads saved kit ``program``.
    ``controls``: more controllers, ``{"20" = "pad/0/shape/decay"}`` (``midi.controls``: pad
    shapes, variation, kit randomize and undo); MIDI learn of such a target adds to it.
    """

    channel: int = 0
    x_cc: int = 16
    y_cc: int = 17
    x_cc_lsb: int = 48
    y_cc_lsb: int = 49
    first_pad_note: int = 36
    pads: int = 16
    bend_range: float = 2.0
    velocity: str = "played"
    fixed_velocity: int = 100
    program_change_kits: bool = True
    controls: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        check(0 <= self.channel <= 16, f"midi.channel must be 0 (omni) or 1..16, got {self.channel}")
        for key in ("x_cc", "y_cc"):
            value = getattr(self, key)
            check(0 <= value <= 119, f"midi.{key} must be a controller number in 0..119, got {value}")
        for key in ("x_cc_lsb", "y_cc_lsb"):
            value = getattr(self, key)
            check(value == NO_CC or 0 <= value <= 119,
                  f"midi.{key} must be a controller number in 0..119 or -1 for none, got {value}")
        used = [("x_cc", self.x_cc), ("y_cc", self.y_cc), ("x_cc_lsb", self.x_cc_lsb), ("y_cc_lsb", self.y_cc_lsb)]
        seen: dict[int, str] = {}
        for key, value in used:
            if value == NO_CC:
                continue
            check(value not in seen, f"midi.{key} and midi.{seen.get(value)} are both controller {value}; "
                                     "each axis needs its own controllers")
            seen[value] = key
        check(0 <= self.pads <= 64, f"midi.pads must be in 0..64, got {self.pads}")
        check(0 <= self.first_pad_note <= 128 - self.pads,
              f"midi.first_pad_note + pads must stay within notes 0..127, got {self.first_pad_note} + {self.pads}")
        check(math.isfinite(self.bend_range) and 0 <= self.bend_range <= 48,
              f"midi.bend_range must be in 0..48 semitones, got {self.bend_range}")
        check(self.velocity in VELOCITY_MODES,
              f"midi.velocity must be one of {list(VELOCITY_MODES)}, got {self.velocity!r}")
        for cc, target in self.controls.items():
            check(cc.isascii() and cc.isdigit() and 0 <= int(cc) <= 119,
                  f"midi.controls keys must be controller numbers 0..119, got {cc!r}")
            check(int(cc) not in seen, f"midi.controls: controller {cc} already moves the cursor (midi.{seen.get(int(cc))})")
            try:
                parse_target(target, max(self.pads, 1))
            except ValueError as exc:
                check(False, f"midi.controls.{cc}: {exc}")
        check(1 <= self.fixed_velocity <= 127, f"midi.fixed_velocity must be in 1..127, got {self.fixed_velocity}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> MidiMapping:
        """From the contents of a ``[midi]`` table; unknown keys and bad values raise ConfigError."""
        return from_dict(cls, data, "midi")

    @classmethod
    def load(cls, path: str | Path) -> MidiMapping:
        """Read the ``[midi]`` table of a TOML file (other tables are left to their owners)."""
        data = read_toml(path)
        table = data.get("midi")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{path} has no [midi] table; a MIDI mapping file looks like:\n{cls().to_toml()}")
        return cls.from_dict(table)

    def to_dict(self) -> dict[str, Any]:
        """The ``[midi]`` table as a plain dict."""
        return to_dict(self)

    def to_toml(self) -> str:
        """This mapping as a TOML document with one ``[midi]`` table (``load`` reads it back)."""
        return tomli_w.dumps({"midi": self.to_dict()})

    def save(self, path: str | Path) -> Path:
        """Write ``to_toml()`` to ``path`` in one step (``atomic_write``: random temporary name, rename); the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(p, self.to_toml())


class MidiMapper:
    """Turns MIDI messages into commands, remembering the cursor and the 14-bit MSBs it saw.

    ``map`` is called by the MIDI thread, ``learn`` by any thread (a lock keeps them apart).
    """

    def __init__(self, mapping: MidiMapping | None = None) -> None:
        self._mapping = mapping or MidiMapping()
        self._lock = threading.Lock()
        self._xy = [0.5, 0.5]
        self._msb: list[int | None] = [None, None]  # last MSB per axis, for the LSB that follows
        self._learning: str | None = None
        self._values: dict[int, int] = {}  # last value per controller, for kit-action presses

    @property
    def mapping(self) -> MidiMapping:
        """The current mapping (changes after a MIDI learn)."""
        return self._mapping

    @property
    def learning(self) -> str | None:
        """The axis waiting for a controller ('x' or 'y'), or None."""
        return self._learning

    @property
    def cursor(self) -> tuple[float, float]:
        """The last x, y this mapper sent (0.5, 0.5 before any move)."""
        return self._xy[0], self._xy[1]

    def learn(self, target: str | None) -> None:
        """Arm MIDI learn: the next controller moved (on the mapped channel) becomes axis ``target``.

        ``None`` disarms. Raises ConfigError for a target other than 'x', 'y' or a control target
        (``osc_bridge.midi.controls``: ``pad/3/shape/decay``, ``kit/randomize``, ...).
        """
        if target is not None and target not in LEARN_TARGETS:
            try:
                parse_target(target, max(self._mapping.pads, 1))
            except ValueError as exc:
                raise ConfigError(f"MIDI learn target must be x, y or a control target: {exc}") from None
        with self._lock:
            self._learning = target

    def pad_of(self, note: int) -> int | None:
        """The pad a note plays in this mapping's layout, or None for a pitched note."""
        m = self._mapping
        return note - m.first_pad_note if m.first_pad_note <= note < m.first_pad_note + m.pads else None

    def map(self, msg: Any) -> list[Command]:
        """The commands ``msg`` (a mido Message) means; [] for anything this mapping ignores."""
        kind = getattr(msg, "type", None)
        m = self._mapping
        if m.channel and getattr(msg, "channel", None) != m.channel - 1:
            return []  # also drops channel-less messages (clock, sysex) when a channel is set
        if kind == "control_change":
            with self._lock:
                return self._control(msg.control, msg.value)
        if kind == "note_on":
            if msg.velocity == 0:
                return []  # a note-off in disguise: one-shots ring out
            velocity = msg.velocity if m.velocity == "played" else m.fixed_velocity
            return [Note(int(msg.note), int(velocity))]
        if kind == "pitchwheel":
            return [PitchBend(msg.pitch / 8192.0 * m.bend_range)]
        if kind == "program_change":
            return [ProgramChange(int(msg.program))] if m.program_change_kits else []
        return []

    def _control(self, control: int, value: int) -> list[Command]:
        """One controller change (under the lock)."""
        if self._learning is not None:
            self._assign(self._learning, control)
        m = self._mapping
        target = m.controls.get(str(control))
        if target is not None:
            previous = self._values.get(control)
            self._values[control] = value
            cmd = self._target(target).command(value, previous)
            return [cmd] if cmd is not None else []
        for axis, (msb, lsb) in enumerate(((m.x_cc, m.x_cc_lsb), (m.y_cc, m.y_cc_lsb))):
            if control == msb:
                self._msb[axis] = value
                self._xy[axis] = value / 127.0
                return [Move(self._xy[0], self._xy[1])]
            if control == lsb:
                high = self._msb[axis]
                if high is None:
                    return []  # an LSB with no MSB yet says nothing on its own
                self._xy[axis] = ((high << 7) | value) / 16383.0
                return [Move(self._xy[0], self._xy[1])]
        return []

    def _target(self, text: str) -> ControlTarget:
        return parse_target(text, max(self._mapping.pads, 1))  # valid: the mapping checked it

    def _assign_control(self, target: str, control: int) -> None:
        """MIDI learn of a control target: ``control`` drives it (instead of any controller before)."""
        m = self._mapping
        if control in {m.x_cc, m.y_cc, m.x_cc_lsb, m.y_cc_lsb}:
            return  # a cursor controller stays the cursor's: learn stays armed for another one
        controls = {cc: t for cc, t in m.controls.items() if t != target}
        controls[str(control)] = target
        try:
            self._mapping = dataclasses.replace(m, controls=controls)
        except ConfigError:  # a channel mode controller (120..127: all notes off, ...): learn stays armed
            return
        self._values.pop(control, None)
        self._learning = None

    def _assign(self, target: str, control: int) -> None:
        """MIDI learn: ``control`` (and its LSB partner control+32 when below 32) drive ``target``.

        When the new controllers are the other axis's, the axes swap controllers. A controller
        that cannot be used (a mapping that would not validate) leaves learn armed.
        """
        if target not in LEARN_TARGETS:
            self._assign_control(target, control)
            return
        m = self._mapping
        lsb = control + 32 if control < 32 else NO_CC
        mine, other = ("x", "y") if target == "x" else ("y", "x")
        changes: dict[str, Any] = {f"{mine}_cc": control, f"{mine}_cc_lsb": lsb,
                                   "controls": {cc: t for cc, t in m.controls.items() if int(cc) not in (control, lsb)}}
        other_ccs = {getattr(m, f"{other}_cc"), getattr(m, f"{other}_cc_lsb")} - {NO_CC}
        if {control, lsb} & other_ccs:
            changes[f"{other}_cc"] = getattr(m, f"{mine}_cc")
            changes[f"{other}_cc_lsb"] = getattr(m, f"{mine}_cc_lsb")
        try:
            self._mapping = dataclasses.replace(m, **changes)
        except ConfigError:
            return
        self._msb = [None, None]
        self._learning = None
