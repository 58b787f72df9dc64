"""Reading one audio file as mono float32, and resampling, with readable failures.

soundfile decodes (and tells the length before decoding, so long files are refused cheaply);
librosa/audioread is the fallback for formats the installed libsndfile cannot open.
Every failure is an ``AudioFileError`` whose message is the reason, never a raw exception.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from gesam_engine.errors import AudioFileError

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".aiff", ".aif", ".ogg", ".mp3")


def _too_long(seconds: float, max_seconds: float) -> AudioFileError:
    return AudioFileError(f"longer than {max_seconds:g} s ({seconds:.1f} s)")


def _read_soundfile(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode with soundfile; raises soundfile errors for the caller to fall back on."""
    with sf.SoundFile(str(path)) as fh:
        rate = int(fh.samplerate)
        frames = int(fh.frames)
        if rate <= 0:
            raise AudioFileError(f"cannot decode: invalid sample rate {rate}")
        if frames == 0:
            raise AudioFileError("empty file (no audio frames)")
        if frames / rate > max_seconds:
            raise _too_long(frames / rate, max_seconds)
        data = fh.read(dtype="float32", always_2d=True)  # (L, C)
    if data.shape[0] < frames:
        raise AudioFileError(f"truncated: read {data.shape[0]} of {frames} frames")
    return data.mean(axis=1, dtype=np.float32), rate


def _read_librosa(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode with librosa (audioread backends); reads at most just past ``max_seconds``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wave, rate = librosa.load(str(path), sr=None, mono=True, duration=max_seconds + 0.01)
    wave = np.asarray(wave, dtype=np.float32)
    if wave.size == 0:
        raise AudioFileError("empty file (no audio frames)")
    if wave.size / rate > max_seconds:
        raise AudioFileError(f"longer than {max_seconds:g} s")
    return wave, int(rate)


def read_audio(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    """Read a file as a mono float32 wave [L] (channels averaged) and its sample rate.

    Raises AudioFileError ("cannot decode: ...", "empty file", "longer than X s (Y s)").
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioFileError(f"cannot open: {exc.strerror or exc}") from None
    if not path.is_file():
        raise AudioFileError("cannot open: not a regular file")
    if size == 0:
        raise AudioFileError("empty file (0 bytes)")
    try:
        return _read_soundfile(path, max_seconds)
    except AudioFileError:
        raise
    except Exception as exc:  # libsndfile cannot read it: try librosa before giving up
        primary = re.sub(r"^Error opening .*?: ", "", str(exc)).strip() or type(exc).__name__
    try:
        return _read_librosa(path, max_seconds)
    except AudioFileError:
        raise
    except Exception:  # the soundfile message is the more telling one
        raise AudioFileError(f"cannot decode: {primary}") from None


def resample(wave: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a mono wave [L] with soxr (high quality); returns float32, a copy."""
    if from_rate <= 0 or to_rate <= 0:
        raise AudioFileError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    w = np.asarray(wave, dtype=np.float32)
    if from_rate == to_rate:
        return w.copy()
    out = librosa.resample(w, orig_sr=from_rate, target_sr=to_rate, res_type="soxr_hq")
    return np.asarray(out, dtype=np.float32)
