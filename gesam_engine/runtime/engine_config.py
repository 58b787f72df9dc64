"""Everything ``gesam serve`` can be told, as one TOML file with a section per part.

Sections: [output], [voices], [generator], [cache], [engine], [limiter] and an array
[[effects]]. Unknown sections and keys are refused; every value is range-checked. The limiter
is set here only: nothing at run time (OSC, MIDI, console, web) can change or bypass it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from gesam_engine.config import check, from_dict, read_toml
from gesam_engine.errors import ConfigError
from gesam_engine.runtime.effects import EffectSpec, load_effect_specs
from gesam_engine.runtime.generator import GeneratorConfig
from gesam_engine.runtime.limiter import LimiterConfig
from gesam_engine.runtime.voices import VoiceConfig

SECTIONS = ("output", "voices", "generator", "cache", "engine", "limiter", "effects")


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """The audio output: a sounddevice device (name or index; "" = the default) or a WAV file."""

    device: str = ""
    sample_rate: int = 48000
    blocksize: int = 256
    channels: int = 2
    reopen_interval_s: float = 2.0
    timed_latency_ms: float = 0.0  # timed triggers land this long after their time; 0 = auto (see below)
    sound_slots: int = 256  # sounds the audio process can hold at once (shared memory)

    def __post_init__(self) -> None:
        check(8000 <= self.sample_rate <= 192000, f"output.sample_rate must be in 8000..192000, got {self.sample_rate}")
        check(16 <= self.blocksize <= 8192, f"output.blocksize must be in 16..8192, got {self.blocksize}")
        check(self.channels in (1, 2), f"output.channels must be 1 or 2, got {self.channels}")
        check(0.1 <= self.reopen_interval_s <= 60, f"output.reopen_interval_s must be in 0.1..60, got {self.reopen_interval_s}")
        check(0.0 <= self.timed_latency_ms <= 1000, f"output.timed_latency_ms must be in 0..1000 (0 = auto), "
              f"got {self.timed_latency_ms}")
        check(16 <= self.sound_slots <= 4096, f"output.sound_slots must be in 16..4096, got {self.sound_slots}")

    def timed_latency_frames(self) -> int:
        """The fixed delay from a timed trigger's time to its first sample. Auto: the larger of two
        blocks and one block + 5 ms, so a trigger handed over a few ms after its time still makes it."""
        if self.timed_latency_ms > 0:
            return round(self.timed_latency_ms * self.sample_rate / 1000.0)
        return max(2 * self.blocksize, self.blocksize + round(0.005 * self.sample_rate))


@dataclasses.dataclass(frozen=True)
class CacheConfig:
    """Ready-sound memory and the built-in bake (a grid made at start when the model ships none).

    Where the built-in bake is kept is ``gesam serve --cache DIR`` (default: the gesam cache
    directory, $GESAM_CACHE or $XDG_CACHE_HOME/gesam), not a key here.
    """

    max_mb: float = 256.0
    bake_grid: int = 8

    def __post_init__(self) -> None:
        check(8 <= self.max_mb <= 65536, f"cache.max_mb must be in 8..65536, got {self.max_mb}")
        check(2 <= self.bake_grid <= 64, f"cache.bake_grid must be in 2..64, got {self.bake_grid}")


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """Playing: output gain, the note that plays at the original pitch, the pads' note range."""

    gain: float = 1.0
    root_note: int = 60
    first_pad_note: int = 36
    pads: int = 16

    def __post_init__(self) -> None:
        check(0 <= self.gain <= 4, f"engine.gain must be in 0..4, got {self.gain}")
        check(0 <= self.root_note <= 127, f"engine.root_note must be in 0..127, got {self.root_note}")
        check(0 <= self.first_pad_note <= 127 - self.pads + 1, "engine.first_pad_note + pads must stay within 0..127")
        check(1 <= self.pads <= 64, f"engine.pads must be in 1..64, got {self.pads}")


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """The resolved engine configuration: the TOML file (or the defaults) with the command line's overrides."""

    output: OutputConfig = OutputConfig()
    voices: VoiceConfig = VoiceConfig()
    generator: GeneratorConfig = GeneratorConfig()
    cache: CacheConfig = CacheConfig()
    engine: EngineSettings = EngineSettings()
    limiter: LimiterConfig = LimiterConfig()
    effects: tuple[EffectSpec, ...] = ()


def serve_config_from_dict(data: Mapping[str, Any] | None) -> ServeConfig:
    """Resolve a mapping read from TOML; unknown sections or keys raise ConfigError."""
    data = dict(data or {})
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; valid sections are {list(SECTIONS)}")
    effects = data.get("effects")
    if effects is not None and not isinstance(effects, list):
        raise ConfigError("effects must be an array of tables: [[effects]] type = \"Reverb\" ...")
    return ServeConfig(
        output=from_dict(OutputConfig, data.get("output"), "output"),
        voices=from_dict(VoiceConfig, data.get("voices"), "voices"),
        generator=from_dict(GeneratorConfig, data.get("generator"), "generator"),
        cache=from_dict(CacheConfig, data.get("cache"), "cache"),
        engine=from_dict(EngineSettings, data.get("engine"), "engine"),
        limiter=from_dict(LimiterConfig, data.get("limiter"), "limiter"),
        effects=load_effect_specs(effects),
    )


def load_serve_config(path: Path | None, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> ServeConfig:
    """Read a TOML file (or the defaults) and apply per-section ``overrides`` from the command line."""
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    for section, values in (overrides or {}).items():
        data[section] = {**dict(data.get(section) or {}), **values}
    return serve_config_from_dict(data)
