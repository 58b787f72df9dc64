"""NaN, infinity and absurd sizes in every number a user can hand us: a clear ConfigError (or
GesamError), never a crash, a hang or a giant allocation. Covers every TOML section (training,
architecture, engine, MIDI mapping), kits and a model card; OSC, the web map, the engine API
and the CLI have their own tests (tests/osc_bridge, tests/runtime/test_engine.py, tests/cli)."""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import typing
from pathlib import Path
from typing import Any, Iterator

import pytest

from gesam_engine.config import from_dict
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.errors import CheckpointError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.models import TransformerConfig, VAEConfig
from gesam_engine.models.classifier import ClassifierConfig
from gesam_engine.runtime import engine_config
from gesam_engine.runtime.kits import kit_from_dict
from gesam_engine.runtime.limiter import LimiterConfig
from gesam_engine.training.settings import TrainConfig
from osc_bridge.midi.map import MidiMapping
from tests.tiny import tiny_model

pytestmark = pytest.mark.reliability
HOSTILE_FLOATS = (math.nan, math.inf, -math.inf, 1e308, -1e308)
HOSTILE_INTS = (10**30, -(10**30), 2**63)
CONFIGS = [TrainConfig, PreprocessConfig, VAEConfig, TransformerConfig, ClassifierConfig, MidiMapping,
           engine_config.OutputConfig, engine_config.VoiceConfig, engine_config.GeneratorConfig,
           engine_config.CacheConfig, engine_config.EngineSettings, LimiterConfig]


def _numeric_fields() -> Iterator[tuple[type, str, Any]]:
    for cls in CONFIGS:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            if hint is float or typing.Optional[float] == hint:
                yield from ((cls, f.name, v) for v in HOSTILE_FLOATS)
            elif hint is int or typing.Optional[int] == hint:
                yield from ((cls, f.name, v) for v in HOSTILE_INTS)


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """A hostile size must fail at once, not compute for minutes: fail the test after 10 s."""
    def timeout(signum: int, frame: Any) -> None:
        raise TimeoutError("took more than 10 s: a hostile number was not refused early")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


FIELDS = list(_numeric_fields())


@pytest.mark.parametrize(("cls", "name", "value"), FIELDS,
                         ids=[f"{c.__name__}.{n}={v!r}" for c, n, v in FIELDS])
def test_every_config_number_refuses_nan_inf_and_absurd_sizes(cls: type, name: str, value: Any) -> None:
    with pytest.raises(GesamError) as info:
        from_dict(cls, {name: value}, cls.__name__.lower())
    assert name in str(info.value) or cls.__name__.lower() in str(info.value)


def test_the_fields_cover_every_section() -> None:
    assert {c for c, _, _ in FIELDS} == set(CONFIGS)
    assert len(FIELDS) > 150


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e308])
@pytest.mark.parametrize("key", ["x", "y", "pitch", "gain"])
def test_kit_pads_refuse_hostile_numbers(key: str, value: float) -> None:
    with pytest.raises(GesamError, match=f"pad 0: {key}"):
        kit_from_dict({"pads": [{key: value}]})


@pytest.mark.parametrize(("section", "key", "value"), [
    ("vae", "n_down", 10**30), ("vae", "channels", 10**9), ("transformer", "n_layers", 10**6),
    ("transformer", "d_model", 2**40), ("transformer", "n_frames", 10**12), ("audio", "n_samples", 10**15),
    ("map", "extent", {"cx": math.inf, "cy": 0.0, "half": 1.0}), ("map", "extent", {"cx": 0.0, "cy": 0.0, "half": -1.0}),
])
def test_a_card_with_hostile_sizes_is_refused_before_anything_is_built(tmp_path: Path, section: str, key: str,
                                                                         value: Any) -> None:
    directory = tiny_model(0.25).save(tmp_path / "m")
    card = json.loads((directory / "model.json").read_text())
    card[section][key] = value
    (directory / "model.json").write_text(json.dumps(card))  # json writes NaN/Infinity, as an attacker could
    with pytest.raises(CheckpointError):
        GesamModel.load(directory)
