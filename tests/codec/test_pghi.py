"""PGHI: phase from magnitude on known signals, against a random start at equal iterations; batches and determinism."""

import numpy as np
import pytest
import torch

from gesam_engine.codec.pghi import pghi_phase
from gesam_engine.codec.phase import griffin_lim, initial_angles
from gesam_engine.errors import CodecError

SR, N_FFT, HOP = 44100, 1024, 256
WINDOW = torch.hann_window(N_FFT)


def _stft(x: np.ndarray) -> torch.Tensor:
    return torch.stft(torch.as_tensor(x, dtype=torch.float32), N_FFT, HOP, window=WINDOW, return_complex=True)


def _signal(kind: str) -> np.ndarray:
    t = np.arange(int(0.75 * SR)) / SR
    if kind == "sines":
        x = sum(np.sin(2 * np.pi * f * t + p) for f, p in [(220.0, 0.0), (1330.0, 1.0), (5000.0, 2.0)]) / 3
    elif kind == "chirp":  # 200 Hz rising to 3.2 kHz, decaying
        x = np.sin(2 * np.pi * (200 * t + 2000 * t**2)) * np.exp(-2 * t)
    else:  # clicks: the frequency direction of the integration
        x = np.zeros(t.size)
        x[[3000, 11000, 20000]] = [1.0, -0.7, 0.5]
    return x.astype(np.float32)


def _convergence(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Spectral convergence ||S_ref| - |S_est||_F / ||S_ref||_F of the two waves (0 is perfect)."""
    a, b = _stft(reference).abs(), _stft(estimate).abs()
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(a))


def _rebuild(x: np.ndarray, init: str, iters: int) -> np.ndarray:
    mag = _stft(x).abs()[None]  # (1, F, T)
    angles = initial_angles(mag, init, N_FFT, HOP, seed=0)
    return griffin_lim(mag, angles, N_FFT, HOP, WINDOW, x.size, iters, 0.99)[0].numpy()


@pytest.mark.parametrize("kind, bound", [("sines", 0.12), ("chirp", 0.2), ("clicks", 0.15)])
def test_pghi_recovers_known_signals_and_beats_a_random_start(kind: str, bound: float) -> None:
    x = _signal(kind)
    pghi0 = _convergence(x, _rebuild(x, "pghi", 0))
    assert pghi0 < bound, pghi0
    for iters in (0, 4):
        pghi, rand = _convergence(x, _rebuild(x, "pghi", iters)), _convergence(x, _rebuild(x, "random", iters))
        assert pghi < 0.5 * rand, (iters, pghi, rand)


def test_pghi_phase_differences_match_the_true_phase_on_a_sine() -> None:
    x = _signal("sines")
    spec = _stft(x)[None].numpy()  # (1, F, T) complex
    phase = pghi_phase(np.abs(spec), N_FFT, HOP)
    k = int(round(1330.0 * N_FFT / SR))  # the 1330 Hz partial's bin
    true_step = np.angle(spec[0, k, 1:] * np.conj(spec[0, k, :-1]))[5:-5]  # per-frame phase advance
    est_step = np.angle(np.exp(1j * np.diff(phase[0, k]))[5:-5])
    assert np.abs(np.angle(np.exp(1j * (true_step - est_step)))).max() < 0.1


def test_batched_equals_single_and_is_deterministic() -> None:
    mags = np.stack([_stft(_signal(kind)).abs().numpy() for kind in ("sines", "chirp", "clicks")])
    batched = pghi_phase(mags, N_FFT, HOP)
    single = np.stack([pghi_phase(m[None], N_FFT, HOP)[0] for m in mags])
    np.testing.assert_array_equal(batched, single)
    np.testing.assert_array_equal(pghi_phase(mags, N_FFT, HOP), batched)
    # a non-contiguous view gives the same phases (the integration writes through views)
    view = np.ascontiguousarray(mags.transpose(0, 2, 1)).transpose(0, 2, 1)
    np.testing.assert_array_equal(pghi_phase(view, N_FFT, HOP), batched)


def test_quiet_bins_and_silence_keep_the_initial_phase() -> None:
    mag = _stft(_signal("sines")).abs().numpy()[None]
    init = np.full(mag.shape, 0.25)
    phase = pghi_phase(mag, N_FFT, HOP, tol=1e-3, init=init)
    quiet = mag < mag.max() * 1e-3 * 0.999
    assert quiet.any() and (~quiet).any()
    np.testing.assert_array_equal(phase[quiet], 0.25)
    assert not np.all(phase[~quiet] == 0.25)
    silent = np.zeros((2, N_FFT // 2 + 1, 20))
    np.testing.assert_array_equal(pghi_phase(silent, N_FFT, HOP), 0.0)


@pytest.mark.parametrize(
    "mag, tol, match",
    [(np.zeros((1, 100, 5)), 1e-5, r"\[B, 513, T\]"), (np.full((1, 513, 5), np.nan), 1e-5, "finite"),
     (np.ones((1, 513, 5)), 0.0, "tol")],
)
def test_bad_input_is_refused(mag: np.ndarray, tol: float, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        pghi_phase(mag, N_FFT, HOP, tol=tol)
