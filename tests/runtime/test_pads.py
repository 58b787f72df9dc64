"""Pads: every field validated with the valid range in the message; default layout."""

import dataclasses
import math

import pytest

from gesam_engine.errors import GesamError
from gesam_engine.runtime.pads import Pad, PadError, default_pads


def test_defaults_and_pitch_rate() -> None:
    pad = Pad(0.2, 0.8)
    assert pad.xy == (0.2, 0.8) and pad.pitch == 0 and pad.gain == 1 and pad.choke == -1 and pad.name == ""
    assert pad.rate == 1.0
    assert Pad(0.5, 0.5, pitch=12).rate == 2.0
    assert Pad(0.5, 0.5, pitch=-12).rate == 0.5
    assert Pad(0.5, 0.5, pitch=7).rate == pytest.approx(1.4983, abs=1e-4)


@pytest.mark.parametrize(("fields", "match"), [
    ({"x": -0.01}, r"x and y must be in \[0, 1\]"),
    ({"x": 1.01}, r"x and y must be in \[0, 1\]"),
    ({"y": -1.0}, r"x and y must be in \[0, 1\]"),
    ({"y": 2.0}, r"x and y must be in \[0, 1\]"),
    ({"x": math.nan}, "finite"),
    ({"y": math.inf}, "finite"),
    ({"pitch": math.nan}, "finite"),
    ({"gain": -math.inf}, "finite"),
    ({"pitch": 48.5}, r"-48\.\.48"),
    ({"pitch": -49}, r"-48\.\.48"),
    ({"gain": -0.1}, r"0\.\.4"),
    ({"gain": 4.01}, r"0\.\.4"),
    ({"choke": -2}, r"-1\.\.63"),
    ({"choke": 64}, r"-1\.\.63"),
])
def test_every_field_is_validated(fields: dict, match: str) -> None:
    args = {"x": 0.5, "y": 0.5, **fields}
    with pytest.raises(PadError, match=match) as info:
        Pad(**args)
    assert isinstance(info.value, GesamError) and isinstance(info.value, ValueError)


def test_edges_are_valid_and_replace_validates() -> None:
    for pad in (Pad(0, 0, pitch=-48, gain=0, choke=-1), Pad(1, 1, pitch=48, gain=4, choke=63)):
        assert 0 <= pad.x <= 1
    pad = Pad(0.5, 0.5, name="kick")
    with pytest.raises(PadError):
        dataclasses.replace(pad, gain=5.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pad.x = 0.1  # type: ignore[misc]


def test_default_pads_spread_16_over_a_4x4_grid() -> None:
    pads = default_pads(16)
    assert len(pads) == 16
    xs = sorted({p.x for p in pads})
    ys = sorted({p.y for p in pads})
    assert xs == ys == [0.125, 0.375, 0.625, 0.875]
    assert all(0 < p.x < 1 and 0 < p.y < 1 for p in pads)
    assert len({p.xy for p in pads}) == 16
    assert pads[0].xy == (0.125, 0.125) and pads[1].xy == (0.375, 0.125)  # row-major from bottom left
    assert pads[4].xy == (0.125, 0.375) and pads[15].xy == (0.875, 0.875)
    assert [p.name for p in pads[:3]] == ["kick", "side stick", "snare"]  # the GM drums of notes 36..
    assert pads[10].name == "open hat" and pads[15].name == "ride"
    assert default_pads(20)[16].name == "pad 16"


def test_default_pads_other_counts() -> None:
    assert [p.xy for p in default_pads(1)] == [(0.5, 0.5)]
    five = default_pads(5)  # a 3x3 grid, filled from the bottom row
    assert len(five) == 5 and all(0 < p.x < 1 and 0 < p.y < 1 for p in five)
    assert five[3].xy == pytest.approx((0.5 / 3, 1.5 / 3))
