"""Polyphonic sample voices: velocity, pitch by resampling, equal-power pan, choke groups, stealing,
and a pad's shape (attack, hold, decay and length, in output time whatever the pitch).

Every voice's output is a function of absolute sample time only: the voice remembers the
absolute frame it started at (and the frame its release started at), and each output sample
``t`` reads the sound at ``pos0 + rate * (t - start)`` with the fade-in, envelope and release
gains computed from the same integers. So rendering in blocks of 64 or 512 frames gives the same
samples, as long as commands arrive at the same absolute frames.

All state lives in arrays allocated in ``__init__``; ``render`` uses preallocated scratch with
``out=`` arguments and loops in Python over active voices only, never over samples.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gesam_engine.config import check
from gesam_engine.runtime.pads import MAX_ENVELOPE_MS

FREE, PLAYING, RELEASING = 0, 1, 2
_NEVER = np.iinfo(np.int64).max  # release end of a voice that is not releasing


@dataclasses.dataclass(frozen=True, slots=True)
class PlaySound:
    """Start a voice: what the mixer gets (from the command ring, or ``Renderer.submit`` offline) and the
    pool's ``start`` takes. It carries everything the mixer needs (the sound is already
    resolved and resampled), so rendering never waits on the model, the cache or another thread's
    lock. ``sound`` is mono float32 [L] at the output rate and is never modified."""

    sound: np.ndarray
    velocity: float = 1.0  # 0..1; the voice pool turns it into gain along its velocity curve
    gain: float = 1.0  # extra linear gain (a pad's level), 0..4
    rate: float = 1.0  # playback-rate ratio: 2.0 = an octave up (pitch by resampling)
    choke: int = -1  # choke group; -1 = none. Starting a voice fades out the others of its group
    pan: float = 0.0  # -1 left .. +1 right (equal-power)
    arrival: float = 0.0  # time.perf_counter() when the trigger reached the engine
    trigger_id: int = 0  # ties the trigger to its latency record
    at_frame: int = -1  # absolute output frame to start at (a timed trigger); -1 = the next block
    tag: int = -1  # the sound-pool slot it plays (published per voice, so the slot is not reused)
    # shape, in ms of output time (0..10000, as a Pad's): linear fade-in; full level after it; linear
    # fade to silence after that (0 = none: the sound rings out); release after this long (0 = never)
    attack: float = 0.0
    hold: float = 0.0
    decay: float = 0.0
    length: float = 0.0


@dataclasses.dataclass(frozen=True)
class VoiceConfig:
    """Voice settings (the ``[voices]`` section). ``PlaySound.gain`` is read as velocity 0..1.

    voices: how many voices may play at once (1..256); one more steals the oldest.
    velocity_curve: linear gain = velocity ** velocity_curve (0..8; 0 ignores velocity).
    fade_in_ms: linear fade at each voice's start against clicks (0..50 ms; 0 = none).
    release_ms: linear fade-out for choke, steal and panic (0..1000 ms; 0 = hard cut).
    """

    voices: int = 32
    velocity_curve: float = 2.0
    fade_in_ms: float = 0.5
    release_ms: float = 5.0

    def __post_init__(self) -> None:
        check(1 <= self.voices <= 256, f"voices.voices must be in 1..256, got {self.voices}")
        check(
            math.isfinite(self.velocity_curve) and 0.0 <= self.velocity_curve <= 8.0,
            f"voices.velocity_curve must be in 0..8 (gain = velocity**curve), got {self.velocity_curve}",
        )
        check(
            math.isfinite(self.fade_in_ms) and 0.0 <= self.fade_in_ms <= 50.0,
            f"voices.fade_in_ms must be in 0..50, got {self.fade_in_ms}",
        )
        check(
            math.isfinite(self.release_ms) and 0.0 <= self.release_ms <= 1000.0,
            f"voices.release_ms must be in 0..1000, got {self.release_ms}",
        )


def release_slots(voices: int) -> int:
    """Extra internal slots where stolen and choked voices finish their release fades."""
    return max(4, voices // 4)


def _count_positions(pos0: float, rate: float, limit: float, inclusive: bool) -> int:
    """Number of k >= 0 with ``pos0 + rate*k < limit`` (``<=`` if inclusive), rate > 0.

    Evaluates the same float64 expression as ``render`` so the two agree to the sample.
    """

    def inside(k: int) -> bool:
        p = pos0 + rate * float(k)
        return p <= limit if inclusive else p < limit

    k = max(0, math.ceil((limit - pos0) / rate))
    while k > 0 and not inside(k - 1):
        k -= 1
    while inside(k):
        k += 1
    return k


class VoicePool:
    """A fixed pool of sample voices rendering into float32 blocks [n, channels], n <= max_block.

    Every method is for the mixer only (nothing here is locked). ``slots`` is
    ``config.voices`` plus ``release_slots(config.voices)``: at most ``config.voices`` voices
    are PLAYING; the extra slots let stolen or choked voices fade out while new ones start.
    """

    def __init__(self, config: VoiceConfig, sample_rate: int, channels: int, max_block: int,
                 tags: np.ndarray | None = None) -> None:
        """``tags`` (int64 [slots], e.g. shared memory) receives each voice's ``PlaySound.tag``, -1 when free."""
        if sample_rate < 1:
            raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 (mono) or 2 (stereo), got {channels}")
        if max_block < 1:
            raise ValueError(f"max_block must be >= 1, got {max_block}")
        self.config = config
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.slots = config.voices + release_slots(config.voices)
        self._fade_n = int(round(config.fade_in_ms * sample_rate / 1000.0))
        self._release_n = int(round(config.release_ms * sample_rate / 1000.0))

        s = self.slots
        self._pos0 = np.zeros(s, dtype=np.float64)  # position in the sound at the first sample
        self._rate = np.ones(s, dtype=np.float64)  # sound samples per output sample
        self._gain = np.zeros(s, dtype=np.float64)  # velocity ** curve
        self._pan_gain = np.zeros((s, self.channels), dtype=np.float32)  # gain * pan law, per channel
        self._choke = np.full(s, -1, dtype=np.int64)
        self._state = np.zeros(s, dtype=np.int8)  # FREE / PLAYING / RELEASING
        self._start = np.zeros(s, dtype=np.int64)  # absolute frame of the voice's first sample
        self._end = np.zeros(s, dtype=np.int64)  # absolute frame after its last sample
        self._pair_end = np.zeros(s, dtype=np.int64)  # after the last sample with a right neighbour
        self._release_start = np.zeros(s, dtype=np.int64)
        self._release_end = np.full(s, _NEVER, dtype=np.int64)
        self._attack_n = np.zeros(s, dtype=np.int64)  # frames of the shape's fade-in (0 = none)
        self._decay_at = np.zeros(s, dtype=np.int64)  # frames from the start to the decay's first sample
        self._decay_n = np.zeros(s, dtype=np.int64)  # frames of the decay (0 = none)
        self._age = np.zeros(s, dtype=np.int64)  # start order: larger is newer
        self._sounds: list[np.ndarray | None] = [None] * s  # references only, never copied
        if tags is not None and (tags.shape != (s,) or tags.dtype != np.int64):
            raise ValueError(f"tags must be int64 ({s},), got {tags.dtype} {tags.shape}")
        self.tags = np.full(s, -1, np.int64) if tags is None else tags
        self.tags.fill(-1)
        self._counters = np.zeros(2, dtype=np.int64)  # steals, hard cuts
        self._frame = 0  # absolute frame of the next rendered sample
        self._started = 0

        b = self.max_block
        self._ramp = np.arange(b, dtype=np.float64)  # 0, 1, 2, ...
        self._k = np.empty(b, dtype=np.float64)  # samples since the voice's start
        self._p = np.empty(b, dtype=np.float64)  # read positions in the sound
        self._floor = np.empty(b, dtype=np.float64)
        self._i0 = np.empty(b, dtype=np.int64)
        self._i1 = np.empty(b, dtype=np.int64)
        self._frac = np.empty(b, dtype=np.float32)
        self._a = np.empty(b, dtype=np.float32)
        self._b = np.empty(b, dtype=np.float32)
        self._env = np.empty(b, dtype=np.float32)
        self._tmp64 = np.empty(b, dtype=np.float64)
        self._mask = np.empty(s, dtype=bool)
        self._mask2 = np.empty(s, dtype=bool)
        self._key = np.empty(s, dtype=np.int64)

    # ---- queries -------------------------------------------------------------------------
    @property
    def frame(self) -> int:
        """Absolute frame index of the next sample ``render`` writes (mixer)."""
        return self._frame

    @frame.setter
    def frame(self, value: int) -> None:
        """Set the clock (only while no voice plays: a new audio process continues the stream's count)."""
        self._frame = int(value)

    @property
    def steals(self) -> int:
        """Voices stolen (released early) because all ``config.voices`` were playing."""
        return int(self._counters[0])

    @property
    def hard_cuts(self) -> int:
        """Releasing voices cut without a fade because every slot was busy (should stay 0)."""
        return int(self._counters[1])

    def active(self) -> int:
        """Voices sounding now, playing or releasing (at most ``slots``). The mixer only."""
        return int(np.count_nonzero(self._state))

    def playing(self) -> int:
        """Voices playing and not releasing (at most ``config.voices``). The mixer only."""
        self._settle(self._frame)
        np.equal(self._state, PLAYING, out=self._mask)
        return int(np.count_nonzero(self._mask))

    # ---- commands ------------------------------------------------------------------------
    def start(self, cmd: PlaySound, at: int | None = None) -> int:
        """Start ``cmd.sound`` (mono float32 [L]) at absolute frame ``at`` (default and at least: the
        next rendered frame, so a timed start lands inside the next block); return its slot.

        ``cmd.velocity`` is clamped to 0..1 and gives gain = velocity**curve, times ``cmd.gain``
        (clamped to 0..4); ``cmd.rate`` > 0 is
        the playback rate; ``cmd.pan`` in -1..1 (clamped); ``cmd.choke`` >= 0 first releases the
        other voices of that group. The shape (``attack``, ``hold``, ``decay``, ``length`` in ms,
        clamped to 0..10000) counts output frames from the voice's start: a decay ends the voice
        where it reaches silence, a length releases it there (over release_ms). With every voice
        busy the oldest playing one is released (stolen) and the new one starts at once. Raises
        ValueError for an unusable command (a sound or gain that is not finite among them: nothing
        non-finite enters the mix).
        The mixer only.
        """
        sound = cmd.sound
        if not isinstance(sound, np.ndarray) or sound.ndim != 1 or sound.dtype != np.float32 or sound.size < 1:
            raise ValueError("PlaySound.sound must be a non-empty mono float32 array [L]")
        with np.errstate(over="ignore", invalid="ignore"):  # no warning printed from the audio callback
            energy = float(np.dot(sound, sound))
        if not math.isfinite(energy):  # NaN, inf, or |x| past ~1e19: never mixed
            raise ValueError("PlaySound.sound must hold finite samples (it has NaN, infinity or absurd values)")
        rate = float(cmd.rate)
        if not (math.isfinite(rate) and 1e-3 <= rate <= 1e3):
            raise ValueError(f"PlaySound.rate must be in 0.001..1000, got {cmd.rate}")
        velocity, level, pan = float(cmd.velocity), float(cmd.gain), float(cmd.pan)
        if not (math.isfinite(velocity) and math.isfinite(level) and math.isfinite(pan)):
            raise ValueError(f"PlaySound.velocity, gain and pan must be finite, got {cmd.velocity}, {cmd.gain}, {cmd.pan}")
        velocity = min(max(velocity, 0.0), 1.0)
        level = min(max(level, 0.0), 4.0)
        pan = min(max(pan, -1.0), 1.0)
        shape = (float(cmd.attack), float(cmd.hold), float(cmd.decay), float(cmd.length))
        if not all(math.isfinite(ms) for ms in shape):
            raise ValueError(f"PlaySound.attack, hold, decay and length must be finite ms, got {shape}")
        attack_n, hold_n, decay_n, length_n = (self._frames(ms) for ms in shape)
        group = int(cmd.choke)
        t = self._frame if at is None else max(int(at), self._frame)

        self._settle(t)
        if group >= 0:
            self.choke(group, t)
        if self.playing() >= self.config.voices:
            np.copyto(self._key, _NEVER)
            np.copyto(self._key, self._age, where=self._mask)  # _mask = PLAYING, from playing()
            self._release(int(np.argmin(self._key)), t)
            self._counters[0] += 1
        v = self._free_slot()

        gain = velocity**self.config.velocity_curve * level
        length = sound.shape[0]
        self._sounds[v] = sound
        self.tags[v] = cmd.tag
        self._pos0[v] = 0.0
        self._rate[v] = rate
        self._gain[v] = gain
        if self.channels == 1:
            self._pan_gain[v, 0] = gain
        else:  # equal power, normalised so a centred voice plays at unity in both channels
            theta = (pan + 1.0) * math.pi / 4.0
            self._pan_gain[v, 0] = gain * math.cos(theta) * math.sqrt(2.0)
            self._pan_gain[v, 1] = gain * math.sin(theta) * math.sqrt(2.0)
        self._choke[v] = group
        self._state[v] = PLAYING
        self._start[v] = t
        self._end[v] = t + _count_positions(0.0, rate, float(length), inclusive=False)
        self._pair_end[v] = t + _count_positions(0.0, rate, float(length - 1), inclusive=True)
        self._attack_n[v] = attack_n
        self._decay_at[v] = attack_n + hold_n
        self._decay_n[v] = decay_n
        if decay_n > 0:  # silent from the decay's end on: the voice ends there
            self._end[v] = min(int(self._end[v]), t + attack_n + hold_n + decay_n)
        self._release_start[v] = _NEVER
        self._release_end[v] = _NEVER
        if length_n > 0 and t + length_n < self._end[v]:  # cut by its length: a release scheduled now
            self._release_start[v] = t + length_n
            self._release_end[v] = t + length_n + self._release_n
        self._started += 1
        self._age[v] = self._started
        return v

    def choke(self, group: int, at: int | None = None) -> None:
        """Release (fade out over release_ms, from frame ``at``, default the next one) every playing
        voice of choke ``group``. The mixer only."""
        for v in range(self.slots):
            if self._state[v] == PLAYING and self._choke[v] == group:
                self._release(v, at)

    def stop_all(self) -> None:
        """Panic: release every playing voice; all are silent after release_ms. The mixer only."""
        for v in range(self.slots):
            if self._state[v] == PLAYING:
                self._release(v)

    def kill_all(self) -> None:
        """Free every voice at once, playing or releasing (the end of a panic's fade). The mixer only."""
        for v in range(self.slots):
            if self._state[v] != FREE:
                self._free(v)

    def _frames(self, ms: float) -> int:
        """Output frames of a shape time in ms (clamped to 0..10000); at least 1 when ms > 0."""
        ms = min(max(ms, 0.0), MAX_ENVELOPE_MS)
        return max(1, int(round(ms * self.sample_rate / 1000.0))) if ms > 0.0 else 0

    def _settle(self, t: int) -> None:
        """Mark the playing voices whose length release has begun by frame ``t`` as releasing."""
        np.less_equal(self._release_start, t, out=self._mask2)
        np.equal(self._state, PLAYING, out=self._mask)
        np.logical_and(self._mask, self._mask2, out=self._mask)
        np.copyto(self._state, RELEASING, where=self._mask)

    def _release(self, v: int, at: int | None = None) -> None:
        """Start voice ``v``'s release ramp at frame ``at`` (default the next rendered one); a hard
        cut when release_ms is 0 (at ``at``: the voice ends there). A release already scheduled
        (by the voice's length) to begin by then goes on unchanged."""
        t = self._frame if at is None else max(int(at), self._frame)
        if self._release_start[v] <= t:
            self._state[v] = RELEASING
            return
        if self._release_n == 0:
            if t <= self._frame:
                self._free(v)
            else:  # a cut inside the next block: the voice plays up to it
                self._state[v] = RELEASING
                self._release_start[v] = t
                self._release_end[v] = t
            return
        self._state[v] = RELEASING
        self._release_start[v] = t
        self._release_end[v] = t + self._release_n

    def _free(self, v: int) -> None:
        self._state[v] = FREE
        self._sounds[v] = None
        self.tags[v] = -1
        self._release_end[v] = _NEVER

    def _free_slot(self) -> int:
        """A free slot; if none, hard-cut the releasing voice that would end soonest."""
        np.equal(self._state, FREE, out=self._mask)
        v = int(np.argmax(self._mask))
        if self._mask[v]:
            return v
        np.equal(self._state, RELEASING, out=self._mask)
        np.copyto(self._key, _NEVER)
        np.minimum(self._end, self._release_end, out=self._key, where=self._mask)
        v = int(np.argmin(self._key))
        self._free(v)
        self._counters[1] += 1
        return v

    # ---- audio ---------------------------------------------------------------------------
    def render(self, out: np.ndarray) -> None:
        """Overwrite ``out`` [n, channels] float32 (n <= max_block) with the next n frames of the mix.

        Linear interpolation at ``pos0 + rate*k`` (the sample after a sound's end reads as 0),
        fade-in, attack, decay and release ramps per sample from absolute frame numbers, equal-power pan.
        Voices whose last sample falls in this block become free. The mixer only.
        """
        n = out.shape[0]
        if n > self.max_block or out.ndim != 2 or out.shape[1] != self.channels:
            raise ValueError(
                f"out must be [n <= {self.max_block}, {self.channels}] float32, got {out.shape}"
            )
        out.fill(0.0)
        t = self._frame
        for v in range(self.slots):
            sound = self._sounds[v]
            if sound is None:
                continue
            begin = max(t, int(self._start[v]))  # a timed voice may start inside the block
            stop = min(int(self._end[v]), int(self._release_end[v]))
            m = min(t + n, stop) - begin
            if m > 0:
                self._render_voice(v, sound, begin, m, out[begin - t:])
            if stop <= t + n:
                self._free(v)
        self._frame = t + n

    def _render_voice(self, v: int, sound: np.ndarray, t: int, m: int, out: np.ndarray) -> None:
        """Add voice ``v``'s samples for absolute frames [t, t+m) into out[:m]."""
        offset = t - int(self._start[v])  # samples since the voice started, at out[0]
        k = self._k[:m]
        np.add(self._ramp[:m], float(offset), out=k)
        p = self._p[:m]
        np.multiply(k, self._rate[v], out=p)
        np.add(p, self._pos0[v], out=p)
        fl = self._floor[:m]
        np.floor(p, out=fl)
        i0, i1 = self._i0[:m], self._i1[:m]
        np.copyto(i0, fl, casting="unsafe")
        np.add(i0, 1, out=i1)
        frac = self._frac[:m]
        np.subtract(p, fl, out=frac, casting="same_kind")
        a, b = self._a[:m], self._b[:m]
        np.take(sound, i0, out=a, mode="clip")
        np.take(sound, i1, out=b, mode="clip")
        z = int(self._pair_end[v]) - t  # from here on the right neighbour is past the end: 0
        if z < m:
            b[max(z, 0) :] = 0.0
        np.subtract(b, a, out=b)
        np.multiply(b, frac, out=b)
        np.add(a, b, out=a)  # a = interpolated sound

        if offset < self._fade_n:  # fade-in gain (k+1)/fade_n for the first fade_n samples
            j = min(m, self._fade_n - offset)
            np.add(k[:j], 1.0, out=self._tmp64[:j])
            np.divide(self._tmp64[:j], float(self._fade_n), out=self._env[:j], casting="same_kind")
            np.multiply(a[:j], self._env[:j], out=a[:j])
        attack_n = int(self._attack_n[v])
        if offset < attack_n:  # the shape's attack: gain (k+1)/attack_n, like the fade-in
            j = min(m, attack_n - offset)
            np.add(k[:j], 1.0, out=self._tmp64[:j])
            np.divide(self._tmp64[:j], float(attack_n), out=self._env[:j], casting="same_kind")
            np.multiply(a[:j], self._env[:j], out=a[:j])
        decay_n = int(self._decay_n[v])
        if decay_n > 0:  # decay gain (decay_at + decay_n - k) / decay_n, 1 at its first sample
            d0 = max(0, int(self._decay_at[v]) - offset)
            if d0 < m:
                d = self._tmp64[d0:m]
                np.subtract(float(int(self._decay_at[v]) + decay_n), k[d0:m], out=d)
                np.divide(d, float(decay_n), out=self._env[d0:m], casting="same_kind")
                np.multiply(a[d0:m], self._env[d0:m], out=a[d0:m])
        rel_end = int(self._release_end[v])
        if rel_end != _NEVER and self._release_n > 0:  # release gain (rel_end - frame) / release_n, 1 at its first sample
            r0 = max(0, int(self._release_start[v]) - t)
            if r0 < m:
                d = self._tmp64[r0:m]
                np.subtract(float(rel_end - t), self._ramp[r0:m], out=d)
                np.divide(d, float(self._release_n), out=self._env[r0:m], casting="same_kind")
                np.multiply(a[r0:m], self._env[r0:m], out=a[r0:m])
        tmp = self._b[:m]
        for c in range(self.channels):
            np.multiply(a, self._pan_gain[v, c], out=tmp)
            col = out[:m, c]
            np.add(col, tmp, out=col)
