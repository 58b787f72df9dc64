"""Audio distance at equal loudness: level alone costs nothing, shape does, and the loudness gap is reported apart."""

from __future__ import annotations

import numpy as np
import pytest

from gesam_engine.data.synth import synth_drum
from gesam_engine.evaluation.audio_distance import audio_row, matched_mrstft, mrstft_per_sound

RATE = 44100


def _hits(kind: str, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([synth_drum(kind, rng, RATE, seconds=0.5) for _ in range(n)]).astype(np.float32)


def test_identical_sounds_are_0_and_per_sound_figures_are_not_pooled() -> None:
    kicks, hats = _hits("kick", 3, 0), _hits("hihat", 3, 1)
    assert np.allclose(mrstft_per_sound(kicks, kicks), 0.0, atol=1e-6)
    mixed = kicks.copy()
    mixed[1] = hats[1]
    d = mrstft_per_sound(kicks, mixed)
    assert d[0] == pytest.approx(0.0, abs=1e-6) and d[2] == pytest.approx(0.0, abs=1e-6) and d[1] > 0.5


def test_a_quieter_copy_costs_nothing_matched_but_its_gap_is_reported() -> None:
    kicks, snares = _hits("kick", 4, 0), _hits("snare", 4, 2)
    quieter = kicks * 10 ** (-12 / 20)
    assert np.allclose(matched_mrstft(kicks, quieter, RATE), 0.0, atol=1e-3)
    assert np.all(mrstft_per_sound(kicks, quieter) > 0.1)  # unmatched, level alone would count
    row = audio_row(kicks, quieter, RATE)
    assert row["mrstft"] == pytest.approx(0.0, abs=1e-3) and row["lufs_vs_original"] == pytest.approx(-12.0, abs=0.05)
    assert audio_row(kicks, snares, RATE)["mrstft"] > 0.3
    silence = audio_row(kicks, np.zeros_like(kicks), RATE)  # silence stays silent: no gain makes it a sound
    assert silence["mrstft"] > 0.5 and silence["lufs_vs_original"] < -40
