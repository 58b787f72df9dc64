"""A distributed bake's chunks on their way to rank 0, the one process that writes the bake.

Each rank sends rank 0 the float16 frames (and audio) of the chunk it baked, as raw bytes over
the process group (gloo on CPU, NCCL on GPUs: point-to-point send/recv), so the bytes rank 0
writes are exactly the bytes the rank made, and only rank 0's machine needs the bake folder.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import torch

from gesam_engine.distributed import Dist
from gesam_engine.errors import ConfigError

KILL_ENV = "GESAM_BAKE_TEST_KILL"
"""Test hook (tests/maps/test_bake_distributed.py): ``RANK:N`` makes rank RANK kill itself with
SIGKILL after N of its chunks are handed in, at the moment it would hand in the next one (rank 0:
after writing that round's rows, before the index records them). A real kill at a chosen point."""


def _as_bytes(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A float16 array's bytes as a flat uint8 tensor on ``device`` (NCCL sends from the GPU)."""
    return torch.from_numpy(np.ascontiguousarray(array).reshape(-1).view(np.uint8)).to(device)


def hand_in(dist: Dist, frames: np.ndarray, audio: np.ndarray | None) -> None:
    """Send this rank's chunk (frames [B, T, D], audio [B, L] or None, float16) to rank 0."""
    torch.distributed.send(_as_bytes(frames, dist.device), dst=0)
    if audio is not None:
        torch.distributed.send(_as_bytes(audio, dist.device), dst=0)


def _receive(dist: Dist, src: int, shape: tuple[int, ...]) -> np.ndarray:
    buf = torch.empty(int(np.prod(shape)) * 2, dtype=torch.uint8, device=dist.device)
    torch.distributed.recv(buf, src=src)
    return buf.cpu().numpy().view(np.float16).reshape(shape)


def receive(dist: Dist, src: int, frame_shape: tuple[int, int, int],
            audio_shape: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Rank 0: the chunk rank ``src`` hands in (shapes known from the shared plan)."""
    frames = _receive(dist, src, frame_shape)
    return frames, (_receive(dist, src, audio_shape) if audio_shape is not None else None)


def kill_if_asked(rank: int, handed_in: int) -> None:
    """The test hook ``GESAM_BAKE_TEST_KILL`` (see KILL_ENV): SIGKILL this process when asked to."""
    value = os.environ.get(KILL_ENV)
    if not value:
        return
    try:
        who, after = (int(v) for v in value.split(":"))
    except ValueError:
        raise ConfigError(f"{KILL_ENV} must be RANK:N (two integers), got {value!r}") from None
    if who == rank and handed_in == after:
        os.kill(os.getpid(), signal.SIGKILL)
