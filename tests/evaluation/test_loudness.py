"""Loudness figures on signals whose loudness is known: a 997 Hz sine, silence, and grids built by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gesam_engine.evaluation.loudness import LUFS_FLOOR, grid_loudness, grid_pairs, integrated_lufs, map_smoothness, \
    match_loudness

RATE = 44100


def _sine(amplitude: float, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * 997 * t)).astype(np.float32)


def test_a_full_scale_997_hz_sine_reads_minus_3_lufs_and_20_db_less_reads_minus_23() -> None:
    lufs = integrated_lufs(np.stack([_sine(1.0), _sine(0.1), np.zeros(int(1.5 * RATE), np.float32)]), RATE)
    assert lufs[0] == pytest.approx(-3.01, abs=0.1)  # BS.1770's calibration point
    assert lufs[1] - lufs[0] == pytest.approx(-20.0, abs=0.01)
    assert lufs[2] == LUFS_FLOOR  # silence is finite: the absolute gate


def test_match_loudness_brings_every_sound_to_the_target_and_leaves_silence_silent() -> None:
    waves = np.stack([_sine(0.9), _sine(0.01), _sine(1e-5), np.zeros(int(1.5 * RATE), np.float32)])
    matched = match_loudness(waves, RATE, -18.0)
    lufs = integrated_lufs(matched, RATE)
    assert lufs[:3] == pytest.approx([-18.0, -18.0, -18.0], abs=0.2)  # the third is below the gate: RMS decides
    assert not matched[3].any()
    short = match_loudness(_sine(0.5, seconds=0.25)[None], RATE, -18.0)  # shorter than a 400 ms block
    assert integrated_lufs(short, RATE)[0] == pytest.approx(-18.0, abs=0.2)


def test_grid_pairs_are_the_4_neighbours_and_cells_half_the_grid_apart() -> None:
    near, far = grid_pairs(4)
    assert len(near) == 2 * 4 * 3  # 12 horizontal + 12 vertical neighbour pairs
    rows, cols = np.divmod(np.arange(16), 4)
    assert np.all(np.abs(rows[near[:, 0]] - rows[near[:, 1]]) + np.abs(cols[near[:, 0]] - cols[near[:, 1]]) == 1)
    assert np.all(np.hypot(rows[far[:, 0]] - rows[far[:, 1]], cols[far[:, 0]] - cols[far[:, 1]]) >= 2)


def test_a_smooth_ramp_has_no_cliffs_and_a_step_has_them() -> None:
    n = 8
    cols = np.tile(np.arange(n), n)  # grid_points order: row-major, column fastest
    ramp = -40.0 + 2.0 * cols  # -40 .. -26 LUFS left to right, 2 dB per cell
    figures = grid_loudness(ramp, n)
    assert figures["lufs_median"] == pytest.approx(-33.0)
    assert figures["lufs_p10"] == pytest.approx(-40.0) and figures["lufs_p90"] == pytest.approx(-26.0)  # 8 cells each
    assert figures["lufs_spread_p10_p90"] == pytest.approx(14.0)
    assert figures["share_below_-24_lufs"] == 1.0
    assert figures["lufs_neighbour_diff"] == pytest.approx(1.0)  # half the pairs are vertical (0 dB), half 2 dB
    assert figures["lufs_neighbour_far_ratio"] < 0.3 and figures["lufs_cliff_share"] == 0.0
    assert figures["lufs_neighbour_max"] == pytest.approx(2.0)

    step = np.where(cols < n // 2, -50.0, -20.0)  # a quiet half and a loud half
    cliff = map_smoothness(step, n)
    assert cliff["neighbour_max"] == pytest.approx(30.0)
    assert cliff["cliff_share"] == pytest.approx(8 / 112, abs=1e-4)  # the 8 pairs across the step, of 112 neighbour pairs
    assert grid_loudness(step, n)["share_below_-24_lufs"] == 0.5
    noise = map_smoothness(np.random.default_rng(0).normal(-30.0, 6.0, n * n), n)
    assert 0.3 < noise["cliff_share"] < 0.7 and noise["neighbour_far_ratio"] > 0.8  # no map structure at all


def test_a_constant_grid_reads_zero_everywhere() -> None:
    figures = map_smoothness(np.full(16, -20.0), 4)
    assert figures == {"neighbour_diff": 0.0, "far_diff": 0.0, "neighbour_far_ratio": 0.0, "neighbour_max": 0.0,
                       "cliff_share": 0.0}
