"""What a player meets on the pad: an n x n grid of the map rendered by the transformer (and, as a
reference, by the VAE decoder), judged for realism (Fréchet distance to real held-out sounds) and
for loudness (spread, quiet share, neighbour jumps) and ring length (decay jumps).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gesam_engine.evaluation.frechet import FEATURE_SPACE, FEATURE_NAMES, features, frechet_distance, standardise
from gesam_engine.evaluation.loudness import grid_loudness, integrated_lufs, map_smoothness
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.grid import grid_points

DECAY = FEATURE_NAMES.index("decay40_s")


def decode_frames(model: GesamModel, frames: np.ndarray | torch.Tensor, batch: int) -> np.ndarray:
    """Frames [N, T, D] -> waves [N, L] float32 as the instrument plays them (codec decode, -1 dBFS ceiling)."""
    x = torch.as_tensor(np.asarray(frames, np.float32) if isinstance(frames, np.ndarray) else frames)
    return np.concatenate([model.decode(x[i:i + batch].to(model.device)) for i in range(0, len(x), batch)])


@torch.inference_mode()
def grid_waves(model: GesamModel, n: int, batch: int) -> dict[str, np.ndarray]:
    """The n x n grid (``grid_points`` order) as waves [n*n, L]: ``transformer`` and ``vae_decoder``."""
    points = grid_points(n)  # (n*n, 2)
    tf = np.concatenate([model.generate_frames(points[i:i + batch]).float().cpu().numpy()
                         for i in range(0, len(points), batch)])  # (n*n, T, D)
    z = torch.from_numpy(model.extent.to_latent(points)).float().to(model.device)  # (n*n, 2)
    vae = torch.cat([model.vae.decode(z[i:i + batch]).float().cpu() for i in range(0, len(z), batch)])
    return {"transformer": decode_frames(model, tf, batch), "vae_decoder": decode_frames(model, vae, batch)}


def grid_figures(model: GesamModel, n: int, held_out: np.ndarray, training: np.ndarray, round_trip: np.ndarray,
                 batch: int = 64) -> dict[str, Any]:
    """Realism and loudness of the n x n grid, JSON-ready.

    ``held_out`` [M, L]: the real held-out sounds (the Fréchet reference and its standardisation);
    ``training`` [K, L]: real training sounds, ``round_trip`` [M, L]: the held-out sounds through
    the codec; both are reference rows of the Fréchet figure."""
    rate = model.sample_rate
    waves = grid_waves(model, n, batch)
    ref = features(held_out, rate)  # (M, F)
    mean, std = standardise(ref)

    def z(f: np.ndarray) -> np.ndarray:
        scaled: np.ndarray = (f - mean) / std
        return scaled

    feats = {name: features(w, rate) for name, w in waves.items()}
    frechet = {
        "features": FEATURE_SPACE,
        "standardised_by": "the real held-out sounds",
        "n_held_out": len(held_out), "n_grid": n * n, "n_training": len(training),
        "transformer_grid": round(frechet_distance(z(feats["transformer"]), z(ref)), 3),
        "vae_decoder_grid": round(frechet_distance(z(feats["vae_decoder"]), z(ref)), 3),
        "training_sounds": round(frechet_distance(z(features(training, rate)), z(ref)), 3),
        "codec_round_trip": round(frechet_distance(z(features(round_trip, rate)), z(ref)), 3),
    }
    grid: dict[str, Any] = {"n": n}
    for name, w in waves.items():
        decay = feats[name][:, DECAY]  # (n*n,) seconds to -40 dB of the loudest frame
        grid[name] = {**grid_loudness(integrated_lufs(w, rate), n),
                      "decay_s_median": round(float(np.median(decay)), 3),
                      **{f"decay_{k}": v for k, v in map_smoothness(decay, n).items()}}
    return {"frechet": frechet, "grid": grid}
