"""Carries out bridge commands on the engine and says what to answer.

The engine arrives as an object (duck-typed: ``gesam_engine.runtime.engine.Engine``), so the
bridge never imports the runtime or torch. Errors from the engine (GesamError) propagate to
the caller, which answers them on ``/gesam/error``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from gesam_engine.atomic_io import atomic_write_with
from gesam_engine.errors import GesamError
from osc_bridge.commands import (
    Command, FxParam, Gain, Learn, Move, Note, Panic, PadTrigger, PadXY, Ping, PitchBend, Play, ProgramChange, Render,
    Trigger,
)

Reply = tuple[str, list[Any]]  # (OSC address, arguments)


class BridgeError(GesamError, ValueError):
    """A command the bridge refuses (bad render path, no kit loader, ...)."""


class Controller:
    """Executes commands on ``engine``; ``render_dir`` is the only place /gesam/render may write."""

    def __init__(self, engine: Any, render_dir: Path = Path("renders"),
                 on_learn: Callable[[str], None] | None = None,
                 on_program: Callable[[int], list[Reply]] | None = None) -> None:
        self.engine = engine
        self.render_dir = Path(render_dir)
        self.on_learn = on_learn
        self.on_program = on_program

    def render_path(self, path: str) -> Path:
        """Where ``path`` lands inside ``render_dir``, symlinks resolved; anything that would land
        outside (``..``, an absolute path, a symlinked file or sub-folder pointing out) is refused,
        as are control characters (NUL, newline, ...) in the name."""
        bad = next((c for c in path if ord(c) < 32 or ord(c) == 127), None)
        if bad is not None:
            raise BridgeError(f"render path {path!r} contains the control character {bad!r}; "
                              "use printable characters only, e.g. takes/kick.wav")
        if not path:
            raise BridgeError("render path must be a non-empty file name, e.g. kick.wav")
        p = Path(path)
        if p.is_absolute() or ".." in p.parts:
            raise BridgeError(f"render path {path!r} must stay inside the render folder {self.render_dir}")
        if not p.name or p.name in (".", "..") or not p.parts:
            raise BridgeError(f"render path {path!r} must end in a file name, e.g. kick.wav")
        if any(len(part.encode()) > 200 for part in p.parts):
            raise BridgeError(f"render path {path[:40]!r}... has a name longer than 200 bytes")
        if p.suffix.lower() != ".wav":
            p = p.with_suffix(p.suffix + ".wav") if p.suffix else p.with_suffix(".wav")
        try:
            root = self.render_dir.resolve()
            final = (root / p).resolve()  # follows every symlink on the way, the file's own included
        except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13)
            raise BridgeError(f"render path {path!r} cannot be resolved: {exc}") from None
        if final == root or not final.is_relative_to(root):
            raise BridgeError(f"render path {path!r} leads to {final} (through a symbolic link), outside the "
                              f"render folder {root}; renders are written only inside it")
        return final

    def execute(self, cmd: Command) -> list[Reply]:
        """Carry out ``cmd``; the replies to send back (may be empty). Raises GesamError on refusal."""
        e = self.engine
        if isinstance(cmd, Move):
            x, y = e.move(cmd.x, cmd.y)
            return [("/gesam/state/xy", [x, y]), *self.map_replies()]
        if isinstance(cmd, Trigger):
            e.trigger(cmd.velocity)
            return []
        if isinstance(cmd, Play):
            e.play(cmd.x, cmd.y, cmd.velocity)
            x, y = e.cursor
            return [("/gesam/state/xy", [x, y]), *self.map_replies()]
        if isinstance(cmd, PadXY):
            pad = e.set_pad(cmd.pad, cmd.x, cmd.y)
            return [(f"/gesam/state/pad/{cmd.pad}/xy", [pad.x, pad.y])]
        if isinstance(cmd, PadTrigger):
            e.trigger_pad(cmd.pad, cmd.velocity)
            return []
        if isinstance(cmd, Note):
            e.note(cmd.note, cmd.velocity)
            return []
        if isinstance(cmd, PitchBend):
            e.bend(cmd.semitones)
            return []
        if isinstance(cmd, FxParam):
            e.set_effect(cmd.effect, cmd.param, cmd.value)
            return []
        if isinstance(cmd, Gain):
            e.gain(cmd.value)
            return []
        if isinstance(cmd, Panic):
            e.panic()
            return []
        if isinstance(cmd, Ping):
            return [("/gesam/pong", [])]
        if isinstance(cmd, Render):
            return self._render(cmd)
        if isinstance(cmd, Learn):
            if self.on_learn is None:
                raise BridgeError("MIDI learn needs a MIDI input; start the engine with MIDI enabled")
            self.on_learn(cmd.target)
            return [("/gesam/state/learn", [cmd.target])]
        if isinstance(cmd, ProgramChange):
            if self.on_program is None:
                raise BridgeError("no kits are available to load")
            return self.on_program(cmd.program)
        raise BridgeError(f"not a command: {type(cmd).__name__}")

    def map_replies(self) -> list[Reply]:
        """/gesam/state/class (name, colour) and /gesam/state/features (FEATURES order) at the
        cursor, from the model's maps; nothing when it has none."""
        info = self.engine.map_info() if hasattr(self.engine, "map_info") else None
        if not info:
            return []
        replies: list[Reply] = []
        if info.get("class"):
            replies.append(("/gesam/state/class", [info["class"]["name"], info["class"]["color"]]))
        if info.get("features"):
            replies.append(("/gesam/state/features", [float(v) for v in info["features"].values()]))
        return replies

    def _render(self, cmd: Render) -> list[Reply]:
        """Write the point's sound as 24-bit WAV through ``atomic_write_with`` (random O_EXCL
        temporary name in the target's folder, then ``os.replace``), so no planted name is followed."""
        import soundfile as sf

        path = self.render_path(cmd.path)
        wave = np.asarray(self.engine.render(cmd.x, cmd.y), dtype=np.float32)
        rate = int(self.engine.sample_rate)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_with(path, lambda fh: sf.write(fh, wave, rate, subtype="PCM_24", format="WAV"))
        except (OSError, RuntimeError) as exc:  # soundfile raises RuntimeError-like LibsndfileError
            raise BridgeError(f"cannot write {path}: {exc}") from None
        return [("/gesam/state/render", [str(path)])]
