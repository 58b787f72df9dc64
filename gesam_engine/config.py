"""Loading frozen config dataclasses from TOML or dicts: unknown keys refused, types checked.

Every section of a gesam config is a frozen dataclass that validates itself in
``__post_init__``; this module only turns plain mappings into those dataclasses and back.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

from gesam_engine.errors import ConfigError

T = TypeVar("T")


# No setting needs more; beyond these a number is a typo or an attack (inf, 1e308, 10**30).
MAX_FLOAT = 1e9
MAX_INT = 2**31 - 1


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Coerce a TOML/JSON value to the annotated type, or raise ConfigError naming the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, args, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[]") for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table, got {value!r}")
        if args:
            return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value) or abs(value) > MAX_FLOAT:
            raise ConfigError(f"{where} must be a finite number within ±{MAX_FLOAT:g}, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if abs(value) > MAX_INT:
            raise ConfigError(f"{where} must be within ±{MAX_INT}, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value


_KINDS: dict[Any, str] = {float: "a number", int: "an integer", bool: "true or false", str: "a string",
                          tuple: "a list", dict: "a table"}


def _coerce_union(value: Any, members: tuple[Any, ...], where: str) -> Any:
    """Coerce to the first member of a Union that takes ``value``; the TOML type decides first.

    A member of exactly the value's type is tried before the others (in ``float | int`` a 3 stays
    an int, in ``float | bool`` true stays a bool: bool is no number here), then each member in
    its written order (in ``float | str`` a 3 becomes 3.0). When none takes it, the error of the
    first member of the value's kind is raised (it says why, e.g. a number out of range), else
    one listing what would do.
    """
    if value is None and type(None) in members:
        return None
    inner = [a for a in members if a is not type(None)]
    if len(inner) == 1:
        return _coerce(value, inner[0], where)
    ordered = sorted(inner, key=lambda a: a is not type(value))  # stable: the rest keep their order
    first: ConfigError | None = None
    for member in ordered:
        try:
            return _coerce(value, member, where)
        except ConfigError as exc:
            if first is None and _same_kind(value, member):
                first = exc
    if first is not None:
        raise first
    kinds = [_KINDS.get(typing.get_origin(a) or a, getattr(a, "__name__", str(a))) for a in inner]
    raise ConfigError(f"{where} must be {' or '.join(kinds)}, got {value!r}")


def _same_kind(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the kind ``hint`` takes, refused only for its content (a range, an item)."""
    kind = typing.get_origin(hint) or hint
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float))
    if kind is tuple:
        return isinstance(value, (list, tuple))
    if kind is dict:
        return isinstance(value, Mapping)
    return isinstance(kind, type) and isinstance(value, kind)


def from_dict(cls: type[T], data: Mapping[str, Any] | None, section: str) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in [{section}]; valid keys are {sorted(names)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in dataclasses.asdict(obj).items()}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors and missing files into ConfigError."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None


def check(condition: bool, message: str) -> None:
    """Raise ConfigError(message) unless condition holds; used by ``__post_init__`` checks."""
    if not condition:
        raise ConfigError(message)
