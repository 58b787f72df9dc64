"""Mel filterbanks in plain numpy: the very numbers of ``librosa.filters.mel`` (Slaney mel scale).

The mel codec and the band-pooling classifier build one when a model loads. Importing librosa
for it cost about 0.7 s (its utilities compile numba functions on import), paid by every
``gesam serve`` and ``gesam render``; this is the same arithmetic, step for step, so existing
models decode and classify bit for bit as before (tests/codec/test_mel_filters.py compares).
"""

from __future__ import annotations

import numpy as np

_F_SP = 200.0 / 3  # Hz per mel in the linear part (below 1 kHz)
_MIN_LOG_HZ = 1000.0  # where the log part begins
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0  # mels per log step above 1 kHz


def hz_to_mel(frequencies: float | np.ndarray) -> np.ndarray:
    """Hz -> Slaney mels (linear below 1 kHz, logarithmic above), as librosa's ``hz_to_mel``."""
    f = np.asanyarray(frequencies)
    mels = (f - 0.0) / _F_SP
    if f.ndim:
        log_t = f >= _MIN_LOG_HZ
        mels[log_t] = _MIN_LOG_MEL + np.log(f[log_t] / _MIN_LOG_HZ) / _LOGSTEP
    elif f >= _MIN_LOG_HZ:  # a scalar takes numpy's scalar path, as in librosa (last-bit equal)
        mels = _MIN_LOG_MEL + np.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return np.asarray(mels)


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Slaney mels [N] -> Hz [N], as librosa's ``mel_to_hz``."""
    m = np.asanyarray(mels)
    freqs = 0.0 + _F_SP * m
    log_t = m >= _MIN_LOG_MEL
    freqs[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m[log_t] - _MIN_LOG_MEL))
    return np.asarray(freqs)


def mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None,
                norm: str | None = "slaney") -> np.ndarray:
    """Triangular mel filters [n_mels, n_fft // 2 + 1] float32 over the rfft bins; ``norm="slaney"``
    scales each to unit area, None leaves peaks at 1 (``librosa.filters.mel`` with htk=False)."""
    if fmax is None:
        fmax = float(sample_rate) / 2
    if norm not in ("slaney", None):
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    weights = np.zeros((n_mels, int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
        weights *= enorm[:, np.newaxis]
    return weights
