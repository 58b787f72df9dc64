"""Wiring the control surfaces into ``gesam serve``: MIDI input and kit program changes.

The CLI is the one place that knows both the engine and the bridges; the runtime never imports
a bridge and the bridges never import the runtime.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable


def add_midi_arguments(p: argparse.ArgumentParser) -> None:
    """MIDI and kit options of ``gesam serve``."""
    p.add_argument("--midi", action="store_true", help="open a virtual MIDI input named gesam_in")
    p.add_argument("--midi-backend", metavar="NAME", help="alsa, jack, coremidi, windows (default: $MIDO_BACKEND or mido's)")
    p.add_argument("--midi-connect", nargs="+", default=[], metavar="PORT",
                   help="also connect to inputs whose names contain PORT")
    p.add_argument("--midi-map", type=Path, metavar="TOML", help="MIDI mapping ([midi] table); MIDI learn saves into it")
    p.add_argument("--kits", type=Path, metavar="DIR", default=Path("kits"),
                   help="saved kits for program changes (NNN-name.toml)")


def program_loader(engine: Any, kits_dir: Path) -> Callable[[int], list[tuple[str, list[Any]]]]:
    """A callback for ProgramChange: load kit ``program`` from ``kits_dir`` onto the engine's pads."""
    from gesam_engine.runtime.kits import KitLibrary

    library = KitLibrary(kits_dir, pads=len(engine.kit().pads))

    def load(program: int) -> list[tuple[str, list[Any]]]:
        kit = library.get(program)
        engine.apply_kit(kit)
        return [("/gesam/state/kit", [program, kit.name])]

    return load


def start_midi(args: argparse.Namespace, execute: Callable[[Any], Any], say: Callable[..., None]) -> Any:
    """Open MIDI when asked; a missing MIDI system is one printed line and the engine plays on."""
    if not (args.midi or args.midi_connect):
        return None
    from osc_bridge.midi.input import MidiInput, MidiUnavailable
    from osc_bridge.midi.map import MidiMapping

    mapping = MidiMapping.load(args.midi_map) if args.midi_map is not None and args.midi_map.exists() else MidiMapping()

    def learned(new: MidiMapping) -> None:
        controls = "".join(f", CC {cc} = {target}" for cc, target in sorted(new.controls.items(), key=lambda i: int(i[0])))
        say(f"[midi] learned: x = CC {new.x_cc}, y = CC {new.y_cc}{controls}")
        if args.midi_map is not None:
            new.save(args.midi_map)

    try:
        midi = MidiInput(execute, mapping, backend=args.midi_backend, virtual_name="gesam_in" if args.midi else "",
                         connect=tuple(args.midi_connect), on_learned=learned,
                         on_port_change=lambda line: say(f"[midi] {line}")).start()
    except MidiUnavailable as exc:
        say(f"[midi] {exc} (playing on without MIDI)")
        return None
    say(f"[midi] listening on {', '.join(midi.port_names)}")
    return midi
