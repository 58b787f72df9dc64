"""A pad's tilt: a first-order lowpass (tilt < 0, darker) or highpass (tilt > 0, brighter) whose
corner moves with |tilt|, baked into a copy of the sound before it is played.

A fixed filter on a one-shot gives the same samples as a filter in the voice, so the audio
callback keeps no filter state. ``tilt_sound`` is also what the SFZ export bakes into its WAVs,
so an exported kit sounds like the engine. ``TiltCache`` filters a sound once per tilt;
``TiltWarmer`` does it ahead of the hits, off the trigger's thread.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Callable

import numpy as np

TILT_LOW_HZ = 200.0  # the lowpass corner at tilt -1 (at tilt 0 it is Nyquist: no filter)
TILT_HIGH_HZ = 5000.0  # the highpass corner at tilt 1 (at tilt 0 it is 0 Hz: no filter)
MAX_MAKEUP = 4.0  # at most +12 dB of make-up gain towards the unfiltered loudness
TILT_CACHE_MB = 64.0


def corner_hz(tilt: float, sample_rate: int) -> float:
    """The filter's corner: lowpass from Nyquist (tilt 0) down to 200 Hz (tilt -1) on a log scale,
    highpass from 0 Hz (tilt 0) up to 5 kHz (tilt 1) along tilt squared."""
    nyquist = sample_rate / 2.0
    s = abs(tilt)
    if tilt < 0:
        return float(nyquist * (min(TILT_LOW_HZ, nyquist) / nyquist) ** s)
    return min(TILT_HIGH_HZ * s * s, 0.99 * nyquist)


def _first_order(x: np.ndarray, tilt: float, sample_rate: int) -> np.ndarray:
    """``x`` float64 [L, C] through the bilinear one-pole lowpass (tilt < 0) or highpass (tilt > 0).

    y[n] = b0 x[n] + b1 x[n-1] + p y[n-1], the recursion done as an FFT convolution with p**k,
    k < L, cut where |p|**k falls below 1e-18 (so exact to float64 for the first L outputs, which is
    all a one-shot keeps). Both filters become the identity as |tilt| goes to 0 (their pole and
    zero meet), so the tilt has no jump there.
    """
    length = x.shape[0]
    k = math.tan(math.pi * corner_hz(tilt, sample_rate) / sample_rate)
    pole = (1.0 - k) / (1.0 + k)
    if tilt < 0:
        b0, b1 = k / (1.0 + k), k / (1.0 + k)
    else:
        b0, b1 = 1.0 / (1.0 + k), -1.0 / (1.0 + k)
    w = b0 * x
    w[1:] += b1 * x[:-1]
    if pole == 0.0:  # the corner at a quarter of the rate: no recursion
        return w
    taps = length if abs(pole) >= 1.0 else min(length, math.ceil(math.log(1e-18) / math.log(abs(pole))) + 1)
    h = np.arange(taps, dtype=np.float64)
    np.multiply(h, math.log(abs(pole)), out=h)
    np.exp(h, out=h)
    if pole < 0:
        h[1::2] *= -1.0
    n = 1 << (length + taps - 2).bit_length()  # >= length + taps - 1: no wrap-around
    y = np.fft.irfft(np.fft.rfft(w, n, axis=0) * np.fft.rfft(h, n)[:, None], n, axis=0)
    return np.asarray(y[:length])


def tilt_sound(sound: np.ndarray, tilt: float, sample_rate: int) -> np.ndarray:
    """``sound`` (finite, float [L] or [L, C]) tilted, as float32 of the same shape; ``sound`` itself at tilt 0.

    The filtered sound is made up towards the input's RMS (by at most +12 dB) but never above the
    input's peak, so a tilt changes the tone more than the level and never eats into headroom.
    """
    if not (math.isfinite(tilt) and -1.0 <= tilt <= 1.0):
        raise ValueError(f"tilt must be in -1..1 (below 0 darker, above 0 brighter), got {tilt}")
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
    if tilt == 0.0:
        return sound
    x = np.asarray(sound, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise ValueError(f"sound must be a non-empty wave [L] or [L, C], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("sound must hold finite samples to be tilted")
    y = _first_order(x.reshape(x.shape[0], -1), tilt, sample_rate).reshape(x.shape)
    rms_in, rms_out = float(np.sqrt(np.mean(x * x))), float(np.sqrt(np.mean(y * y)))
    peak_in, peak_out = float(np.abs(x).max()), float(np.abs(y).max())
    if rms_out > 0.0 and peak_out > 0.0:
        y *= min(rms_in / rms_out, MAX_MAKEUP, peak_in / peak_out)
    return np.asarray(y, dtype=np.float32)


class TiltCache:
    """Tilted copies of sounds by (source array, tilt), least recently used out past ``max_mb``.

    A sound is filtered once per tilt, and its tilted copy keeps one identity, so the sound pool
    copies it into shared memory once. Any thread; filtering runs outside the lock.
    """

    def __init__(self, sample_rate: int, max_mb: float = TILT_CACHE_MB) -> None:
        self.sample_rate = int(sample_rate)
        self.max_bytes = int(max_mb * 2**20)
        self._items: OrderedDict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._latest: dict[int, tuple[int, float]] = {}  # source id -> the key of its newest tilted copy
        self._bytes = 0
        self._lock = threading.Lock()
        self.filtered = 0  # sounds filtered so far (one per new source and tilt)

    def peek(self, sound: np.ndarray, tilt: float) -> np.ndarray | None:
        """``sound``'s copy for ``tilt`` when it is made (``sound`` itself at 0), else None; never filters."""
        if tilt == 0.0:
            return sound
        with self._lock:
            hit = self._items.get((id(sound), float(tilt)))
            if hit is None or hit[0] is not sound:
                return None
            self._items.move_to_end((id(sound), float(tilt)))
            return hit[1]

    def latest(self, sound: np.ndarray) -> np.ndarray | None:
        """The newest tilted copy of ``sound`` at any tilt (None: none made): what a hit plays while a
        tilt sweep runs ahead of the warmer."""
        with self._lock:
            key = self._latest.get(id(sound))
            hit = self._items.get(key) if key is not None else None
            return hit[1] if hit is not None and hit[0] is sound else None

    def get(self, sound: np.ndarray, tilt: float) -> np.ndarray:
        """``sound`` tilted by ``tilt`` (``sound`` itself at 0), filtered on the first call only."""
        if tilt == 0.0:
            return sound
        key = (id(sound), float(tilt))
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is sound:  # the source is held, so its id is not reused
                self._items.move_to_end(key)
                return hit[1]
        tilted = tilt_sound(sound, tilt, self.sample_rate)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is sound:  # another thread was first: keep one identity
                return hit[1]
            if hit is not None:  # unreachable while the source is held; keeps the byte count right
                self._bytes -= self._items.pop(key)[1].nbytes
            self.filtered += 1
            self._items[key] = (sound, tilted)
            self._latest[key[0]] = key
            self._bytes += tilted.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                old_key, (_, old) = self._items.popitem(last=False)
                self._bytes -= old.nbytes
                if self._latest.get(old_key[0]) == old_key:
                    del self._latest[old_key[0]]
        return tilted


class TiltWarmer:
    """Filters a pad's ready sounds for its tilt ahead of its hits, on a thread of its own, so a
    hit after a tilt change (or after a new variant) finds its copy made instead of filtering on
    the trigger's thread. Per pad the newest request wins: a knob sweep filters only where it stops."""

    def __init__(self, cache: TiltCache) -> None:
        self.cache = cache
        self._pending: dict[int, tuple[Callable[[], list[np.ndarray]], float]] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.warmed = 0  # sounds filtered ahead of a hit

    def warm(self, pad: int, sounds: Callable[[], list[np.ndarray]], tilt: float) -> None:
        """Filter ``sounds()`` (called on the warmer's thread) for ``tilt``, replacing pad ``pad``'s older request."""
        if tilt == 0.0:
            return
        with self._cond:
            if self._stop:
                return
            self._pending[pad] = (sounds, tilt)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gesam-tilt", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._stop or self._pending):
                    self._cond.wait()
                if self._stop:
                    return
                _, (sounds, tilt) = self._pending.popitem()
            try:
                for sound in sounds():
                    before = self.cache.filtered
                    self.cache.get(sound, tilt)
                    self.warmed += self.cache.filtered - before
            except Exception:  # noqa: BLE001 - a bad sound is the trigger's to refuse; the warmer goes on
                continue

    def stop(self) -> None:
        """End the thread (requests not yet filtered are dropped); a later ``warm`` starts a new one."""
        with self._cond:
            self._stop = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        with self._cond:
            self._stop, self._thread = False, None
            self._pending.clear()
