"""Turning any decoded one-shot into a training wave: resampled, onset-aligned, fixed length,
loudness-normalised and peak-limited, so the models see sounds on equal footing.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pyloudnorm

from gesam_engine.config import check
from gesam_engine.data.audio_io import resample
from gesam_engine.errors import AudioFileError


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """How every sample is conditioned before encoding (the TOML ``[preprocess]`` table)."""

    sample_rate: int = 44100
    duration_s: float = 1.5
    trim_threshold_db: float = -40.0  # onset = first sample above this, relative to the peak
    preroll_ms: float = 1.0  # kept before the onset
    fade_out_ms: float = 30.0  # at the crop point, only when the sound is cropped
    fade_in_ms: float = 0.5  # only when trimming cut into (non-digital-silent) sound
    target_lufs: float = -18.0
    peak_ceiling_db: float = -1.0
    silence_db: float = -60.0  # an absolute peak below this (dBFS) means the file is silent
    max_input_s: float = 30.0  # longer files are refused before decoding

    def __post_init__(self) -> None:
        check(8000 <= self.sample_rate <= 192000, f"preprocess.sample_rate must be in 8000..192000, got {self.sample_rate}")
        check(0.05 <= self.duration_s <= 60.0, f"preprocess.duration_s must be in 0.05..60 s, got {self.duration_s}")
        check(-120.0 < self.trim_threshold_db < 0.0,
              f"preprocess.trim_threshold_db must be in (-120, 0) dB, got {self.trim_threshold_db}")
        check(0.0 <= self.preroll_ms <= 100.0, f"preprocess.preroll_ms must be in 0..100 ms, got {self.preroll_ms}")
        check(
            0.0 <= self.fade_out_ms <= self.duration_s * 1000.0,
            f"preprocess.fade_out_ms must be in 0..duration_s*1000, got {self.fade_out_ms}",
        )
        check(0.0 <= self.fade_in_ms <= 100.0, f"preprocess.fade_in_ms must be in 0..100 ms, got {self.fade_in_ms}")
        check(-70.0 <= self.target_lufs <= 0.0, f"preprocess.target_lufs must be in -70..0 LUFS, got {self.target_lufs}")
        check(-60.0 <= self.peak_ceiling_db <= 0.0,
              f"preprocess.peak_ceiling_db must be in -60..0 dBFS, got {self.peak_ceiling_db}")
        check(-150.0 <= self.silence_db < 0.0, f"preprocess.silence_db must be in -150..0 dBFS, got {self.silence_db}")
        check(self.max_input_s > 0.0, f"preprocess.max_input_s must be positive, got {self.max_input_s}")

    @property
    def n_samples(self) -> int:
        """Length of every prepared wave: round(duration_s * sample_rate)."""
        return int(round(self.duration_s * self.sample_rate))


def _ms(ms: float, rate: int) -> int:
    return int(round(ms * rate / 1000.0))


def _trim_start(wave: np.ndarray, peak: float, config: PreprocessConfig, rate: int) -> int:
    """Index of the first kept sample: the onset minus the preroll."""
    threshold = peak * 10.0 ** (config.trim_threshold_db / 20.0)
    onset = int(np.argmax(np.abs(wave) > threshold))
    return max(0, onset - _ms(config.preroll_ms, rate))


def _fit_length(wave: np.ndarray, n: int, fade_out: int) -> np.ndarray:
    """Crop with a half-cosine fade-out at the cut, or zero-pad, to exactly ``n`` samples."""
    if wave.size > n:
        out = wave[:n].copy()
        k = min(fade_out, n)
        if k > 0:
            out[n - k:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, k, dtype=np.float32)))
        return out
    out = np.zeros(n, dtype=np.float32)
    out[: wave.size] = wave
    return out


def loudness_meter(rate: int, n_samples: int) -> pyloudnorm.Meter:
    """The project's BS.1770 meter for sounds of ``n_samples``: blocks of 400 ms, shorter for sounds
    under 0.8 s. Training waves, decoded sounds and the evaluation are all measured with it."""
    return pyloudnorm.Meter(rate, block_size=min(0.4, 0.5 * n_samples / rate))


def _normalise_loudness(wave: np.ndarray, sound_len: int, config: PreprocessConfig) -> np.ndarray:
    """Integrated-loudness normalisation (BS.1770 via pyloudnorm), RMS if that is undefined."""
    rate = config.sample_rate
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # clipping warnings: the peak ceiling follows
            loudness = loudness_meter(rate, wave.size).integrated_loudness(wave.astype(np.float64))
            if np.isfinite(loudness):
                out: np.ndarray = pyloudnorm.normalize.loudness(wave.astype(np.float64), loudness, config.target_lufs)
                if np.all(np.isfinite(out)):
                    return out.astype(np.float32)
    except (ValueError, FloatingPointError):
        pass  # too short or too quiet for gating: fall back to RMS below
    body = wave[: max(sound_len, 1)]
    rms = float(np.sqrt(np.mean(np.square(body, dtype=np.float64))))
    gain: float = 10.0 ** (config.target_lufs / 20.0) / max(rms, 1e-12)
    return (wave * gain).astype(np.float32)


def checked_mono(wave: np.ndarray) -> np.ndarray:
    """``wave`` as float32 [L]; AudioFileError if it is not mono, is empty or holds NaN/inf."""
    w = np.asarray(wave, dtype=np.float32)
    if w.ndim != 1:
        raise AudioFileError(f"expected a mono wave [L], got shape {w.shape}")
    if w.size == 0:
        raise AudioFileError("empty file (no audio frames)")
    if not np.all(np.isfinite(w)):
        raise AudioFileError("contains NaN or infinite sample values")
    return w


def prepare_wave(wave: np.ndarray, rate: int, config: PreprocessConfig) -> np.ndarray:
    """Mono wave [L] at ``rate`` -> float32 [config.n_samples] at ``config.sample_rate``.

    Raises AudioFileError for empty, non-finite ("contains NaN") or silent input.
    """
    w = resample(checked_mono(wave), rate, config.sample_rate)
    sr = config.sample_rate
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    peak_db = 20.0 * np.log10(peak) if peak > 0 else -np.inf
    if peak_db < config.silence_db:
        raise AudioFileError(f"silent (peak {peak_db:.1f} dBFS is below silence_db {config.silence_db:g})")

    start = _trim_start(w, peak, config, sr)
    cut_into_sound = start > 0 and bool(np.any(w[:start] != 0.0))
    w = w[start:]
    if cut_into_sound:
        k = min(_ms(config.fade_in_ms, sr), w.size)
        if k > 0:
            w = w.copy()
            w[:k] *= np.linspace(0.0, 1.0, k, endpoint=False, dtype=np.float32)

    n = config.n_samples
    sound_len = min(w.size, n)
    w = _fit_length(w, n, _ms(config.fade_out_ms, sr))
    w = _normalise_loudness(w, sound_len, config)

    ceiling = float(10.0 ** (config.peak_ceiling_db / 20.0))
    peak = float(np.max(np.abs(w)))
    if peak > ceiling:
        w *= np.float32(ceiling / peak)
    np.clip(w, -ceiling, ceiling, out=w)
    if not np.all(np.isfinite(w)):  # cannot happen for finite input; guard the contract anyway
        raise AudioFileError("preprocessing produced non-finite values")
    return w.astype(np.float32, copy=False)
