import numpy as np
import pytest

from gesam_engine.data.sources.dedup import (
    CORR_SAMPLES, Same, correlation, distances_to, keep_first, near_pairs, record_pairs, same_pairs,
)
from gesam_engine.data.sources.oneshot import OneShotConfig, fingerprint, trim

RATE = 44100


def _noise_hit(seed: int, decay: float = 0.08) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.6 * RATE)) / RATE
    return trim((rng.standard_normal(t.size) * np.exp(-t / decay)).astype(np.float32), RATE, OneShotConfig())


def _lowpass(wave: np.ndarray) -> np.ndarray:
    """A gentle tilt (1 + 0.3 z^-1): the same hit, lightly filtered (about 1 dB, correlation 0.96)."""
    return np.convolve(wave, [1.0, 0.3], mode="same").astype(np.float32)


def test_distances_are_rms_db_and_symmetric() -> None:
    f = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 2.0, 0.0, 2.0]], np.float32)
    d = distances_to(f, f)
    assert np.allclose(d, d.T, atol=1e-5) and np.allclose(np.diag(d), 0, atol=1e-3)
    assert np.isclose(d[0, 1], 1.0) and np.isclose(d[0, 2], np.sqrt(2.0))
    assert near_pairs(f, 1.2) == [(0, 1, pytest.approx(1.0, abs=1e-4)), (1, 2, pytest.approx(1.0, abs=1e-4))]


def test_correlation_ignores_gain_and_small_shifts_but_not_other_noise() -> None:
    a = _noise_hit(0)[:CORR_SAMPLES]
    assert correlation(a, 0.3 * a) == pytest.approx(1.0, abs=1e-4)
    assert correlation(a, np.concatenate([np.zeros(50, np.float32), a])[:CORR_SAMPLES]) > 0.95
    assert correlation(a, _noise_hit(1)[:CORR_SAMPLES]) < 0.3
    assert correlation(a, np.zeros_like(a)) == 0.0


def _fixture() -> tuple[list[str], list[str | None], np.ndarray, list[np.ndarray]]:
    """0: a hit; 1: its exact copy; 2: a lightly filtered copy; 3: another hit; 4 and 5: two
    different sounds that a SoundFont says play the same samples; 6: a long, different hit."""
    base = _noise_hit(0)
    waves = [base, base.copy(), _lowpass(base), _noise_hit(1), _noise_hit(2), _noise_hit(3, 0.02), _noise_hit(4, 0.4)]
    hashes = ["a", "a", "b", "c", "d", "e", "f"]
    identities = [None, None, None, None, "font key 36: s1", "font key 36: s1", None]
    prints = np.stack([fingerprint(w, RATE) for w in waves])
    return hashes, identities, prints, waves


def test_same_pairs_finds_filtered_copies_and_equal_samples_not_other_hits() -> None:
    hashes, identities, prints, waves = _fixture()
    asked: list[int] = []

    def head(i: int) -> np.ndarray:
        asked.append(i)
        return waves[i][:CORR_SAMPLES]

    pairs = same_pairs(hashes, identities, prints, head)
    found = {(p.i, p.j): p.kind for p in pairs}
    assert found[(4, 5)] == "samples"
    assert found.get((0, 2)) == "near"  # only the first sound of each content is compared
    assert (0, 1) not in found and (1, 2) not in found  # exact copies are implied by the hash
    assert not any(k in found for k in [(0, 3), (0, 6), (3, 6), (0, 4), (3, 4)])
    assert 1 not in asked


def test_keep_first_keeps_the_best_copy_and_never_drops_for_a_dropped_sound() -> None:
    hashes, identities, prints, waves = _fixture()
    pairs = same_pairs(hashes, identities, prints, lambda i: waves[i][:CORR_SAMPLES])
    dropped = keep_first([2, 0, 1, 3, 5, 4, 6], hashes, pairs)
    assert keep_first([0, 1, 2], hashes, pairs)[1].kind == "exact"
    assert set(dropped) == {0, 1, 4}
    assert dropped[0].kind == "near" and dropped[0].j == 2
    assert dropped[1].kind == "near" and dropped[1].j == 2  # its content was dropped for 2, so it follows
    assert dropped[4].kind == "samples"
    # a chain a~b~c: with b dropped for a, c is kept (c is not the same as a kept sound)
    chain = [Same(0, 1, "near", 0.4), Same(1, 2, "near", 0.4)]
    assert set(keep_first([0, 1, 2], ["x", "y", "z"], chain)) == {1}


def test_record_pairs_expand_exact_copies_and_near_pairs() -> None:
    pairs = record_pairs(["a", "a", "b", "b"], [Same(0, 2, "near", 0.1)])
    assert sorted(pairs) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
