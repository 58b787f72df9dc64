"""Finding sounds that are the same recording: equal bytes, equal SoundFont samples, or near copies.

Two sounds count as the same when

* their conditioned files have equal bytes (``exact``), or
* they are SoundFont hits of the same font and key playing the same samples (``samples``: the
  same sample at another velocity or in a preset variant, only filtered or detuned), or
* their fingerprints (``oneshot.fingerprint``: log-mel dB of the first second relative to
  the sound's own maximum, floored at -60 dB) are within ``near_db`` RMS (``near``), or
  within ``candidate_db`` while their waveforms, aligned within +-5 ms, correlate at least
  ``min_corr`` over the first 8192 samples (``near``: one hit, re-gained or lightly filtered).

Measured on the packaged sources: two velocity layers cut from separate hits correlate at a
median 0.4-0.5 and mostly stay under 0.95 and above 0.5 dB; one hit shipped as several
"layers" or in two packages lands under 0.5 dB or at 0.97-1.0 correlation.

``keep_first`` walks the sounds in priority order and keeps a sound unless it is the same as
one already kept, so a copy is only ever removed in favour of a kept sound.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

NEAR_DB = 0.5
CANDIDATE_DB = 3.0
MIN_CORR = 0.95
CORR_SAMPLES = 8192
CORR_LAG = 220  # +-5 ms at 44.1 kHz


@dataclasses.dataclass(frozen=True)
class Same:
    """Sounds ``i`` and ``j`` are the same: how (exact, samples, near), distance in dB, correlation."""

    i: int
    j: int
    kind: str
    distance_db: float
    corr: float | None = None


def distances_to(fingerprints: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """RMS dB distance from each of ``rows`` [R, D] to every fingerprint [N, D] -> [R, N] float32."""
    f = np.asarray(fingerprints, dtype=np.float64)
    r = np.asarray(rows, dtype=np.float64)
    sq = (r * r).sum(1)[:, None] + (f * f).sum(1)[None, :] - 2.0 * r @ f.T  # (R, N)
    dist: np.ndarray = np.sqrt(np.maximum(sq, 0.0) / max(f.shape[1], 1)).astype(np.float32)
    return dist


def near_pairs(fingerprints: np.ndarray, threshold_db: float, block: int = 512) -> list[tuple[int, int, float]]:
    """Every pair (i, j, distance) with i < j and distance < ``threshold_db``, in blocks of rows."""
    f = np.asarray(fingerprints, dtype=np.float32)
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, f.shape[0], block):
        d = distances_to(f, f[start:start + block])  # (R, N)
        rows, cols = np.nonzero(d < threshold_db)
        for r, c in zip(rows.tolist(), cols.tolist()):
            if start + r < c:
                pairs.append((start + r, c, float(d[r, c])))
    return pairs


def correlation(a: np.ndarray, b: np.ndarray, lag: int = CORR_LAG) -> float:
    """Peak normalised cross-correlation of two waves [L] within +-``lag`` samples (1.0: equal up to gain)."""
    n = max(a.size, b.size)
    size = 1 << int(np.ceil(np.log2(max(2 * n, 2))))
    spec = np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size))
    c = np.fft.irfft(spec, size)
    window = np.concatenate([c[-lag:], c[: lag + 1]])
    norm = float(np.sqrt(np.sum(a.astype(np.float64) ** 2) * np.sum(b.astype(np.float64) ** 2)))
    return float(np.max(window) / norm) if norm > 0 else 0.0


def same_pairs(
    hashes: Sequence[str],
    identities: Sequence[str | None],
    fingerprints: np.ndarray,
    head: Callable[[int], np.ndarray],
    near_db: float = NEAR_DB,
    candidate_db: float = CANDIDATE_DB,
    min_corr: float = MIN_CORR,
) -> list[Same]:
    """Pairs of sounds that are the same (see the module docstring), i < j.

    Exact copies are implied by equal ``hashes`` and not listed. ``near`` pairs are listed once
    per pair of distinct contents, between the first sounds with those hashes; ``samples``
    pairs between every two sounds of equal identity and different content. ``head(i)`` returns
    the first ``CORR_SAMPLES`` samples of sound ``i`` (asked only for near candidates).
    """
    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        first.setdefault(h, i)
    reps = sorted(first.values())
    out: list[Same] = []
    groups: dict[str, list[int]] = {}
    for i, ident in enumerate(identities):
        if ident is not None:
            groups.setdefault(ident, []).append(i)
    for members in groups.values():
        for a, i in enumerate(members):
            out.extend(Same(i, j, "samples", 0.0) for j in members[a + 1:] if hashes[i] != hashes[j])
    f = np.asarray(fingerprints)[reps]
    for a, b, d in near_pairs(f, max(near_db, candidate_db)):
        i, j = reps[a], reps[b]
        if d < near_db:
            out.append(Same(i, j, "near", d))
        else:
            c = correlation(head(i), head(j))
            if c >= min_corr:
                out.append(Same(i, j, "near", d, c))
    return out


def record_pairs(hashes: Sequence[str], pairs: Sequence[Same]) -> list[tuple[int, int]]:
    """Every pair of sounds (i, j) that are the same, exact copies and copies of near pairs included."""
    members: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        members.setdefault(h, []).append(i)
    out: list[tuple[int, int]] = []
    for group in members.values():
        out.extend((i, j) for a, i in enumerate(group) for j in group[a + 1:])
    for p in pairs:
        if p.kind == "near":
            out.extend((i, j) for i in members[hashes[p.i]] for j in members[hashes[p.j]])
        else:
            out.append((p.i, p.j))
    return out


def keep_first(order: Sequence[int], hashes: Sequence[str], pairs: Sequence[Same]) -> dict[int, Same]:
    """Which sounds to drop: index -> the pair tying it to a kept sound (kind "exact": equal hash).

    ``order`` lists sound indices best first. A sound is dropped when a kept sound has its
    content, or content near to its content, or its identity (a ``samples`` pair).
    """
    near: dict[str, list[tuple[str, Same]]] = {}
    same: dict[int, list[Same]] = {}
    for p in pairs:
        if p.kind == "near":
            near.setdefault(hashes[p.i], []).append((hashes[p.j], p))
            near.setdefault(hashes[p.j], []).append((hashes[p.i], p))
        else:
            same.setdefault(p.i, []).append(p)
            same.setdefault(p.j, []).append(p)
    kept_hash: dict[str, int] = {}  # content -> the kept sound with it
    kept: set[int] = set()
    dropped: dict[int, Same] = {}
    for i in order:
        h = hashes[i]
        if h in kept_hash:
            dropped[i] = Same(i, kept_hash[h], "exact", 0.0)
            continue
        tie = next(
            (Same(i, kept_hash[other], "near", p.distance_db, p.corr) for other, p in near.get(h, []) if other in kept_hash),
            None,
        ) or next((p for p in same.get(i, []) if (p.j if p.i == i else p.i) in kept), None)
        if tie is None:
            kept.add(i)
            kept_hash[h] = i
        else:
            dropped[i] = tie
    return dropped
