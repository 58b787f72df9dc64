"""Carries out every control surface's commands on the engine and says what to answer.

One ``Controller`` serves the console, OSC, MIDI and the web map: ``run`` looks the command's
type up in ``HANDLERS`` (one handler per class of ``osc_bridge.commands``) and returns an
``Outcome``: the OSC replies, and the engine's own answer for the console to word. The engine
is typed as ``EngineLike`` (``osc_bridge.engine_like``), so the bridge never imports the runtime
or torch. Errors from the engine (GesamError) propagate to the caller, which answers them on
``/gesam/error`` (OSC), as a 400 (web) or as ``error: ...`` (console).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gesam_engine.atomic_io import atomic_write_with
from gesam_engine.errors import GesamError
from osc_bridge.commands import (
    Command, FxParam, Gain, KitRandomize, KitUndo, Latency, Learn, Locate, Metrics, ModelSwitch, Move, Note, PadLayers,
    PadLock, PadShape, PadTrigger, PadVariation, PadXY, Panic, Ping, PitchBend, Play, ProgramChange, Render, Reopen,
    Sounds, State, Trigger,
)
from osc_bridge.engine_like import EngineLike

Reply = tuple[str, list[Any]]  # (OSC address, arguments)


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What carrying out a command gave: ``replies`` for OSC and the web, ``value`` (what the
    engine answered: a trigger's info, the clamped cursor, a pad, state or metrics) for the console."""

    replies: list[Reply]
    value: Any = None


class BridgeError(GesamError, ValueError):
    """A command the bridge refuses (bad render path, no kit loader, ...)."""


class Controller:
    """Executes commands on ``engine``; ``render_dir`` is the only place /gesam/render may write."""

    def __init__(self, engine: EngineLike, render_dir: Path = Path("renders"),
                 on_learn: Callable[[str], None] | None = None,
                 on_program: Callable[[int], list[Reply]] | None = None,
                 on_sounds: Callable[[], list[Reply]] | None = None) -> None:
        """``on_learn`` starts MIDI learn, ``on_program`` loads a saved kit, ``on_sounds`` answers
        /gesam/sounds (the sound files of ``osc_bridge.sound_files``); each is None where serve has none."""
        self.engine = engine
        self.render_dir = Path(render_dir)
        self.on_learn = on_learn
        self.on_program = on_program
        self.on_sounds = on_sounds

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
        return self.run(cmd).replies

    def run(self, cmd: Command) -> Outcome:
        """Carry out ``cmd`` through its handler in ``HANDLERS``; raises GesamError on refusal."""
        handler = HANDLERS.get(type(cmd))
        if handler is None:
            raise BridgeError(f"not a command: {type(cmd).__name__}")
        return handler(self, cmd)

    def output_status(self) -> tuple[str, str]:
        """The audio output's (state, message); state is "running" while it plays."""
        output = self.engine.output
        return output.state, output.message

    def map_replies(self) -> list[Reply]:
        """/gesam/state/class (name, colour) and /gesam/state/features (FEATURES order) at the
        cursor, from the model's maps; nothing when it has none."""
        info = self.engine.map_info()
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


# ---- the dispatch table: one handler per command class ------------------------------------------
def _move(c: Controller, cmd: Move) -> Outcome:
    xy = c.engine.move(cmd.x, cmd.y)
    return Outcome([("/gesam/state/xy", [xy[0], xy[1]]), *c.map_replies()], xy)


def _trigger(c: Controller, cmd: Trigger) -> Outcome:
    return Outcome([], c.engine.trigger(cmd.velocity, cmd.semitones, at=cmd.at))


def _play(c: Controller, cmd: Play) -> Outcome:
    info = c.engine.play(cmd.x, cmd.y, cmd.velocity, at=cmd.at)
    x, y = c.engine.cursor
    return Outcome([("/gesam/state/xy", [x, y]), *c.map_replies()], info)


def _pad_xy(c: Controller, cmd: PadXY) -> Outcome:
    pad = c.engine.set_pad(cmd.pad, cmd.x, cmd.y)
    return Outcome([(f"/gesam/state/pad/{cmd.pad}/xy", [pad.x, pad.y])], pad)


def _pad_trigger(c: Controller, cmd: PadTrigger) -> Outcome:
    return Outcome([], c.engine.trigger_pad(cmd.pad, cmd.velocity, at=cmd.at))


def _note(c: Controller, cmd: Note) -> Outcome:
    return Outcome([], c.engine.note(cmd.note, cmd.velocity, at=cmd.at))


def _bend(c: Controller, cmd: PitchBend) -> Outcome:
    c.engine.bend(cmd.semitones)
    return Outcome([])


def _fx(c: Controller, cmd: FxParam) -> Outcome:
    c.engine.set_effect(cmd.effect, cmd.param, cmd.value)
    return Outcome([])


def _gain(c: Controller, cmd: Gain) -> Outcome:
    c.engine.gain(cmd.value)
    return Outcome([])


def _panic(c: Controller, cmd: Panic) -> Outcome:
    c.engine.panic()
    return Outcome([])


def _render(c: Controller, cmd: Render) -> Outcome:
    return Outcome(c._render(cmd))


def _ping(c: Controller, cmd: Ping) -> Outcome:
    return Outcome([("/gesam/pong", [])])


def _learn(c: Controller, cmd: Learn) -> Outcome:
    if c.on_learn is None:
        raise BridgeError("MIDI learn needs a MIDI input; start the engine with MIDI enabled")
    c.on_learn(cmd.target)
    return Outcome([("/gesam/state/learn", [cmd.target])])


def _program(c: Controller, cmd: ProgramChange) -> Outcome:
    if c.on_program is None:
        raise BridgeError("no kits are available to load")
    return Outcome(c.on_program(cmd.program))


def _reopen(c: Controller, cmd: Reopen) -> Outcome:
    return Outcome([], c.engine.reopen_output())


def _state(c: Controller, cmd: State) -> Outcome:
    return Outcome([], c.engine.state())


def latency_reply(latency: dict[str, float]) -> Reply:
    """/gesam/state/latency from ``Engine.latency()``."""
    keys = ("trigger_ms", "timed_trigger_ms", "output_ms", "block_ms", "limiter_ms", "timed_ms")
    return ("/gesam/state/latency", [float(latency[k]) for k in keys])


def audio_reply(audio: dict[str, Any]) -> Reply:
    """/gesam/state/audio from ``Engine.audio_state()`` (a figure not measured yet is -1)."""
    render = audio["render_ms"]
    cpu = audio["cpu_share"]
    return ("/gesam/state/audio", [int(audio["underruns"]), int(audio["xruns"]),
                                   *(-1.0 if render[k] is None else float(render[k]) for k in ("median", "p99", "max")),
                                   -1.0 if cpu is None else float(cpu)])


def _latency(c: Controller, cmd: Latency) -> Outcome:
    latency = c.engine.latency()
    return Outcome([latency_reply(latency)], latency)


def _metrics(c: Controller, cmd: Metrics) -> Outcome:
    return Outcome([], c.engine.metrics())


def _locate(c: Controller, cmd: Locate) -> Outcome:
    found = c.engine.locate(cmd.path)
    x, y = c.engine.cursor
    return Outcome([("/gesam/state/locate", [float(found["x"]), float(found["y"]), found["class"] or ""]),
                    ("/gesam/state/xy", [x, y]), *c.map_replies()], found)


def _pad_variation(c: Controller, cmd: PadVariation) -> Outcome:
    pad = c.engine.set_pad_variation(cmd.pad, cmd.radius, cmd.variants, cmd.mode)
    return Outcome([(f"/gesam/state/pad/{cmd.pad}/variation", [pad.variation, pad.variants, pad.variation_mode])], pad)


def _pad_layers(c: Controller, cmd: PadLayers) -> Outcome:
    pad = c.engine.set_pad_layers(cmd.pad, cmd.dx, cmd.dy, cmd.layers)
    return Outcome([(f"/gesam/state/pad/{cmd.pad}/layers", [pad.soft_x, pad.soft_y, pad.layers])], pad)


def _pad_shape(c: Controller, cmd: PadShape) -> Outcome:
    pad = c.engine.set_pad_shape(cmd.pad, cmd.param, cmd.value)
    return Outcome([(f"/gesam/state/pad/{cmd.pad}/shape/{cmd.param}", [float(getattr(pad, cmd.param))])], pad)


def _pad_lock(c: Controller, cmd: PadLock) -> Outcome:
    pad = c.engine.lock_pad(cmd.pad, cmd.locked)
    return Outcome([(f"/gesam/state/pad/{cmd.pad}/lock", [int(pad.locked)])], pad)


def kit_replies(kit: Any) -> list[Reply]:
    """Every pad's point and the kit's name (program -1: not a saved program), after a kit change."""
    return [*((f"/gesam/state/pad/{n}/xy", [pad.x, pad.y]) for n, pad in enumerate(kit.pads)),
            ("/gesam/state/kit", [-1, kit.name])]


def _kit_randomize(c: Controller, cmd: KitRandomize) -> Outcome:
    kit = c.engine.randomize_kit()
    return Outcome(kit_replies(kit), kit)


def _kit_undo(c: Controller, cmd: KitUndo) -> Outcome:
    kit = c.engine.undo_kit()
    return Outcome(kit_replies(kit), kit)


def _model(c: Controller, cmd: ModelSwitch) -> Outcome:
    c.engine.switch_model(cmd.spec)  # loads in the background; the engine's "model" event answers
    return Outcome([])


def _sounds(c: Controller, cmd: Sounds) -> Outcome:
    if c.on_sounds is None:
        raise BridgeError("this engine writes no sound files (gesam serve was started without them)")
    return Outcome(c.on_sounds())


HANDLERS: dict[type[Command], Callable[[Controller, Any], Outcome]] = {
    Move: _move, Trigger: _trigger, Play: _play, PadXY: _pad_xy, PadTrigger: _pad_trigger, Note: _note,
    PitchBend: _bend, FxParam: _fx, Gain: _gain, Panic: _panic, Render: _render, Ping: _ping, Latency: _latency,
    Learn: _learn, Locate: _locate, PadVariation: _pad_variation, PadLayers: _pad_layers, PadShape: _pad_shape,
    PadLock: _pad_lock, KitRandomize: _kit_randomize, KitUndo: _kit_undo, ModelSwitch: _model, Sounds: _sounds,
    ProgramChange: _program, Reopen: _reopen, State: _state, Metrics: _metrics,
}
"""Command class -> its handler; a test checks that every class of ``osc_bridge.commands`` has one."""
