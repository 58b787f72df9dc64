"""The fast Griffin-Lim agrees with the reference loop (the mel codec's old decode) at any hop."""

import numpy as np
import pytest
import torch

from gesam_engine.codec.phase import griffin_lim, griffin_lim_reference, initial_angles


@pytest.mark.parametrize("n_fft, hop", [(1024, 256), (512, 128), (1024, 300), (256, 64)])
@pytest.mark.parametrize("iters", [0, 3])
def test_fast_griffin_lim_matches_the_reference(n_fft: int, hop: int, iters: int) -> None:
    rng = np.random.default_rng(0)
    length = 9000
    x = torch.from_numpy((rng.standard_normal((2, length)) * np.exp(-np.arange(length) / 2000)).astype(np.float32))
    window = torch.hann_window(n_fft)
    mag = torch.stft(x, n_fft, hop, window=window, return_complex=True).abs()  # (B, F, T)
    angles = initial_angles(mag, "random", n_fft, hop, seed=1)
    ref = griffin_lim_reference(mag, angles, n_fft, hop, window, length, iters, 0.99)
    fast = griffin_lim(mag, angles, n_fft, hop, window, length, iters, 0.99)
    assert fast.shape == ref.shape == (2, length)
    assert float((fast - ref).abs().max()) < 1e-4 * float(ref.abs().max())
