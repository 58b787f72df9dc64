"""A procedural drum kit (numpy only, seeded): test fixtures and demos that need no downloads.

Each class has its own recipe with random pitch, decay and brightness, so samples within a
class differ but stay recognisable. ``write_synth_kit`` also writes the awkward cases a real
sample folder has: stereo, 48 kHz, leading silence, and (optionally) broken files.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from gesam_engine.errors import ConfigError

KINDS: tuple[str, ...] = ("kick", "snare", "hihat", "tom", "clap")


def _noise_band(rng: np.random.Generator, n: int, rate: int, low: float, high: float) -> np.ndarray:
    """White noise [n] filtered to ``low..high`` Hz with soft (raised-cosine) band edges."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    width = 0.25 * max(high - low, 1.0)
    rise = np.clip((freqs - (low - width)) / width, 0.0, 1.0)
    fall = np.clip(((high + width) - freqs) / width, 0.0, 1.0)
    mask = (0.5 - 0.5 * np.cos(np.pi * rise)) * (0.5 - 0.5 * np.cos(np.pi * fall))
    out = np.fft.irfft(spec * mask, n)
    band: np.ndarray = out / (np.max(np.abs(out)) + 1e-12)
    return band


def _sweep(t: np.ndarray, start_hz: float, end_hz: float, tau: float, rate: int) -> np.ndarray:
    """Sine whose frequency falls exponentially from ``start_hz`` to ``end_hz`` (time constant tau)."""
    freq = end_hz + (start_hz - end_hz) * np.exp(-t / tau)
    return np.sin(2.0 * np.pi * np.cumsum(freq) / rate)


def _kick(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    body = _sweep(t, rng.uniform(130, 170), rng.uniform(40, 50), rng.uniform(0.02, 0.06), rate)
    body *= np.exp(-t / rng.uniform(0.15, 0.45))
    click = _noise_band(rng, t.size, rate, 1500, 8000) * np.exp(-t / rng.uniform(0.001, 0.004))
    drive = rng.uniform(1.0, 3.0)
    kick: np.ndarray = np.tanh(drive * (body + rng.uniform(0.1, 0.4) * click)) / np.tanh(drive)
    return kick


def _snare(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    f0 = rng.uniform(180, 220)
    tone = _sweep(t, f0 * 1.2, f0, 0.01, rate) * np.exp(-t / rng.uniform(0.06, 0.15))
    centre = rng.uniform(2000, 6000)
    noise = _noise_band(rng, t.size, rate, centre * 0.4, centre * 1.8)
    noise *= np.exp(-t / rng.uniform(0.08, 0.25))
    snare: np.ndarray = rng.uniform(0.3, 0.6) * tone + noise
    return snare


def _hihat(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    is_open = rng.random() < 0.3
    decay = rng.uniform(0.25, 0.7) if is_open else rng.uniform(0.02, 0.07)
    low = rng.uniform(6000, 9000)
    noise = _noise_band(rng, t.size, rate, low, min(rate / 2 - 500, low + 9000))
    ratios = np.array([1.0, 1.34, 1.71, 2.16, 2.79, 3.24])  # inharmonic "metal" partials
    base = rng.uniform(300, 450)
    metal = np.sign(np.sin(2.0 * np.pi * base * ratios[:, None] * t[None, :])).sum(axis=0) / 6.0
    metal = np.diff(metal, prepend=0.0)  # crude high-pass keeps it bright
    hat: np.ndarray = (noise + rng.uniform(0.1, 0.4) * metal) * np.exp(-t / decay)
    return hat


def _tom(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    f0 = rng.uniform(80, 250)
    body = _sweep(t, f0 * rng.uniform(1.1, 1.3), f0, rng.uniform(0.05, 0.15), rate)
    body *= np.exp(-t / rng.uniform(0.2, 0.6))
    attack = _noise_band(rng, t.size, rate, 500, 4000) * np.exp(-t / 0.005)
    return body + rng.uniform(0.05, 0.2) * attack


def _clap(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    centre = rng.uniform(900, 1800)
    noise = _noise_band(rng, t.size, rate, centre * 0.6, centre * 2.5)
    env = np.zeros_like(t)
    for k in range(int(rng.integers(3, 5))):  # 3-4 bursts about 10 ms apart
        onset = k * rng.uniform(0.008, 0.012)
        local = t - onset
        env += np.where(local >= 0, np.exp(-np.maximum(local, 0) / 0.004), 0.0)
    last = onset + 0.002
    env += np.where(t >= last, 0.6 * np.exp(-np.maximum(t - last, 0) / rng.uniform(0.08, 0.25)), 0.0)
    clap: np.ndarray = noise * env
    return clap


_RECIPES = {"kick": _kick, "snare": _snare, "hihat": _hihat, "tom": _tom, "clap": _clap}


def synth_drum(
    kind: str, rng: np.random.Generator, sample_rate: int = 44100, seconds: float | None = None
) -> np.ndarray:
    """One drum hit of ``kind`` as mono float32 [L]; length drawn from 0.3..2.0 s unless given."""
    if kind not in _RECIPES:
        raise ConfigError(f"unknown drum kind {kind!r}; valid kinds are {list(KINDS)}")
    if seconds is None:
        seconds = float(rng.uniform(0.3, 2.0))
    n = max(int(round(seconds * sample_rate)), 16)
    t = np.arange(n) / sample_rate
    wave = _RECIPES[kind](rng, t, sample_rate)
    tail = min(n // 4, int(0.01 * sample_rate))  # 10 ms fade so a cut tail does not click
    wave[n - tail:] *= np.linspace(1.0, 0.0, tail)
    wave *= rng.uniform(0.5, 0.95) / (np.max(np.abs(wave)) + 1e-12)
    return wave.astype(np.float32)


def _write_broken(folder: Path, rng: np.random.Generator, sample_rate: int) -> None:
    """Files a scan must survive: empty, garbage, silent, non-audio, truncated."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "garbage.wav").write_bytes(rng.bytes(4096))
    sf.write(folder / "silent.wav", np.zeros(sample_rate // 2, dtype=np.float32), sample_rate, subtype="PCM_16")
    (folder / "notes.txt").write_text("kick snare hihat: not audio, must be ignored\n")
    buf = io.BytesIO()
    wave = synth_drum("snare", rng, sample_rate, seconds=1.0)
    sf.write(buf, wave, sample_rate, format="FLAC", subtype="PCM_16")
    data = buf.getvalue()
    (folder / "truncated.flac").write_bytes(data[: len(data) // 3])  # header intact, audio cut


def write_synth_kit(
    directory: Path, per_class: int = 8, seed: int = 0, sample_rate: int = 44100, broken: bool = True
) -> list[Path]:
    """Write ``directory/<kind>s/<kind>_<i>.wav`` (16-bit) and optionally ``broken/``; return the good files.

    Files have 20-80 ms of leading silence and 0.3-2.0 s length; every 4th (from i=1) is at
    48 kHz and every 4th (from i=2) is stereo, so resampling and downmixing get exercised.
    """
    if per_class < 1:
        raise ConfigError(f"per_class must be at least 1, got {per_class}")
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    paths: list[Path] = []
    for kind in KINDS:
        folder = directory / f"{kind}s"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rate = 48000 if i % 4 == 1 else sample_rate
            total = float(rng.uniform(0.3, 2.0))
            lead = int(round(rng.uniform(0.02, 0.08) * rate))
            hit = synth_drum(kind, rng, rate, seconds=total - lead / rate)
            wave = np.concatenate([np.zeros(lead, dtype=np.float32), hit])
            if i % 4 == 2:
                right = np.roll(wave, int(rng.integers(1, 20))) * rng.uniform(0.6, 1.0)
                data = np.stack([wave, right.astype(np.float32)], axis=1)  # (L, 2)
            else:
                data = wave
            path = folder / f"{kind}_{i}.wav"
            sf.write(path, data, rate, subtype="PCM_16")
            paths.append(path)
    if broken:
        _write_broken(directory / "broken", rng, sample_rate)
    return paths
