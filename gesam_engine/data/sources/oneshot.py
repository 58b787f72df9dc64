"""Making one corpus file from one hit: trimmed, faded, peak-normalised, hashed and fingerprinted.

Every source (a Hydrogen sample, a fluidsynth slice, a synthesised drum) goes through
``condition``, so equal sounds become equal bytes and the exact-duplicate check is a hash
compare. ``fingerprint`` is a coarse picture of the sound for the near-duplicate check: the same
recording shipped twice, re-encoded or rendered with a slightly different gain or filter lands
within a small distance of itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io

import librosa
import numpy as np
import soundfile as sf

from gesam_engine.config import check
from gesam_engine.data.audio_io import resample
from gesam_engine.data.preprocess import checked_mono
from gesam_engine.errors import AudioFileError

FINGERPRINT_BANDS = 40
FINGERPRINT_SECONDS = 1.0
FINGERPRINT_HOP = 1024
FINGERPRINT_FLOOR_DB = -60.0


@dataclasses.dataclass(frozen=True)
class OneShotConfig:
    """How a hit is cut and stored (44.1 kHz mono 16-bit WAV, peak at ``peak_db``)."""

    sample_rate: int = 44100
    max_s: float = 2.0  # longer sounds are cut with a fade (training uses the first 1.5 s)
    min_s: float = 0.005  # shorter sounds (after trimming) are refused
    onset_db: float = -40.0  # onset = first sample above this, relative to the peak
    preroll_ms: float = 1.0
    tail_db: float = -60.0  # the sound ends where its 10 ms RMS last exceeds this, relative to the peak
    fade_ms: float = 10.0  # fade at the end (30 ms when cut at max_s)
    peak_db: float = -1.0
    silence_db: float = -90.0  # an absolute peak below this (dBFS) is silence

    def __post_init__(self) -> None:
        check(8000 <= self.sample_rate <= 192000, f"sample_rate must be in 8000..192000, got {self.sample_rate}")
        check(0.1 <= self.max_s <= 30.0, f"max_s must be in 0.1..30 s, got {self.max_s}")
        check(0.0 < self.min_s < self.max_s, f"min_s must be in (0, max_s), got {self.min_s}")
        check(-120.0 < self.tail_db < self.onset_db < 0.0, "need -120 < tail_db < onset_db < 0 dB")
        check(-20.0 <= self.peak_db <= 0.0, f"peak_db must be in -20..0 dBFS, got {self.peak_db}")


@dataclasses.dataclass(frozen=True)
class OneShot:
    """A conditioned hit: its WAV bytes, their sha256, its length and fingerprint [bands * frames]."""

    wav: bytes
    sha256: str
    seconds: float
    fingerprint: np.ndarray  # (FINGERPRINT_BANDS * frames,) float32, dB relative to the peak


def _ms(ms: float, rate: int) -> int:
    return int(round(ms * rate / 1000.0))


def _end_index(wave: np.ndarray, peak: float, config: OneShotConfig) -> int:
    """One past the last 10 ms window whose RMS is above ``tail_db`` relative to the peak."""
    win = max(1, _ms(10.0, config.sample_rate))
    n = -(-wave.size // win)
    padded = np.zeros(n * win, dtype=np.float32)
    padded[: wave.size] = wave
    rms = np.sqrt(np.mean(np.square(padded.reshape(n, win)), axis=1))  # (n,)
    loud = np.nonzero(rms > peak * 10.0 ** (config.tail_db / 20.0))[0]
    return wave.size if loud.size == 0 else min(wave.size, (int(loud[-1]) + 1) * win)


def trim(wave: np.ndarray, rate: int, config: OneShotConfig) -> np.ndarray:
    """Mono wave [L] -> float32 [M]: resampled, onset-trimmed, tail cut with a fade, peak-normalised.

    Raises AudioFileError for non-mono, non-finite, silent or too-short input.
    """
    w = checked_mono(wave)
    if rate != config.sample_rate:
        w = resample(w, rate, config.sample_rate)
    rate = config.sample_rate
    peak = float(np.max(np.abs(w)))
    if peak <= 10.0 ** (config.silence_db / 20.0):
        raise AudioFileError(f"silent (peak below {config.silence_db:g} dBFS)")
    onset = int(np.argmax(np.abs(w) > peak * 10.0 ** (config.onset_db / 20.0)))
    w = w[max(0, onset - _ms(config.preroll_ms, rate)):]
    end = _end_index(w, peak, config)
    fade = _ms(config.fade_ms, rate)
    limit = int(round(config.max_s * rate))
    if end > limit:
        end, fade = limit, _ms(30.0, rate)
    w = w[:end].copy()
    if w.size < config.min_s * rate:
        raise AudioFileError(f"shorter than {config.min_s * 1000:g} ms after trimming")
    k = min(fade, w.size)
    w[w.size - k:] *= 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, k, dtype=np.float32)))
    return w * np.float32(10.0 ** (config.peak_db / 20.0) / peak)


def fingerprint(wave: np.ndarray, rate: int) -> np.ndarray:
    """Coarse log-mel picture of the first second: float32 [40 * frames], dB re its max, floored at -60."""
    n = int(round(FINGERPRINT_SECONDS * rate))
    w = np.zeros(n, dtype=np.float32)
    w[: min(n, wave.size)] = wave[:n]
    mel = librosa.feature.melspectrogram(
        y=w, sr=rate, n_fft=2048, hop_length=FINGERPRINT_HOP, n_mels=FINGERPRINT_BANDS, center=False
    )  # (bands, frames)
    db = 10.0 * np.log10(np.maximum(mel, 1e-20))
    db = np.maximum(db - db.max(), FINGERPRINT_FLOOR_DB)
    picture: np.ndarray = db.astype(np.float32).ravel()
    return picture


def encode_wav(wave: np.ndarray, rate: int) -> bytes:
    """A 16-bit PCM mono WAV file's bytes (deterministic: equal waves give equal bytes)."""
    buf = io.BytesIO()
    sf.write(buf, wave, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_oneshot(wave: np.ndarray, rate: int, config: OneShotConfig) -> OneShot:
    """Condition a hit and describe it; see ``trim`` for the errors."""
    w = trim(wave, rate, config)
    data = encode_wav(w, config.sample_rate)
    stored, _ = sf.read(io.BytesIO(data), dtype="float32")  # fingerprint what is stored
    return OneShot(
        wav=data,
        sha256=hashlib.sha256(data).hexdigest(),
        seconds=w.size / config.sample_rate,
        fingerprint=fingerprint(stored, config.sample_rate),
    )
