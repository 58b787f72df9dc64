"""Reading a memory-mapped corpus a batch at a time with this process's share of it bounded.

Every page of a mapped file that a process reads counts in its resident memory until it lets go,
so one epoch over a 100 k corpus would hold all of it. ``rows`` gathers a batch and, after every
``RELEASE_BYTES`` read from a mapping made by ``frame_store``, drops the mapping's pages from this
process (``madvise(MADV_DONTNEED)``): they stay in the OS file cache, so reading them again costs a
page fault, not a disk read, while memory allows. Arrays that are not such a mapping are untouched.
"""

from __future__ import annotations

import dataclasses
import mmap
import threading
import weakref

import numpy as np
import torch

RELEASE_BYTES = 256 * 2**20  # rows read from one mapping between two releases of its pages
DEVICE_COPY_BYTES = 2 * 2**30  # a corpus up to this size is copied to an accelerator whole, larger ones per batch


@dataclasses.dataclass
class _Mapping:
    start: int
    end: int
    array: weakref.ref[np.memmap]
    read: int = 0


_mappings: list[_Mapping] = []
_lock = threading.Lock()


def register(frames: np.memmap) -> None:
    """Let ``rows``/``note_read``/``release`` drop the pages of this file-backed, never-written mapping."""
    start = int(frames.ctypes.data)
    with _lock:
        _mappings[:] = [m for m in _mappings if m.array() is not None]
        _mappings.append(_Mapping(start, start + int(frames.nbytes), weakref.ref(frames)))


def _address(frames: np.ndarray | torch.Tensor) -> int:
    return int(frames.data_ptr()) if isinstance(frames, torch.Tensor) else int(frames.ctypes.data)


def _mapping_of(frames: np.ndarray | torch.Tensor) -> _Mapping | None:
    """The registered mapping ``frames`` (an array, a tensor, or a view of one) lies in, if any."""
    if isinstance(frames, torch.Tensor) and frames.device.type != "cpu":
        return None
    address = _address(frames)
    for m in _mappings:
        if m.start <= address < m.end and m.array() is not None:
            return m
    return None


def _drop(m: _Mapping) -> None:
    array = m.array()
    handle = getattr(array, "_mmap", None)  # np.memmap keeps its mmap.mmap here
    if handle is not None and hasattr(handle, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        handle.madvise(mmap.MADV_DONTNEED)
    m.read = 0


def note_read(frames: np.ndarray | torch.Tensor, nbytes: int) -> None:
    """Count ``nbytes`` read from ``frames``; past ``RELEASE_BYTES`` its mapping's pages are dropped."""
    with _lock:
        m = _mapping_of(frames)
        if m is not None:
            m.read += int(nbytes)
            if m.read >= RELEASE_BYTES:
                _drop(m)


def release(frames: np.ndarray | torch.Tensor) -> None:
    """Drop the pages of ``frames``'s mapping from this process now (no-op for other arrays)."""
    with _lock:
        m = _mapping_of(frames)
        if m is not None:
            _drop(m)


def rows(frames: torch.Tensor, index: torch.Tensor | slice, device: torch.device) -> torch.Tensor:
    """``frames[index]`` on ``device`` (a batch [B, T, D]); the index may live on any device."""
    if isinstance(index, torch.Tensor):
        index = index.to(frames.device)
    batch = frames[index]
    note_read(frames, batch.numel() * batch.element_size())
    return batch.to(device)


def on_device(frames: torch.Tensor, device: torch.device, limit: int = DEVICE_COPY_BYTES) -> torch.Tensor:
    """What a trainer gathers its batches from: ``frames`` itself on the CPU (no copy), a copy on an
    accelerator when the corpus is at most ``limit`` bytes (fast batches), else ``frames`` (batches
    copied over one at a time, so a corpus larger than the accelerator's memory still trains)."""
    if frames.device == device:
        return frames
    if frames.device.type == "cpu" and frames.numel() * frames.element_size() > limit:
        return frames
    copy = frames.to(device)
    release(frames)
    return copy
