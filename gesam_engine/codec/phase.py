"""Phase for a magnitude spectrogram: a starting phase (seeded random, or PGHI) refined by fast
Griffin-Lim (Perraudin, Balazs & Sondergaard 2013), in torch so batches decode together on any device.

Every codec that decodes a magnitude goes through ``reconstruct``; the mel codec's default
(random start) is the exact sequence of operations it always ran, so old models decode the same.
"""

from __future__ import annotations

import torch

from gesam_engine.codec.pghi import pghi_phase
from gesam_engine.errors import ConfigError

PHASE_INITS = ("random", "pghi")


def check_phase_init(name: str) -> None:
    """Raise ConfigError unless ``name`` is a known starting phase."""
    if name not in PHASE_INITS:
        raise ConfigError(f"codec.phase_init must be one of {list(PHASE_INITS)}, got {name!r}")


def random_phase(shape: tuple[int, int], seed: int, device: torch.device) -> torch.Tensor:
    """Seeded uniform phase [F, T] float32: one draw shared by every item, so a sound never depends on its batch."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen).to(device) * (2 * torch.pi)  # (F, T)


def initial_angles(
    mag: torch.Tensor, init: str, n_fft: int, hop_length: int, seed: int, pghi_tol: float = 1e-5
) -> torch.Tensor:
    """Unit complex starting angles [B, F, T] for magnitudes [B, F, T] (see ``PHASE_INITS``)."""
    check_phase_init(init)
    if init == "random":
        phase = random_phase((mag.shape[1], mag.shape[2]), seed, mag.device)  # (F, T)
        return torch.polar(torch.ones_like(mag), phase.expand_as(mag))
    # PGHI runs on the CPU (a sequential heap); the quiet bins it leaves (under pghi_tol) start at 0
    start = pghi_phase(mag.detach().float().cpu().numpy(), n_fft, hop_length, tol=pghi_tol)  # (B, F, T) float64
    return torch.polar(torch.ones_like(mag), torch.from_numpy(start).to(mag.device, mag.dtype))


def griffin_lim(
    mag: torch.Tensor,
    angles: torch.Tensor,
    n_fft: int,
    hop_length: int,
    window: torch.Tensor,
    length: int,
    iters: int,
    momentum: float,
) -> torch.Tensor:
    """Fast Griffin-Lim from ``angles``: magnitudes [B, F, T] -> waves [B, length] (centred Hann STFT)."""

    def stft(x: torch.Tensor) -> torch.Tensor:
        return torch.stft(x, n_fft, hop_length, window=window, center=True, return_complex=True)

    def istft(spec: torch.Tensor) -> torch.Tensor:
        return torch.istft(spec, n_fft, hop_length, window=window, center=True, length=length)

    previous = torch.zeros_like(angles)
    alpha = momentum / (1.0 + momentum)
    for _ in range(iters):
        rebuilt = stft(istft(mag * angles))  # (B, F, T)
        angles = rebuilt - alpha * previous
        angles = angles / angles.abs().clamp_min(1e-16)
        previous = rebuilt
    return istft(mag * angles)  # (B, L)
