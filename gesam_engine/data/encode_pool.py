"""Encoding a corpus's files in a pool of processes, results in the files' order.

Workers are started with ``spawn`` (torch and ``fork`` do not mix) and each runs torch, BLAS and
numba on one thread. They only decode and encode: hashing, the feature cache and the corpus array
stay with the parent, which gets each file's frames back (or the reason it is skipped) in input
order, at most ``window`` files ahead. A worker that dies (a decoder crash, the OOM killer) costs
only the file it was on: the files that were in flight are encoded again one at a time in a fresh
process, the one that kills it again is skipped with that reason, and the pool starts afresh.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

import numpy as np

from gesam_engine.codec import Codec, make_codec
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.errors import ConfigError, GesamError

Outcome = np.ndarray | str  # a file's frames [T, D] float32, or the reason it is skipped
Task = Callable[[Path, Codec, PreprocessConfig], Outcome]
Tag = TypeVar("Tag")

AUTO_MIN_FILES = 256  # with workers unset, fewer files than this are encoded in-process (starting workers costs seconds)
MAX_WORKERS = 256
MAX_CRASHES_IN_A_ROW = 8  # then the workers cannot run at all (memory, a broken install): an error, not 20 k skips
CRASHED = "crashed the process that decoded it (skipped; the other files are unaffected)"

_worker: dict[str, Any] = {}  # in a worker process: its codec, preprocessing and task


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers() -> int:
    """Encoding processes when none are asked for: one per core but one, at least one."""
    return max(1, cores() - 1)


def resolve_workers(workers: int | None, n_files: int) -> int:
    """The number of encoding processes for ``n_files`` files: ``workers``, or with None
    ``default_workers()`` (1, in-process, below ``AUTO_MIN_FILES`` files). ConfigError when out of range."""
    if workers is None:
        return default_workers() if n_files >= AUTO_MIN_FILES else 1
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"workers must be an integer in 1..{MAX_WORKERS} (1 = encode in this process), got {workers!r}")
    return workers


def _start_worker(codec_config: dict[str, Any], preprocess: PreprocessConfig, task: Task | None) -> None:
    """A worker's start: one thread for torch, BLAS and numba, then its own codec."""
    import torch
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # no stubs

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already fixed by something that ran first: it does not matter for encoding
        pass
    threadpool_limits(1)
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(1)
    if task is None:
        from gesam_engine.data.corpus import encode_outcome

        task = encode_outcome
    _worker.update(codec=make_codec(codec_config), preprocess=preprocess, task=task)


def run_task(task: Task, path: Path, codec: Codec, preprocess: PreprocessConfig) -> Outcome:
    """``task``'s outcome for one file; an exception it raises after all becomes the file's reason."""
    try:
        return task(path, codec, preprocess)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _encode_in_worker(path: Path) -> Outcome:
    return run_task(_worker["task"], path, _worker["codec"], _worker["preprocess"])


class EncodePool(Generic[Tag]):
    """``workers`` spawned processes encoding files with the codec ``codec_config`` describes;
    ``outcomes`` yields each job's outcome in the jobs' order. Use as a context manager."""

    def __init__(self, codec_config: dict[str, Any], preprocess: PreprocessConfig, workers: int,
                 task: Task | None = None, window: int | None = None) -> None:
        self.workers = resolve_workers(workers, 0)
        self.window = window or max(8, 4 * self.workers)
        self._init = (dict(codec_config), preprocess, task)
        self._context = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self._solo: ProcessPoolExecutor | None = None
        self.restarts = 0
        self._crashes = 0  # files in a row that killed their process even alone
        make_codec(codec_config)  # a bad codec setting fails here, not in every worker

    def __enter__(self) -> EncodePool[Tag]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (pending work is cancelled)."""
        for pool in (self._pool, self._solo):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._solo = None

    def _executor(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=self._context, initializer=_start_worker, initargs=self._init)

    def _submit(self, path: Path) -> tuple[Future[Outcome], ProcessPoolExecutor]:
        for _ in range(2):
            if self._pool is None:
                self._pool = self._executor(self.workers)
            try:
                return self._pool.submit(_encode_in_worker, path), self._pool
            except BrokenProcessPool:  # it broke since the last submit: the files in flight are rescued in order
                self._retire(self._pool)
        raise BrokenProcessPool("the encoding processes could not be restarted")

    def _retire(self, pool: ProcessPoolExecutor) -> None:
        """A broken pool goes; the next file starts a fresh one."""
        if pool is self._pool:
            pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self.restarts += 1

    def _alone(self, path: Path) -> Outcome:
        """Encode one file in a process of its own: its outcome, or ``CRASHED`` when it kills that process too."""
        if self._solo is None:
            self._solo = self._executor(1)
        try:
            outcome = self._solo.submit(_encode_in_worker, path).result()
        except BrokenProcessPool:
            self._solo.shutdown(wait=True, cancel_futures=True)
            self._solo = None
            self._crashes += 1
            if self._crashes >= MAX_CRASHES_IN_A_ROW:
                raise GesamError(f"the encoding processes died on {self._crashes} files in a row (last: {path}); "
                                 "is memory short? Try fewer workers (1 encodes in this process)") from None
            return CRASHED
        self._crashes = 0
        return outcome

    def _finish(self, path: Path, value: Outcome | tuple[Future[Outcome], ProcessPoolExecutor]) -> Outcome:
        if not isinstance(value, tuple):
            return value
        future, pool = value
        try:
            return future.result()
        except BrokenProcessPool:  # some file in flight killed a worker: this one is tried alone
            self._retire(pool)
            return self._alone(path)
        except Exception as exc:  # the outcome could not come back (pickling): the file's reason
            return f"{type(exc).__name__}: {exc}"

    def outcomes(self, jobs: Iterable[tuple[Tag, Path, Outcome | None]]) -> Iterator[tuple[Tag, Outcome]]:
        """For each job (tag, file, outcome already known or None), in order: (tag, outcome). Files
        without a known outcome are encoded in the workers, at most ``window`` jobs ahead."""
        pending: collections.deque[tuple[Tag, Path, Outcome | tuple[Future[Outcome], ProcessPoolExecutor]]]
        pending = collections.deque()
        for tag, path, known in jobs:
            pending.append((tag, path, known if known is not None else self._submit(path)))
            while len(pending) >= self.window:
                tag0, path0, value = pending.popleft()
                yield tag0, self._finish(path0, value)
        while pending:
            tag0, path0, value = pending.popleft()
            yield tag0, self._finish(path0, value)
