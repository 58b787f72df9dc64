"""What the control side needs of the engine: ``EngineLike``, exactly the members the
``Controller`` uses, so the bridge never imports the runtime (or torch).

``gesam_engine.runtime.engine.Engine`` satisfies it structurally; mypy checks that where the CLI
hands an Engine to a Controller (``cli/serve_cmd.py``), and a test checks an Engine instance.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


class OutputLike(Protocol):
    """The audio output's status: ``state`` is "running" while it plays."""

    @property
    def state(self) -> str: ...

    @property
    def message(self) -> str: ...


class TriggerLike(Protocol):
    """What a trigger played: the exact point's sound, or the nearest ready one."""

    @property
    def exact(self) -> bool: ...

    @property
    def played_xy(self) -> tuple[float, float]: ...


class PadLike(Protocol):
    """A pad's map point."""

    @property
    def x(self) -> float: ...

    @property
    def y(self) -> float: ...

    @property
    def xy(self) -> tuple[float, float]: ...


@runtime_checkable
class EngineLike(Protocol):
    """The engine as the Controller drives it. Every method may be called from any control thread;
    refusals are ``GesamError``s."""

    @property
    def cursor(self) -> tuple[float, float]: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def output(self) -> OutputLike: ...

    def move(self, x: float, y: float) -> tuple[float, float]: ...

    def trigger(self, velocity: float = 1.0, semitones: float = 0.0, at: float | None = None) -> TriggerLike: ...

    def play(self, x: float, y: float, velocity: float = 1.0, at: float | None = None) -> TriggerLike: ...

    def set_pad(self, n: int, x: float, y: float) -> PadLike: ...

    def trigger_pad(self, n: int, velocity: float = 1.0, at: float | None = None) -> TriggerLike: ...

    def note(self, note: int, velocity: int, at: float | None = None) -> TriggerLike | None: ...

    def bend(self, semitones: float) -> None: ...

    def set_effect(self, effect: str, param: str, value: float | str | bool) -> None: ...

    def gain(self, value: float) -> None: ...

    def panic(self) -> None: ...

    def render(self, x: float, y: float) -> np.ndarray: ...

    def map_info(self) -> dict[str, Any] | None: ...

    def reopen_output(self) -> bool: ...

    def state(self) -> dict[str, Any]: ...

    def metrics(self) -> dict[str, Any]: ...

    def latency(self) -> dict[str, float]: ...
