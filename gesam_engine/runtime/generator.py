"""The generator thread: the only thread that touches the model.

It keeps the model warm on its device, generates exact points on request (the newest request
per slot wins, so a burst of cursor moves costs one generation), batches what is pending,
decodes to audio at the output rate and puts the result in the sound cache. When idle it
prefetches points ahead of the cursor's recent path, so the nearest ready sound is near.

Start-up work too long to wait for (the built-in bake) runs as a job (``start_job``) on a thread
of its own at the generator's niceness; ``stop`` ends the jobs with the generator.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import os
import threading
import time
from typing import Callable

import numpy as np
import torch

from gesam_engine.config import check
from gesam_engine.gesam_model import GesamModel
from gesam_engine.runtime.resample import to_rate
from gesam_engine.runtime.sound_cache import SoundCache

ReadyCallback = Callable[[str, tuple[float, float], float], None]  # slot, point, ms from request to ready
Job = Callable[[threading.Event], None]  # background start-up work; returns soon after the event is set


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """How the generator thread works; ``threads`` 0 = 1 on CPU (a core stays free for audio)."""

    griffin_lim_iters: int = 8  # live decoding: ~30 ms a sound on one core (16: ~58 ms, 32: ~110 ms)
    max_batch: int = 16
    prefetch: bool = True
    prefetch_horizon_s: float = 0.3
    prefetch_points: int = 3
    threads: int = 0
    nice: int = 5  # the generator thread's niceness (Linux): above 0 so audio threads win the CPU

    def __post_init__(self) -> None:
        check(0 <= self.griffin_lim_iters <= 256, f"generator.griffin_lim_iters must be in 0..256, got {self.griffin_lim_iters}")
        check(1 <= self.max_batch <= 1024, f"generator.max_batch must be in 1..1024, got {self.max_batch}")
        check(0 < self.prefetch_horizon_s <= 5, f"generator.prefetch_horizon_s must be in (0, 5], got {self.prefetch_horizon_s}")
        check(0 <= self.prefetch_points <= 64, f"generator.prefetch_points must be in 0..64, got {self.prefetch_points}")
        check(0 <= self.threads <= 256, f"generator.threads must be in 0..256, got {self.threads}")
        check(0 <= self.nice <= 19, f"generator.nice must be in 0..19, got {self.nice}")


class Generator:
    """Owns the model. ``request``/``observe_cursor``/``render`` may be called from any thread."""

    def __init__(
        self,
        model: GesamModel,
        cache: SoundCache,
        output_rate: int,
        config: GeneratorConfig | None = None,
        on_ready: ReadyCallback | None = None,
    ) -> None:
        self.model = model
        self.cache = cache
        self.output_rate = output_rate
        self.config = config or GeneratorConfig()
        self.on_ready = on_ready
        self._pending: dict[str, tuple[tuple[float, float], float]] = {}
        self._background: dict[str, tuple[tuple[float, float], float]] = {}  # made only when nothing else waits
        self._renders: collections.deque[tuple[tuple[float, float], concurrent.futures.Future[np.ndarray]]] = collections.deque()
        self._path: collections.deque[tuple[float, float, float]] = collections.deque(maxlen=8)
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._jobs: list[threading.Thread] = []
        self._jobs_stop = threading.Event()
        self._warmed = threading.Event()  # the thread is past its warm-up
        self.ready_ms: collections.deque[float] = collections.deque(maxlen=10000)
        self.generated = 0
        self.prefetched = 0
        self.errors = 0
        self.last_error = ""

    def start(self, warm_up: tuple[float, float] | None = None) -> None:
        """Start the thread (idempotent). With ``warm_up``, its first act is that point's sound (kept in
        the cache): the model's first-call costs (torch's first pass, the codec's compiled phase code,
        the loudness code's imports: about 1 s) are paid there, not by the caller nor the first request."""
        if self._thread is None:
            self._stop = False
            self._warmed.clear()
            self._thread = threading.Thread(target=self._run, args=(warm_up,), name="gesam-generator", daemon=True)
            self._thread.start()

    def wait_warm_up(self, timeout: float | None = None) -> bool:
        """Wait until the thread is past its warm-up (``start(warm_up=...)``: made, or failed and
        counted in ``errors``); False when ``timeout`` seconds passed first."""
        return self._warmed.wait(timeout)

    def stop(self) -> None:
        """Stop the thread and the jobs, and wait for them."""
        self._jobs_stop.set()
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        for job in self._jobs:
            job.join(timeout=30)
        self._jobs = [job for job in self._jobs if job.is_alive()]
        if not self._jobs:  # ready for jobs of a next start
            self._jobs_stop.clear()

    def start_job(self, name: str, job: Job) -> None:
        """Run ``job(stopping)`` on a thread named ``name`` at the generator's niceness, so the caller
        does not wait for it; ``stop()`` sets ``stopping`` and waits. An exception it raises is
        counted in ``errors``/``last_error``."""
        thread = threading.Thread(target=self._run_job, args=(job,), name=name, daemon=True)
        self._jobs.append(thread)
        thread.start()

    def jobs_running(self) -> int:
        """Jobs (``start_job``) not finished yet."""
        return sum(job.is_alive() for job in self._jobs)

    def _run_job(self, job: Job) -> None:
        self._lower_priority()
        try:
            job(self._jobs_stop)
        except Exception as exc:  # a failed job must not take the engine down; it is counted
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"

    def _lower_priority(self) -> None:
        """Audio comes first: this thread yields the CPU to the audio process and the control threads."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.config.nice)
        except (AttributeError, OSError):
            pass

    def request(self, slot: str, xy: tuple[float, float], background: bool = False) -> None:
        """Make the sound of ``xy`` ready for ``slot`` ('cursor', 'pad3', ...); newest request per slot wins.
        A ``background`` request (a pad's variants) is made only when no other request waits."""
        now = time.perf_counter()
        if xy in self.cache:
            if self.on_ready is not None:
                self.on_ready(slot, xy, 0.0)
            return
        with self._cond:
            (self._background if background else self._pending)[slot] = (xy, now)
            self._cond.notify()

    def forget(self, prefix: str) -> int:
        """Drop the background requests whose slot starts with ``prefix`` (a pad's old variants); how many."""
        with self._cond:
            stale = [slot for slot in self._background if slot.startswith(prefix)]
            for slot in stale:
                del self._background[slot]
            return len(stale)

    def observe_cursor(self, xy: tuple[float, float]) -> None:
        """Remember the cursor's path, for prefetching ahead of it."""
        self._path.append((xy[0], xy[1], time.perf_counter()))

    def render(self, xy: tuple[float, float]) -> concurrent.futures.Future[np.ndarray]:
        """A future of the sound at ``xy`` (float32 at the output rate), made on the generator thread."""
        future: concurrent.futures.Future[np.ndarray] = concurrent.futures.Future()
        hit = self.cache.get(xy)
        if hit is not None:
            future.set_result(hit.wave)
            return future
        with self._cond:
            self._renders.append((xy, future))
            self._cond.notify()
        return future

    def pending(self) -> int:
        """Requests waiting for the model."""
        with self._cond:
            return len(self._pending) + len(self._renders) + len(self._background)

    def prefetch_targets(self) -> list[tuple[float, float]]:
        """Points ahead of the cursor (linear extrapolation of its recent path), not yet cached."""
        path = list(self._path)
        if len(path) < 2 or self.config.prefetch_points == 0:
            return []
        (x0, y0, t0), (x1, y1, t1) = path[0], path[-1]
        dt = max(t1 - t0, 1e-3)
        vx, vy = (x1 - x0) / dt, (y1 - y0) / dt
        if abs(vx) + abs(vy) < 1e-3:
            return []
        out = []
        for k in range(1, self.config.prefetch_points + 1):
            h = self.config.prefetch_horizon_s * k / self.config.prefetch_points
            p = (float(np.clip(x1 + vx * h, 0, 1)), float(np.clip(y1 + vy * h, 0, 1)))
            if p not in self.cache and p not in out:  # clamped at an edge, several land on one point
                out.append(p)
        return out

    def _make(self, points: list[tuple[float, float]]) -> list[np.ndarray]:
        waves = self.model.render(np.array(points), iters=self.config.griffin_lim_iters)
        return [to_rate(w, self.model.sample_rate, self.output_rate) for w in waves]

    def _run(self, warm_up: tuple[float, float] | None) -> None:
        threads = self.config.threads or (1 if self.model.device.type == "cpu" else torch.get_num_threads())
        torch.set_num_threads(threads)
        self._lower_priority()
        if warm_up is not None:
            self._warm_up(warm_up)
        self._warmed.set()
        while True:
            with self._cond:
                while not (self._stop or self._pending or self._renders or self._background):
                    if not self._cond.wait(timeout=0.05) and self.config.prefetch:
                        break  # idle: time to prefetch
                if self._stop:
                    return
                background = not (self._pending or self._renders)
                source = self._background if background else self._pending
                batch = list(source.items())[: self.config.max_batch]
                for slot, _ in batch:
                    del source[slot]
                renders = [self._renders.popleft() for _ in range(min(len(self._renders), self.config.max_batch))]
            try:
                if batch or renders:
                    self._serve(batch, renders, timed=not background)
                elif self.config.prefetch:
                    targets = self.prefetch_targets()
                    if targets:
                        for p, w in zip(targets, self._make(targets)):
                            self.cache.put(p, w)
                        self.prefetched += len(targets)
                        self._path.clear()
            except Exception as exc:  # the thread must survive anything the model does
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                for _, future in renders:
                    if not future.done():
                        future.set_exception(exc)

    def _warm_up(self, xy: tuple[float, float]) -> None:
        try:
            (wave,) = self._make([xy])
        except Exception as exc:  # counted like any generation error; the thread goes on
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        if xy not in self.cache:
            self.cache.put(xy, wave)

    def _serve(
        self,
        batch: list[tuple[str, tuple[tuple[float, float], float]]],
        renders: list[tuple[tuple[float, float], concurrent.futures.Future[np.ndarray]]],
        timed: bool = True,
    ) -> None:
        """Make ``batch`` and ``renders`` in one pass; ``timed`` False keeps background work (which
        waits by design) out of ``ready_ms``, the figure of how soon a point someone asked for is ready."""
        if not timed:  # made meanwhile (a pad's own request, a prefetch): nothing to do but tell
            ready = [(slot, req) for slot, req in batch if req[0] in self.cache]
            batch = [(slot, req) for slot, req in batch if req[0] not in self.cache]
            for slot, (xy, _) in ready:
                if self.on_ready is not None:
                    self.on_ready(slot, xy, 0.0)
        points = list(dict.fromkeys([xy for _, (xy, _) in batch] + [xy for xy, _ in renders]))
        waves = dict(zip(points, self._make(points))) if points else {}
        for p, w in waves.items():
            self.cache.put(p, w)
        self.generated += len(points)
        now = time.perf_counter()
        for slot, (xy, asked) in batch:
            ms = (now - asked) * 1e3
            if timed:
                self.ready_ms.append(ms)
            if self.on_ready is not None:
                self.on_ready(slot, xy, ms)
        for xy, future in renders:
            future.set_result(waves[xy])
