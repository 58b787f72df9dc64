"""Round robin and velocity layers: which point a pad's hit plays (pure functions), and on a real
engine: hits cycle through the variants once they are made, a variant not yet made falls back to
the pad's own sound (the trigger never waits), and soft hits play the softer layer's point."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Iterator

import pytest

from gesam_engine.runtime.engine import Engine
from gesam_engine.runtime.pads import Pad, PadError
from gesam_engine.runtime.variations import VariantPicker, layer_of, pad_points, variant_point
from tests.runtime.test_engine import make_engine
from tests.waiting import wait_for

PAD = Pad(0.5, 0.5, name="snare", variation=0.1, variants=5)


def test_variant_zero_is_the_pad_and_the_others_lie_inside_the_radius_all_different() -> None:
    points = [variant_point(PAD, PAD.layers - 1, k) for k in range(PAD.variants)]
    assert points[0] == PAD.xy
    assert all(0 < math.dist(p, PAD.xy) <= PAD.variation + 1e-12 for p in points[1:])
    assert len(set(points)) == PAD.variants
    assert pad_points(PAD) == points  # the same every time: a reloaded kit plays the same variants


def test_variants_at_the_edge_stay_on_the_map() -> None:
    corner = dataclasses.replace(PAD, x=0.0, y=1.0, variation=0.5)
    assert all(0.0 <= v <= 1.0 for p in pad_points(corner) for v in p)


def test_velocity_layers_move_soft_hits_and_keep_full_velocity_on_the_pad() -> None:
    pad = Pad(0.5, 0.5, soft_x=-0.4, soft_y=0.2, layers=4)
    assert [layer_of(pad, v) for v in (0.0, 0.24, 0.25, 0.6, 0.99, 1.0)] == [0, 0, 1, 2, 3, 3]
    assert variant_point(pad, 3, 0) == (0.5, 0.5)
    assert variant_point(pad, 0, 0) == pytest.approx((0.5 - 0.75 * 0.4, 0.5 + 0.75 * 0.2))
    assert layer_of(Pad(0.5, 0.5), 0.1) == 3  # no direction: every hit is the top layer
    assert len(pad_points(dataclasses.replace(pad, variation=0.05, variants=3))) == 12


def test_cycle_goes_round_and_random_never_repeats_the_last() -> None:
    picker = VariantPicker(seed=3)
    assert [picker.pick(0, PAD) for _ in range(7)] == [0, 1, 2, 3, 4, 0, 1]
    picker.reset(0)
    assert picker.pick(0, PAD) == 0
    rnd = dataclasses.replace(PAD, variation_mode="random")
    picks = [picker.pick(1, rnd) for _ in range(200)]
    assert all(a != b for a, b in zip(picks, picks[1:])) and set(picks) == set(range(5))
    assert VariantPicker().pick(2, Pad(0.5, 0.5)) == 0  # no variation: always the pad


@pytest.mark.parametrize(("settings", "message"), [
    ({"variation": 0.6}, "variation must be a radius in 0..0.5"),
    ({"variants": 0}, "variants must be an integer in 1..16"),
    ({"variation_mode": "shuffle"}, "variation_mode must be one of cycle, random"),
    ({"soft_x": 2.0}, "soft_x and soft_y must be in -1..1"),
    ({"layers": 9}, "layers must be an integer in 1..8"),
    ({"variation": math.nan}, "finite"),
])
def test_bad_settings_are_refused_with_the_range(settings: dict, message: str) -> None:
    with pytest.raises(PadError, match=message):
        dataclasses.replace(PAD, **settings)


# ---- on the engine ------------------------------------------------------------------------------------
@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = make_engine(tmp_path).start()
    yield e
    e.stop()


def test_hits_cycle_through_the_variants_once_they_are_made(engine: Engine) -> None:
    engine.set_pad(2, 0.31, 0.64)
    pad = engine.set_pad_variation(2, 0.08, 3, "cycle")
    points = pad_points(pad)
    assert len(points) == 3 and points[0] == pad.xy
    wait_for(lambda: all(p in engine.cache for p in points), timeout=60)
    played = [engine.trigger_pad(2).played_xy for _ in range(6)]
    assert played == points + points
    waves = [engine.sound_for(p)[0] for p in points]
    assert not any((a.shape == b.shape and (a == b).all()) for i, a in enumerate(waves) for b in waves[i + 1:])


def test_a_variant_not_yet_made_plays_the_pads_own_sound(engine: Engine) -> None:
    engine.set_pad(3, 0.7, 0.2)
    wait_for(lambda: (0.7, 0.2) in engine.cache, timeout=60)
    engine.generator.stop()  # nothing more is made: the variants cannot be ready
    pad = engine.set_pad_variation(3, 0.2, 4)
    infos = [engine.trigger_pad(3) for _ in range(4)]
    assert [i.played_xy for i in infos] == [pad.xy] * 4 and all(i.exact for i in infos)


def test_soft_hits_play_the_soft_layers_point(engine: Engine) -> None:
    engine.set_pad(4, 0.5, 0.5)
    pad = engine.set_pad_layers(4, 0.0, -0.4, 2)
    soft = variant_point(pad, 0, 0)
    assert soft == pytest.approx((0.5, 0.3))
    wait_for(lambda: soft in engine.cache and pad.xy in engine.cache, timeout=60)
    assert engine.trigger_pad(4, 0.2).played_xy == soft
    assert engine.trigger_pad(4, 1.0).played_xy == pad.xy
    assert engine.note(36 + 4, 20) is not None and engine.pad(4).layers == 2


def test_a_knob_sweep_queues_one_render_per_variant_not_one_per_step(engine: Engine) -> None:
    engine.generator.stop()  # nothing is made: what waits is what a sweep left behind
    waiting = engine.generator.pending()
    engine.set_pad_layers(5, 0.0, -0.2, 4)
    for step in range(1, 60):  # a MIDI sweep of the variation knob
        engine.set_pad_variation(5, step / 240, 4)
    assert engine.generator.pending() - waiting <= 4 * 4  # the newest point of each (layer, variant)
    engine.set_pad_variation(5, 0.0)
    engine.set_pad_layers(5, 0.0, 0.0)
    assert engine.generator.pending() - waiting <= 1  # the old settings' variants are forgotten
