"""The output's safety limiter: a look-ahead, true-peak brick wall that is always on.

It runs last in ``Renderer.render_block`` (after the effects and the output gain), so the device
and bounces get the same guarantee: no sample at or above the ceiling (default -0.3 dBFS), never
NaN or infinity. How:

- Peaks are detected on a 4x oversampled estimate (the sample plus three interpolated points to
  the next one, a 24-tap Kaiser-windowed sinc per point, as a BS.1770 true-peak meter does), so
  inter-sample peaks count too.
- The signal is delayed by the look-ahead (``lookahead_ms``, default 1 ms: that much latency);
  the gain reaches the reduction a peak needs ``_HOLD`` samples before it, after a smooth ramp
  (linear in dB) over the rest of the look-ahead, and recovers exponentially (``release_ms``).
- A final hard clip just below the ceiling catches rounding; a block holding NaN or infinity
  is replaced by silence (the caller resets whatever made it).

Every step is per sample from absolute frame numbers (the release runs as a cumulative maximum
in the log domain), so any block size gives bit-identical output. ``process`` allocates nothing:
preallocated buffers, strided views and ``out=`` arguments. The mixer only.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from gesam_engine.config import check

_TAPS = 24  # interpolator taps per point: x[i-11] .. x[i+12]
_BEFORE = 11  # taps before the sample
_AFTER = _TAPS - 1 - _BEFORE  # 12 taps after it: detection lags the input by this much
_HOLD = _AFTER  # samples before a peak that already get its full reduction
_MARGIN_DB = 0.1  # detection threshold below the ceiling: room for what gain changes add between samples
_TINY = 1e-9  # nepers of reduction treated as none (exp(-1e-9) is 1.0 in float32)
_MAX_REDUCTION = 80.0  # nepers (about 695 dB): caps the reduction for absurd but finite input
_ENGAGED = 1e-4  # nepers (about 0.001 dB): a block with more reduction counts as limited
_DB_PER_NEPER = 20.0 / math.log(10.0)


@dataclasses.dataclass(frozen=True)
class LimiterConfig:
    """The ``[limiter]`` section. It can be set here only: no OSC, MIDI or console command reaches it.

    ceiling_db: highest true peak of the output, in dBFS (-20..-0.1).
    lookahead_ms: how far ahead the limiter looks (0.5..5 ms); the output is delayed by this much.
    release_ms: time constant of the gain's recovery after a peak (1..1000 ms).
    """

    ceiling_db: float = -0.3
    lookahead_ms: float = 1.0
    release_ms: float = 50.0

    def __post_init__(self) -> None:
        check(math.isfinite(self.ceiling_db) and -20.0 <= self.ceiling_db <= -0.1,
              f"limiter.ceiling_db must be in -20..-0.1 dBFS (the limiter cannot be switched off), "
              f"got {self.ceiling_db}")
        check(math.isfinite(self.lookahead_ms) and 0.5 <= self.lookahead_ms <= 5.0,
              f"limiter.lookahead_ms must be in 0.5..5 (it adds that much latency), got {self.lookahead_ms}")
        check(math.isfinite(self.release_ms) and 1.0 <= self.release_ms <= 1000.0,
              f"limiter.release_ms must be in 1..1000, got {self.release_ms}")


    def latency_frames(self, sample_rate: int) -> int:
        """Frames of delay the limiter adds at ``sample_rate`` (its look-ahead, at least the interpolator's reach)."""
        return max(round(self.lookahead_ms * sample_rate / 1000.0), 2 * _AFTER)

    def stats(self, sample_rate: int) -> dict[str, float]:
        """The settings, JSON-ready (the counters come from the mixer)."""
        return {"ceiling_db": self.ceiling_db, "lookahead_ms": self.lookahead_ms, "release_ms": self.release_ms,
                "latency_ms": 1000.0 * self.latency_frames(sample_rate) / sample_rate}


def interpolator() -> np.ndarray:
    """Float32 [4, 24]: row 0 picks x[i]; rows 1-3 estimate x at i+0.25, i+0.5, i+0.75 from
    x[i-11] .. x[i+12] (Kaiser-windowed sinc, beta 8, each row summing to 1)."""
    k = np.arange(-_BEFORE, _AFTER + 1, dtype=np.float64)  # tap offsets relative to i
    h = np.zeros((4, _TAPS), dtype=np.float64)
    h[0, _BEFORE] = 1.0
    beta, half = 8.0, _TAPS / 2.0 + 0.5
    for row, frac in enumerate((0.25, 0.5, 0.75), start=1):
        d = frac - k  # distance of each tap from the point
        window = np.i0(beta * np.sqrt(np.clip(1.0 - (d / half) ** 2, 0.0, None))) / np.i0(beta)
        h[row] = np.sinc(d) * window
        h[row] /= h[row].sum()
    return h.astype(np.float32)


class SafetyLimiter:
    """Limits float32 [n, channels] blocks in place (n <= max_block); ``latency`` frames of delay.

    ``process`` and ``reset`` are for the mixer only; the counters may be read from any
    thread (plain numbers, written by the mixer).
    """

    def __init__(self, config: LimiterConfig, sample_rate: int, channels: int, max_block: int) -> None:
        if sample_rate < 1 or channels < 1 or max_block < 1:
            raise ValueError(f"sample_rate, channels and max_block must be >= 1, got {sample_rate}, "
                             f"{channels}, {max_block}")
        self.config = config
        self.sample_rate, self.channels, self.max_block = int(sample_rate), int(channels), int(max_block)
        self.ceiling = 10.0 ** (config.ceiling_db / 20.0)
        self._threshold = np.float32(10.0 ** ((config.ceiling_db - _MARGIN_DB) / 20.0))
        self._log_threshold = math.log(float(self._threshold))
        self._clip = np.nextafter(np.float32(self.ceiling), np.float32(0.0))  # strictly below the ceiling
        L = config.latency_frames(sample_rate)
        self.latency = L  # frames of delay between input and output
        self._look = La = L - _AFTER  # how far ahead of a sample its gain is decided
        self._keep = K = L + _AFTER  # input frames carried over between blocks
        self._inv_tau = 1000.0 / (config.release_ms * sample_rate)  # release: G *= exp(-1/tau) a sample

        C, B = self.channels, self.max_block
        M = B + L - _BEFORE  # most interpolated points a block needs
        self._h = interpolator()
        self._work = [np.zeros((C, K + B), dtype=np.float32) for _ in range(2)]  # [history | block]
        # windows[c, t, r] = work[c, r + t]: the taps of point r, for one matmul per block
        self._windows = [as_strided(w, shape=(C, _TAPS, K + B - _TAPS + 1), strides=(w.strides[0], 4, 4),
                                    writeable=False) for w in self._work]
        self._cur = 0
        # flat scratch, reshaped to each block's size so every array an op writes is contiguous
        # (numpy copies non-contiguous in-place operands: an allocation per block)
        self._interp = np.empty(C * 4 * M, dtype=np.float32)
        self._peak = np.empty(M, dtype=np.float32)  # peak over [i, i+1), both channels
        self._need32 = np.empty(B + La, dtype=np.float32)
        self._need = np.empty(B + La, dtype=np.float64)  # reduction each sample needs, nepers
        self._ahead = as_strided(self._need, shape=(La + 1, B), strides=(8, 8), writeable=False)
        self._weighted = np.empty((La + 1) * B, dtype=np.float64)
        weights = np.ones(La + 1, dtype=np.float64)  # full reduction _HOLD samples ahead, then a ramp
        ramp = La + 1 - _HOLD
        weights[_HOLD + 1:] = (ramp - np.arange(1, La + 1 - _HOLD, dtype=np.float64)) / ramp
        self.weights = weights
        self._weight_rows: dict[int, np.ndarray] = {B: np.repeat(weights[:, None], B, axis=1)}
        self._g = np.empty(B, dtype=np.float64)
        self._t = np.empty(B, dtype=np.float64)
        self._ramp = np.arange(B, dtype=np.float64)
        self._gain = np.empty(B, dtype=np.float32)
        self._finite = np.empty(B * C, dtype=bool)
        self._carry = -math.inf  # log-domain release state (see _release)
        self._frame = 0  # absolute index of the next output frame

        self.engaged_blocks = 0  # blocks with any gain reduction
        self.clipped_blocks = 0  # blocks the final hard clip touched (none, unless rounding)
        self.nonfinite_blocks = 0  # input blocks with NaN or infinity, replaced by silence
        self.max_reduction_db = 0.0  # the largest gain reduction so far

    def stats(self) -> dict[str, float | int]:
        """Settings and counters, JSON-ready. Any thread."""
        return {**self.config.stats(self.sample_rate), "engaged_blocks": self.engaged_blocks,
                "max_reduction_db": round(self.max_reduction_db, 3),
                "clipped_blocks": self.clipped_blocks, "nonfinite_blocks": self.nonfinite_blocks}

    def reset(self) -> None:
        """Forget the delay line and the gain state (the next ``latency`` frames come out silent)."""
        for w in self._work:
            w.fill(0.0)
        self._carry = -math.inf

    def process(self, block: np.ndarray) -> bool:
        """Limit ``block`` (float32 [n, channels]) in place; False if it held NaN or infinity (it
        was limited as silence). The output is the input of ``latency`` frames ago."""
        n = block.shape[0]
        if not (1 <= n <= self.max_block and block.shape[1:] == (self.channels,) and block.dtype == np.float32):
            raise ValueError(f"the limiter needs float32 [1..{self.max_block}, {self.channels}], "
                             f"got {block.dtype} {block.shape}")
        C, K, L, La = self.channels, self._keep, self.latency, self._look
        w, win = self._work[self._cur], self._windows[self._cur]
        fin = self._finite[:n * C].reshape(n, C)
        np.isfinite(block, out=fin)
        finite = bool(fin.all())
        if finite:
            np.copyto(w[:, K:K + n].T, block)
        else:
            w[:, K:K + n] = 0.0
            self.nonfinite_blocks += 1

        # peak of the 4x oversampled signal over [i, i+1), for i = 11 .. n+L-1 (work-buffer index)
        m = n + L - _BEFORE
        interp = self._interp[:C * 4 * m].reshape(C, 4, m)
        with np.errstate(over="ignore", invalid="ignore"):  # absurd input overflows here; fmin below caps it
            np.matmul(self._h, win[:, :, :m], out=interp)
        np.abs(interp, out=interp)
        peak = self._peak[:m]
        np.max(interp.reshape(C * 4, m), axis=0, out=peak)
        # the reduction sample i = 12 .. n+L-1 needs so that both segments touching it stay under
        need32 = self._need32[:n + La]
        np.maximum(peak[:-1], peak[1:], out=need32)
        np.maximum(need32, self._threshold, out=need32)
        need = self._need[:n + La]
        np.copyto(need, need32)
        np.log(need, out=need)
        np.subtract(need, self._log_threshold, out=need)
        np.fmin(need, _MAX_REDUCTION, out=need)  # fmin also turns NaN (inf - inf in the sums) into the cap

        # attack: output k gets the most any of the next La samples asks of it, weighted by distance
        weighted = self._weighted[:(La + 1) * n].reshape(La + 1, n)
        np.copyto(weighted, self._ahead[:, :n])
        np.multiply(weighted, self._weights_for(n), out=weighted)
        g = self._g[:n]
        np.max(weighted, axis=0, out=g)
        self._release(g, n)
        top = float(np.max(g))
        if top > _ENGAGED:
            self.engaged_blocks += 1
            self.max_reduction_db = max(self.max_reduction_db, top * _DB_PER_NEPER)

        gain = self._gain[:n]
        np.negative(g, out=g)
        np.exp(g, out=g)
        np.copyto(gain, g, casting="same_kind")
        for c in range(C):  # per channel: a broadcast (n, 1) gain would make numpy buffer (allocate)
            np.multiply(w[c, K - L:K - L + n], gain, out=block[:, c])
        clip = self._clip
        if np.max(block) > clip or np.min(block) < -clip:  # never, unless rounding: the gain holds it
            np.clip(block, -clip, clip, out=block)
            self.clipped_blocks += 1

        nxt = self._work[1 - self._cur]
        np.copyto(nxt[:, :K], w[:, n:n + K])
        self._cur = 1 - self._cur
        self._frame += n
        return finite

    def _weights_for(self, n: int) -> np.ndarray:
        """The attack weights as a contiguous [La+1, n] array (made once per block size)."""
        rows = self._weight_rows.get(n)
        if rows is None:
            rows = self._weight_rows[n] = np.ascontiguousarray(self._weight_rows[self.max_block][:, :n])
        return rows

    def _release(self, g: np.ndarray, n: int) -> None:
        """In place: g[k] = max(g[k], g[k-1] * exp(-1/tau)), carried across blocks.

        In the log domain with absolute time this is a running maximum:
        log g[k] + t_k/tau = max over j <= k of (log g[j] + t_j/tau), exact in any block size.
        """
        t = self._t[:n]
        np.add(self._ramp[:n], float(self._frame), out=t)
        np.multiply(t, self._inv_tau, out=t)
        np.maximum(g, _TINY, out=g)
        np.log(g, out=g)
        np.add(g, t, out=g)
        np.maximum.accumulate(g, out=g)
        np.maximum(g, self._carry, out=g)
        self._carry = float(g[n - 1])
        np.subtract(g, t, out=g)
        np.exp(g, out=g)
