"""Phase Gradient Heap Integration (PGHI): a phase for an STFT magnitude, without iterations.

Prusa, Balazs & Sondergaard (2017), "A noniterative method for reconstruction of phase from
STFT magnitude", IEEE/ACM TASLP 25(5). The phase's time and frequency derivatives follow from
the log-magnitude's frequency and time derivatives (exact for a Gaussian window, close for
Hann with gamma = 0.25645 * n_fft**2); the phase is integrated along them from the loudest bin
outwards, loudest neighbour first (a max-heap), so errors gather where the sound is quiet.

Written for numba (a librosa dependency, so always installed): the heap is sequential. The
well-kept alternatives did not fit: ``pghipy`` (MIT, unmaintained since 2021) uses heapq over
tuples, a full-array argmax per island and Gaussian windows; ``tifresi`` needs ltfatpy, which
builds LTFAT from C. Phases follow torch.stft's convention (centred frames, each frame's phase
measured from its first sample, a periodic window peaking at n_fft / 2).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from gesam_engine.errors import CodecError

HANN_GAMMA = 0.25645  # gamma / n_fft**2 of the Gaussian closest to a Hann window (LTFAT's pghi)
BUCKET = 0.01  # heap key resolution in nepers (0.09 dB)


@numba.njit(cache=True, nogil=True)
def _integrate(logmag: np.ndarray, step_t: np.ndarray, step_f: np.ndarray, phase: np.ndarray, tol_log: float) -> None:
    """Heap integration over one spectrogram [F, T]; fills ``phase`` where the bin is within ``tol_log`` of the top.

    The max-heap is a bucket queue over log-magnitudes quantised to 0.01 neper (0.09 dB): push
    and pop are O(1), ties pop last-in first-out, so the order (and the result) is deterministic.
    """
    n_bins, n_frames = logmag.shape
    size = n_bins * n_frames
    flat = logmag.reshape(size)  # views: the arrays are C-contiguous (reshape refuses otherwise)
    top = flat.max()
    floor = top + tol_log
    n_buckets = int(-tol_log / BUCKET) + 2
    bucket = np.empty(size, dtype=np.int32)
    done = np.zeros(size, dtype=np.bool_)
    counts = np.zeros(n_buckets + 1, dtype=np.int64)
    for i in range(size):
        if flat[i] < floor:
            done[i] = True  # too quiet to integrate: keeps the phase it came with
            bucket[i] = -1
        else:
            q = min(int((flat[i] - floor) / BUCKET), n_buckets - 1)
            bucket[i] = q
            counts[n_buckets - 1 - q + 1] += 1
    # islands start at their loudest bin: a counting sort of the significant bins, loudest first
    for q in range(n_buckets):
        counts[q + 1] += counts[q]
    order = np.empty(counts[n_buckets], dtype=np.int64)
    for i in range(size):
        if bucket[i] >= 0:
            slot = n_buckets - 1 - bucket[i]
            order[counts[slot]] = i
            counts[slot] += 1
    head = np.full(n_buckets, -1, dtype=np.int64)
    nxt = np.empty(size, dtype=np.int64)
    ph = phase.reshape(size)
    st = step_t.reshape(size)
    sf = step_f.reshape(size)
    for start in order:
        if done[start]:
            continue
        done[start] = True
        ph[start] = 0.0
        level = bucket[start]
        nxt[start] = head[level]
        head[level] = start
        while level >= 0:
            here = head[level]
            if here < 0:
                level -= 1
                continue
            head[level] = nxt[here]
            b = here // n_frames
            t = here - b * n_frames
            for d in range(4):
                if d == 0:
                    if t + 1 >= n_frames:
                        continue
                    j = here + 1
                elif d == 1:
                    if t == 0:
                        continue
                    j = here - 1
                elif d == 2:
                    if b + 1 >= n_bins:
                        continue
                    j = here + n_frames
                else:
                    if b == 0:
                        continue
                    j = here - n_frames
                if done[j]:
                    continue
                if d == 0:
                    ph[j] = ph[here] + 0.5 * (st[here] + st[j])
                elif d == 1:
                    ph[j] = ph[here] - 0.5 * (st[here] + st[j])
                elif d == 2:
                    ph[j] = ph[here] + 0.5 * (sf[here] + sf[j])
                else:
                    ph[j] = ph[here] - 0.5 * (sf[here] + sf[j])
                done[j] = True
                q = bucket[j]
                nxt[j] = head[q]
                head[q] = j
                if q > level:
                    level = q


@numba.njit(cache=True, nogil=True)
def _pghi_batch(logmag: np.ndarray, active: np.ndarray, phase: np.ndarray, n_fft: int, hop: int, gamma: float,
                tol_log: float) -> None:
    """PGHI over a batch: logmag [B, F, T] natural-log magnitudes; phase [B, F, T] in/out; silent items skipped."""
    n_batch, n_bins, n_frames = logmag.shape
    to_t = hop * n_fft / gamma  # d(log|S|)/d(bin) -> phase step per frame, beyond the bin's own rotation
    to_f = gamma / (hop * n_fft)  # d(log|S|)/d(frame) -> phase step per bin
    for b in range(n_batch):
        if not active[b]:
            continue
        s = logmag[b]
        step_t = np.empty((n_bins, n_frames), dtype=np.float64)
        step_f = np.empty((n_bins, n_frames), dtype=np.float64)
        for k in range(n_bins):
            k0 = max(k - 1, 0)
            k1 = min(k + 1, n_bins - 1)
            rotation = 2.0 * math.pi * hop * k / n_fft
            for t in range(n_frames):
                t0 = max(t - 1, 0)
                t1 = min(t + 1, n_frames - 1)
                d_bin = (s[k1, t] - s[k0, t]) / max(k1 - k0, 1)
                d_frame = (s[k, t1] - s[k, t0]) / max(t1 - t0, 1)
                step_t[k, t] = rotation + to_t * d_bin
                step_f[k, t] = math.pi - to_f * d_frame
        _integrate(s, step_t, step_f, phase[b], tol_log)


def pghi_phase(
    magnitude: np.ndarray,
    n_fft: int,
    hop_length: int,
    tol: float = 1e-5,
    init: np.ndarray | None = None,
    gamma: float | None = None,
) -> np.ndarray:
    """Phase [B, F, T] float64 for STFT magnitudes [B, F, T] (F = n_fft // 2 + 1, torch.stft's layout).

    Bins more than ``tol`` (relative amplitude) below each item's loudest keep ``init`` (default 0).
    Each item is integrated on its own, so a batch gives the same phases as single items; the
    result depends only on the input (no random draw). Any thread; the first call compiles (~2 s,
    then cached on disk by numba).
    """
    mag = np.asarray(magnitude, dtype=np.float64)
    if mag.ndim != 3 or mag.shape[1] != n_fft // 2 + 1:
        raise CodecError(f"magnitude must be [B, {n_fft // 2 + 1}, T], got shape {mag.shape}")
    if not 0.0 < tol < 1.0:
        raise CodecError(f"tol must be in (0, 1), got {tol}")
    if not np.all(np.isfinite(mag)) or np.any(mag < 0):
        raise CodecError("magnitude must be finite and >= 0")
    g = HANN_GAMMA * n_fft**2 if gamma is None else float(gamma)
    top = mag.reshape(mag.shape[0], -1).max(axis=1, initial=0.0)  # (B,)
    # log floor 11 nepers under tolerance (as LTFAT), so the edge of an island has finite slopes
    floor = np.maximum(top * tol * math.exp(-11.0), 1e-300)[:, None, None]  # (B, 1, 1)
    logmag = np.ascontiguousarray(np.log(np.maximum(mag, floor)))  # (B, F, T)
    phase = np.zeros(mag.shape, np.float64)  # (B, F, T), C order: the integration writes through views
    if init is not None:
        phase[:] = init
    _pghi_batch(logmag, top > 0, phase, n_fft, hop_length, g, math.log(tol))  # silent items keep ``init``
    return phase
