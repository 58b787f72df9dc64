"""The post-processing chain: pedalboard effects and VST3 plug-ins after the voice mixer.

The config is the ``[[effects]]`` array of tables, one ``EffectSpec`` each. ``EffectsChain``
builds and checks every effect once (parameter names, values, channel count), so a bad config
fails at start and not on stage. Every number must be in its sane range: for built-ins the table
in ``effect_ranges.py``, for VST3 plug-ins the plug-in's own.

Live there are two copies of the chain built from the same specs: the audio process's, which the
mixer runs (``process``, ``reset``, ``apply_encoded``), and the engine's, which only validates
changes and encodes them as numbers for the command ring (``encode``). In one process (offline,
tests) ``set_param`` validates at once and queues the change for the start of the next block.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import math
import re
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import pedalboard

from gesam_engine.config import check, from_dict, read_toml
from gesam_engine.errors import ConfigError
from gesam_engine.runtime.effect_ranges import RANGES

ParamValue = Union[float, bool, str]

BUILTIN_TYPES: tuple[str, ...] = (
    "Bitcrush", "Chorus", "Clipping", "Compressor", "Delay", "Distortion", "Gain",
    "HighShelfFilter", "HighpassFilter", "Invert", "LadderFilter", "Limiter", "LowShelfFilter",
    "LowpassFilter", "NoiseGate", "PeakFilter", "Phaser", "Reverb",
)
EFFECT_TYPES: tuple[str, ...] = BUILTIN_TYPES + ("vst3",)
_NAME = re.compile(r"[a-z0-9_]+")
# Zero frames run through each effect at build time: it checks the channel count and prepares
# plug-ins for pedalboard's largest internal chunk (8192), so no later block re-prepares them
# while active (that allocates, and DPF plug-ins print an assertion).
_PROBE_FRAMES = 8192


def _check_value(where: str, value: Any) -> ParamValue:
    """A parameter value as float, bool or str; ints become floats; NaN and inf are refused."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        check(math.isfinite(value), f"{where} must be a finite number, got {value!r}")
        return float(value)
    raise ConfigError(f"{where} must be a number, true/false or a string, got {value!r}")


@dataclasses.dataclass(frozen=True)
class EffectSpec:
    """One effect of the chain: a built-in pedalboard class or a VST3 plug-in, with settings.

    ``name`` is unique in the chain and addresses the effect in OSC (``/gesam/fx/<name>/<param>``).
    """

    name: str
    type: str
    path: str | None = None  # the .vst3 bundle, only for type "vst3"
    params: dict[str, ParamValue] = dataclasses.field(default_factory=dict)
    enabled: bool = True

    def __post_init__(self) -> None:
        check(isinstance(self.name, str) and _NAME.fullmatch(self.name) is not None,
              f"effect name must be non-empty and only [a-z0-9_] (it is used in "
              f"/gesam/fx/<name>/<param>), got {self.name!r}")
        where = f"effect {self.name!r}"
        check(self.type in EFFECT_TYPES,
              f"{where}: unknown type {self.type!r}; valid types are {', '.join(EFFECT_TYPES)}")
        if self.type == "vst3":
            check(isinstance(self.path, str) and self.path != "",
                  f"{where}: type 'vst3' needs path = \"/path/to/Plugin.vst3\"")
        else:
            check(self.path is None, f"{where}: path is only for type 'vst3', not {self.type!r}")
        check(isinstance(self.params, Mapping), f"{where}: params must be a table, got {self.params!r}")
        params = {}
        for key, value in self.params.items():
            check(isinstance(key, str) and key != "", f"{where}: parameter names must be strings, got {key!r}")
            params[key] = _check_value(f"{where} parameter {key!r}", value)
        object.__setattr__(self, "params", params)
        check(isinstance(self.enabled, bool), f"{where}: enabled must be true or false, got {self.enabled!r}")


def load_effect_specs(data: list[dict[str, Any]] | None) -> tuple[EffectSpec, ...]:
    """Parse the ``[[effects]]`` array of tables; a missing name becomes ``<type>_<index>``."""
    if data is None:
        return ()
    check(isinstance(data, list), f"effects must be an array of tables ([[effects]]), got {data!r}")
    specs: list[EffectSpec] = []
    for i, item in enumerate(data):
        section = f"effects[{i}]"
        check(isinstance(item, Mapping), f"{section} must be a table, got {item!r}")
        raw = dict(item)
        check(isinstance(raw.get("type"), str),
              f"{section} needs type = \"...\"; valid types are {', '.join(EFFECT_TYPES)}")
        raw.setdefault("name", f"{raw['type'].lower()}_{i}")
        spec = from_dict(EffectSpec, raw, section)  # params: each value a float, bool or str, as TOML has it
        check(all(s.name != spec.name for s in specs),
              f"{section}: duplicate effect name {spec.name!r}; give each effect a unique name")
        specs.append(spec)
    return tuple(specs)


def from_toml(path: str | Path) -> tuple[EffectSpec, ...]:
    """The specs of a TOML file's ``[[effects]]``; relative VST3 paths are taken from its folder."""
    specs = load_effect_specs(read_toml(path).get("effects"))
    folder = Path(path).parent
    return tuple(
        dataclasses.replace(s, path=str(folder / s.path))
        if s.path is not None and not Path(s.path).expanduser().is_absolute() else s
        for s in specs
    )


def _writable_properties(cls: type) -> tuple[str, ...]:
    """Public settable properties of a pedalboard class: its parameters (is_effect etc. excluded)."""
    return tuple(sorted(
        k for k in dir(cls)
        if not k.startswith("_")
        and isinstance(prop := inspect.getattr_static(cls, k), property) and prop.fset is not None
    ))


def _plain(value: Any, kind: type | None = None) -> ParamValue:
    """A parameter value as float, bool or str (enums by name; ``kind`` is a VST3 param's type)."""
    if kind is not None:
        return kind(value)  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return value
    if hasattr(type(value), "__members__"):
        return str(value.name)
    return float(value) if isinstance(value, (int, float)) else str(value)


@dataclasses.dataclass(eq=False)
class _Effect:
    """A built effect: the plug-in, its valid parameter names and its current values."""

    spec: EffectSpec
    plugin: Any  # a pedalboard.Plugin
    label: str  # "Compressor" or "vst3 ZamCompX2.vst3", for messages
    params: tuple[str, ...]
    vst3: dict[str, Any] | None  # VST3 parameter metadata by name; None for built-ins
    values: dict[str, ParamValue] = dataclasses.field(default_factory=dict)


class EffectsChain:
    """Effects in series on [frames, channels] float32 blocks, with thread-safe run-time params.

    Build it before the stream starts (it loads plug-ins and runs a short zero block through
    each). Only the mixer may call ``process``; any thread may call ``set_param``,
    ``apply``, ``describe`` and ``names``.
    """

    def __init__(self, specs: Sequence[EffectSpec], sample_rate: int, channels: int = 2) -> None:
        check(isinstance(sample_rate, int) and 8000 <= sample_rate <= 384000,
              f"effects sample_rate must be an integer in 8000..384000, got {sample_rate!r}")
        check(isinstance(channels, int) and 1 <= channels <= 32,
              f"effects channels must be an integer in 1..32, got {channels!r}")
        names = [s.name for s in specs]
        check(len(set(names)) == len(names), f"effect names must be unique, got {names}")
        self.sample_rate = sample_rate
        self.channels = channels
        self._shadows: dict[str, Any] = {}  # one spare instance per built-in type, to test values on
        self._shadow_lock = threading.Lock()  # held by control threads only, never by process()
        self._effects: dict[str, _Effect] = {s.name: self._build(s) for s in specs}
        self._board = pedalboard.Pedalboard([e.plugin for e in self._effects.values() if e.spec.enabled])
        self._pending: collections.deque[tuple[_Effect, str, Any]] = collections.deque()
        self._by_index = list(self._effects.values())
        self.prepare(4096)
        self._layout = np.zeros((channels, channels + 1), np.float32)  # a non-square block (see reset)
        if len(self._board):  # a first non-square block fixes the layout pedalboard assumes later
            self._board.process(np.zeros((channels, _PROBE_FRAMES), np.float32), sample_rate, reset=False)
            self.reset()  # touches the delay lines now: a first reset on stage took 5 ms

    @classmethod
    def from_toml(cls, path: str | Path, sample_rate: int, channels: int = 2) -> "EffectsChain":
        """Build the chain of a TOML file's ``[[effects]]``."""
        return cls(from_toml(path), sample_rate, channels)

    @property
    def names(self) -> tuple[str, ...]:
        """Effect names in chain order, disabled ones included. Any thread."""
        return tuple(self._effects)

    def describe(self) -> dict[str, dict[str, ParamValue]]:
        """Current parameter values per effect, as this copy holds them. Any thread."""
        return {name: dict(e.values) for name, e in self._effects.items()}

    def _checked(self, effect: str, param: str, value: ParamValue) -> tuple[_Effect, Any]:
        """The effect and the value to set, or ConfigError naming what is valid. Any thread."""
        e = self._effects.get(effect)
        if e is None:
            raise ConfigError(f"no effect named {effect!r}; effects: {', '.join(self._effects) or '(none)'}")
        if e.vst3 is None:
            with self._shadow_lock:
                return e, self._validated(e, param, value, self._shadows[e.spec.type])
        return e, self._validated(e, param, value, None)

    def set_param(self, effect: str, param: str, value: ParamValue) -> None:
        """Validate a change now (ConfigError if bad) and queue it for the next ``process``. Any thread."""
        e, value = self._checked(effect, param, value)
        self._pending.append((e, param, value))  # deque.append is atomic: no lock shared with process

    def encode(self, effect: str, param: str, value: ParamValue) -> tuple[int, int, float]:
        """Validate a change (ConfigError if bad), set it on this chain, and return it as numbers
        for the audio process's copy (``apply_encoded``): effect index, parameter index, value.

        Enum members travel by number, VST3 choices by their index in the plug-in's list, bools
        as 0/1. For the engine's copy of the chain, which validates and never processes audio;
        one control thread at a time.
        """
        e, value = self._checked(effect, param, value)
        if isinstance(value, bool):
            number = 1.0 if value else 0.0
        elif isinstance(value, str):  # a VST3 choice
            assert e.vst3 is not None
            number = float(list(e.vst3[param].valid_values).index(value))
        elif hasattr(type(value), "__members__"):  # a pybind11 enum
            number = float(int(value))
        else:
            number = float(value)
        self._set(e, param, value)  # this copy never processes audio: it follows at once (describe())
        return list(self._effects).index(effect), e.params.index(param), number

    def apply_encoded(self, effect: int, param: int, number: float) -> None:
        """Apply a change made by ``encode`` (on the engine's copy of this chain). The mixer only."""
        e = self._by_index[effect]
        name = e.params[param]
        if e.vst3 is not None:
            meta = e.vst3[name]
            value: Any = bool(number) if meta.type is bool else (
                meta.valid_values[int(number)] if meta.type is str else float(number))
        else:
            current = getattr(e.plugin, name)
            members = getattr(type(current), "__members__", None)
            if members is not None:
                value = next(m for m in members.values() if int(m) == int(number))
            elif isinstance(current, bool):
                value = bool(number)
            else:
                value = float(number)
        self._set(e, name, value)

    def prepare(self, max_frames: int) -> None:
        """Preallocate the planar and interleaved buffers ``process`` uses for blocks up to ``max_frames``."""
        self._planar = np.zeros((self.channels, max_frames), np.float32)
        self._interleaved = np.zeros((max_frames, self.channels), np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Run float32 [frames, channels] through the enabled effects; returns the same shape.

        Applies queued parameter changes first. State carries over between calls (``reset=False``),
        so any chunking gives the same output. The mixer only. Our buffers are preallocated
        (``prepare``); pedalboard returns each block in an array of its own, which we copy out.
        """
        if self._pending:
            self._apply_pending()
        if block.dtype != np.float32 or block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"effects need a float32 [frames, {self.channels}] block, "
                             f"got {block.dtype} {block.shape}")
        frames = block.shape[0]
        if not len(self._board) or frames == 0:
            return block
        if frames < self.channels:
            raise ValueError(f"effects need blocks of at least {self.channels} frames, got {frames}: "
                             "pedalboard would take the frames for channels")
        if frames > self._planar.shape[1]:
            self.prepare(frames)
        planar = self._planar[:, :frames]
        np.copyto(planar, block.T)
        out = self._board.process(planar, float(self.sample_rate), reset=False)  # (C, N) -> (C, n <= N)
        result = self._interleaved[:frames]
        held = frames - out.shape[1]
        if held > 0:  # a plug-in held samples back: keep the stream length
            result[:held] = 0.0
        np.copyto(result[held:], out.T)
        return result

    def reset(self) -> None:
        """Clear every effect's internal state: delay lines, reverb tails, filter memories (and any
        NaN they hold). Parameters stay. The mixer only."""
        if len(self._board):
            self._board.reset()  # this also forgets the channel layout: tell it again with silence
            self._board.process(self._layout, float(self.sample_rate), reset=False)

    def _apply_pending(self) -> None:
        """Apply queued changes; only the last one per parameter (a VST3 change costs ~0.1 ms)."""
        latest: dict[tuple[str, str], tuple[_Effect, str, Any]] = {}
        while self._pending:
            e, param, value = self._pending.popleft()
            latest[e.spec.name, param] = (e, param, value)
        for e, param, value in latest.values():
            self._set(e, param, value)

    def _set(self, e: _Effect, param: str, value: Any) -> None:
        """Set a validated value on the plug-in and remember what it really holds now."""
        setattr(e.plugin, param, value)
        e.values[param] = self._read(e, param)

    def _build(self, spec: EffectSpec) -> _Effect:
        """Create, configure and test one effect; every problem is a ConfigError naming it."""
        if spec.type == "vst3":
            assert spec.path is not None
            path = Path(spec.path).expanduser()
            label = f"vst3 {path.name}"
            check(path.exists(), f"effect {spec.name!r}: VST3 plug-in {path} does not exist "
                  "(Debian's zam-plugins install theirs in /usr/lib/vst3/)")
            try:
                plugin = pedalboard.load_plugin(str(path))
            except (ImportError, ValueError, RuntimeError) as exc:
                raise ConfigError(f"effect {spec.name!r}: could not load VST3 plug-in {path}: {exc}") from None
            check(plugin.is_effect, f"effect {spec.name!r}: {path} is an instrument, not an effect")
            # pedalboard adds `parameters` to ExternalPlugin at import time (a mixin appended to its
            # __bases__), which its type stubs do not show.
            meta = dict(plugin.parameters)  # type: ignore[attr-defined]
            e = _Effect(spec, plugin, label, tuple(sorted(meta)), meta)
        else:
            cls = getattr(pedalboard, spec.type)
            self._shadows.setdefault(spec.type, cls())
            e = _Effect(spec, cls(), spec.type, _writable_properties(cls), None)
        for param, value in spec.params.items():
            value = self._validated(e, param, value, e.plugin if e.vst3 is None else None)
            if e.vst3 is not None:
                try:
                    setattr(e.plugin, param, value)
                except (ValueError, TypeError) as exc:
                    raise ConfigError(f"effect {spec.name!r} ({label}) refused {param}={value!r}: {exc}") from None
        e.values.update({p: self._read(e, p) for p in e.params})
        try:
            e.plugin.process(np.zeros((self.channels, _PROBE_FRAMES), np.float32), float(self.sample_rate))
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"effect {spec.name!r} ({e.label}) does not accept {self.channels} "
                              f"channel(s) at {self.sample_rate} Hz: {exc}") from None
        return e

    def _validated(self, e: _Effect, param: str, value: Any, target: Any) -> Any:
        """Check a parameter name and value; return what to set. Built-ins are tried on ``target``."""
        if param not in e.params:
            raise ConfigError(f"effect {e.spec.name!r} ({e.label}) has no parameter {param!r}; "
                              f"valid: {', '.join(e.params)}")
        where = f"effect {e.spec.name!r} ({e.label}) parameter {param!r}"
        value = _check_value(where, value)
        if e.vst3 is not None:
            meta = e.vst3[param]
            if meta.type is bool and isinstance(value, (bool, float)) and value in (0.0, 1.0):
                return bool(value)
            if meta.type is str and isinstance(value, str) and value in meta.valid_values:
                return value
            if meta.type is float and isinstance(value, float) and meta.min_value <= value <= meta.max_value:
                return value
            allowed = f"{meta.min_value}..{meta.max_value}" if meta.type is float else meta.valid_values
            raise ConfigError(f"{where} must be in {allowed}, got {value!r}")
        allowed = RANGES[e.spec.type].get(param)
        if allowed is not None and isinstance(value, float) and not allowed.contains(value, self.sample_rate):
            raise ConfigError(f"{where} must be in {allowed.describe(self.sample_rate)}, got {value:g}")
        current = getattr(target, param)
        members = getattr(type(current), "__members__", None)
        if members is not None:  # a pybind11 enum such as LadderFilter.Mode: by name or by number
            by_number = {float(int(m)): m for m in members.values()}
            if value not in members and value not in by_number:
                raise ConfigError(f"{where} must be one of {', '.join(members)}, got {value!r}")
            value = members[value] if isinstance(value, str) else by_number[value]
        try:
            setattr(target, param, value)
        except ValueError as exc:
            raise ConfigError(f"{where} refused {value!r}: {exc}") from None
        except TypeError:
            kind = "true or false" if isinstance(current, bool) else f"a {type(current).__name__}"
            raise ConfigError(f"{where} must be {kind}, got {value!r}") from None
        return value

    def _read(self, e: _Effect, param: str) -> ParamValue:
        """The value the effect really holds now (plug-ins may round it)."""
        kind = e.vst3[param].type if e.vst3 is not None else None
        return _plain(getattr(e.plugin, param), kind)
