"""MIDI controllers on pad settings and kit actions: the targets a controller can be learned onto
and what a controller value (0..127) means for each.

A target is written like the OSC address without ``/gesam/``: ``pad/3/shape/decay``,
``pad/3/variation``, ``kit/randomize``, ``kit/undo``. Knob ranges are what a hand wants, not the
whole range the engine accepts: envelope times follow a square curve (fine control of short
times) up to ``KNOB_MS``; tilt is -1..1; the variation radius 0..``KNOB_VARIATION``. A kit action
fires when the controller goes from below 64 to 64 or above (a button press, not its release).
"""

from __future__ import annotations

import dataclasses

from osc_bridge.commands import SHAPE_PARAMS, Command, KitRandomize, KitUndo, PadShape, PadVariation

KNOB_MS = {"attack": 500.0, "hold": 2000.0, "decay": 2000.0, "length": 2000.0}
KNOB_VARIATION = 0.25
KIT_ACTIONS: dict[str, type[KitRandomize] | type[KitUndo]] = {"kit/randomize": KitRandomize, "kit/undo": KitUndo}


@dataclasses.dataclass(frozen=True)
class ControlTarget:
    """A parsed target: ``pad`` (-1 for a kit action), ``what`` (a shape parameter, "variation", or
    the kit action's target text)."""

    pad: int
    what: str

    def command(self, value: int, previous: int | None) -> Command | None:
        """The command for controller ``value`` (0..127) after ``previous`` (None: the first seen)."""
        if self.pad < 0:
            pressed = value >= 64 and (previous is None or previous < 64)
            return KIT_ACTIONS[self.what]() if pressed else None
        share = value / 127.0
        if self.what == "variation":
            return PadVariation(self.pad, round(share * KNOB_VARIATION, 4))
        if self.what == "tilt":
            return PadShape(self.pad, "tilt", round(2.0 * share - 1.0, 4))
        return PadShape(self.pad, self.what, round(share * share * KNOB_MS[self.what], 2))


def parse_target(text: str, pads: int) -> ControlTarget:
    """The target ``text`` names; ValueError saying what targets look like otherwise."""
    if text in KIT_ACTIONS:
        return ControlTarget(-1, text)
    parts = text.split("/")
    if len(parts) in (3, 4) and parts[0] == "pad" and parts[1].isascii() and parts[1].isdigit() and len(parts[1]) <= 3:
        n = int(parts[1])
        if n < pads:
            if len(parts) == 3 and parts[2] == "variation":
                return ControlTarget(n, "variation")
            if len(parts) == 4 and parts[2] == "shape" and parts[3] in SHAPE_PARAMS:
                return ControlTarget(n, parts[3])
    raise ValueError(f"not a MIDI control target: {text[:60]!r}; targets are x, y, kit/randomize, kit/undo, "
                     f"pad/N/variation and pad/N/shape/{{{','.join(SHAPE_PARAMS)}}} with N in 0..{pads - 1}")
