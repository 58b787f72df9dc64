"""from_dict's coercion of a Union: each member in turn, the TOML type deciding first."""

from __future__ import annotations

import dataclasses
import math
from typing import Union

import pytest

from gesam_engine.config import from_dict
from gesam_engine.errors import ConfigError
from gesam_engine.runtime.effects import load_effect_specs


@dataclasses.dataclass(frozen=True)
class Mixed:
    param: Union[float, bool, str] = 0.0
    number: float | int = 0
    maybe: str | None = None
    sizes: tuple[int, ...] | str = ()
    table: dict[str, float | str] = dataclasses.field(default_factory=dict)


@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 0.5), (3, 3.0), (True, True), (False, False), ("LPF24", "LPF24"),
])
def test_each_member_is_tried_in_order(value: object, expected: object) -> None:
    got = from_dict(Mixed, {"param": value}, "m").param
    assert got == expected and type(got) is type(expected)  # true stays a bool (no number), 3 becomes 3.0


def test_the_toml_type_decides_before_the_written_order() -> None:
    assert type(from_dict(Mixed, {"number": 3}, "m").number) is int  # float | int: an integer stays one
    assert type(from_dict(Mixed, {"number": 3.5}, "m").number) is float
    assert from_dict(Mixed, {"sizes": [1, 2]}, "m").sizes == (1, 2)
    assert from_dict(Mixed, {"sizes": "auto"}, "m").sizes == "auto"
    assert from_dict(Mixed, {"table": {"a": 1, "b": "x"}}, "m").table == {"a": 1.0, "b": "x"}
    assert from_dict(Mixed, {"maybe": None}, "m").maybe is None and from_dict(Mixed, {"maybe": "s"}, "m").maybe == "s"


def test_a_value_no_member_takes_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"m\.param must be a number or true or false or a string, got \[1\]"):
        from_dict(Mixed, {"param": [1]}, "m")
    for bad in (math.nan, math.inf, 1e308, 10**30):  # a number, refused for what it is
        with pytest.raises(ConfigError, match=r"m\.param must be a finite number within"):
            from_dict(Mixed, {"param": bad}, "m")
    with pytest.raises(ConfigError, match=r"m\.number must be within"):  # int | float both refuse it: int says why
        from_dict(Mixed, {"number": 2**40}, "m")
    with pytest.raises(ConfigError, match=r"m\.maybe must be a string, got 3"):  # Optional: the one member's error
        from_dict(Mixed, {"maybe": 3}, "m")
    with pytest.raises(ConfigError, match=r"m\.sizes\[\] must be an integer, got 'a'"):
        from_dict(Mixed, {"sizes": ["a"]}, "m")


def test_effect_params_go_through_from_dict() -> None:
    """The effects' params (float, bool or str) need no separate path any more."""
    (spec,) = load_effect_specs([{"type": "LadderFilter", "params": {"mode": "LPF24", "cutoff_hz": 800, "drive": 1.5}}])
    assert spec.params == {"mode": "LPF24", "cutoff_hz": 800.0, "drive": 1.5}
    assert type(spec.params["cutoff_hz"]) is float
    (spec,) = load_effect_specs([{"type": "Reverb", "params": {"freeze_mode": 0.0}, "enabled": False}])
    assert spec.params == {"freeze_mode": 0.0} and not spec.enabled
    with pytest.raises(ConfigError, match=r"effects\[0\]\.params must be a table, got 3"):
        load_effect_specs([{"type": "Gain", "params": 3}])
    with pytest.raises(ConfigError, match=r"effects\[0\]\.params\.gain_db must be a number or true or false or a string"):
        load_effect_specs([{"type": "Gain", "params": {"gain_db": [1.0]}}])
