"""The level a generated sound plays at: the one every training sound was brought to.

Training waves are loudness-normalised to ``target_lufs`` and then peak-limited to
``peak_ceiling_db`` (``preprocess.prepare_wave``), so every region of the map stands for sounds
of that level. A decoded sound is brought there too: an averaging model (any of them: transformer,
VAE decoder, k-NN mean) plays its points quieter than the sounds they stand for (the first shipped
model: 6.8 dB on the validation kits), and neighbouring points differed in level by more than far ones.
The boost is capped (``max_boost_db``) so a near-silent point is not raised into its noise floor.
A decoded hit is often peakier than the recording it stands for (its phase is rebuilt, its attack
sharp), so scaling its peak down to the ceiling leaves it quieter than its neighbours on the map.
``max_limit_db`` lets the engine's look-ahead true-peak limiter (``runtime.limiter``) take that
much off its peaks instead. It is off by default: measured on the shipped model's validation
kits, 6 dB lifted the 8 x 8 grid's median from -24.7 to -22.3 LUFS (39 % instead of 55 % under
-24 LUFS), but the limiter's gain dip reshapes every attack: the codec round trip's MR-STFT went
from 0.44 to 0.51 and the generator's from 1.16 to 1.29. A clean hit matters more than 2 dB.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyloudnorm

from gesam_engine.data.preprocess import loudness_meter
from gesam_engine.runtime.limiter import LimiterConfig, SafetyLimiter

SILENT_RMS = 1e-5  # below this (-100 dBFS) a sound is left alone: nothing to bring up


def level_like_training(waves: np.ndarray, rate: int, target_lufs: float, peak_ceiling_db: float,
                        max_boost_db: float = 24.0, max_limit_db: float = 0.0) -> np.ndarray:
    """Waves [B, L] -> float32 [B, L], each at ``target_lufs`` (BS.1770 integrated loudness; RMS
    when the sound is too short to gate), raised at most ``max_boost_db``; peaks over
    ``peak_ceiling_db`` are limited by up to ``max_limit_db`` (default 0: none) and scaled down
    beyond that, so the peak never exceeds the ceiling. A sound holding NaN/inf is left as it is, for the
    caller's own check to name (the bake refuses it, the engine's guard silences it)."""
    w = np.atleast_2d(np.asarray(waves, dtype=np.float32))  # (B, L)
    out = w.copy()
    ceiling = 10.0 ** (peak_ceiling_db / 20.0)
    meter = loudness_meter(rate, w.shape[1]) if w.shape[1] else None
    for i, wave in enumerate(w):
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
        if not np.isfinite(rms) or rms < SILENT_RMS or meter is None:
            continue
        gain_db = 0.0
        for _ in range(3):  # re-measured: the -70 LUFS absolute gate lets more of a quiet tail count once raised
            level = _loudness(meter, out[i] * np.float32(10.0 ** (gain_db / 20.0)), rms * 10.0 ** (gain_db / 20.0))
            step = min(target_lufs - level, max_boost_db - gain_db)
            gain_db += step
            if abs(step) < 0.05:
                break
        out[i] *= np.float32(10.0 ** (gain_db / 20.0))
        peak = float(np.max(np.abs(out[i])))
        if peak > ceiling:
            allowed = ceiling * 10.0 ** (max(max_limit_db, 0.0) / 20.0)
            if peak > allowed:  # beyond what the limiter may take: scaled down
                out[i] *= np.float32(allowed / peak)
            if max_limit_db > 0:
                out[i] = _limited(out[i], rate, peak_ceiling_db)
    return out


def _limited(wave: np.ndarray, rate: int, ceiling_db: float) -> np.ndarray:
    """One sound through a fresh look-ahead true-peak limiter at ``ceiling_db``, its delay removed."""
    limiter = SafetyLimiter(LimiterConfig(ceiling_db=ceiling_db), rate, 1, wave.size + 4096)
    block = np.zeros((wave.size + limiter.latency, 1), dtype=np.float32)
    block[: wave.size, 0] = wave
    limiter.process(block)
    return block[limiter.latency:, 0].copy()


def _loudness(meter: pyloudnorm.Meter, wave: np.ndarray, rms: float) -> float:
    """Integrated loudness of one wave in LUFS; its RMS in dBFS when too short or quiet to gate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm's clipping warning: the ceiling follows
        loudness = meter.integrated_loudness(wave.astype(np.float64))
    return float(loudness) if np.isfinite(loudness) else 20.0 * np.log10(rms)
