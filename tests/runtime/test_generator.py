"""The generator thread with a tiny model and a real cache: readiness, coalescing, renders,
prefetch ahead of the cursor, and surviving model errors."""

import threading
import time
from typing import Iterator

import numpy as np
import pytest

from gesam_engine.gesam_model import GesamModel
from gesam_engine.runtime.generator import Generator, GeneratorConfig
from gesam_engine.runtime.resample import to_rate
from gesam_engine.runtime.sound_cache import SoundCache
from tests.tiny import tiny_model
from tests.waiting import wait_for

RATE = 48000
ITERS = 4


@pytest.fixture(scope="module")
def model() -> GesamModel:
    return tiny_model(0.3)


class Ready:
    """Collects on_ready calls (made on the generator thread)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[float, float], float]] = []
        self.lock = threading.Lock()

    def __call__(self, slot: str, xy: tuple[float, float], ms: float) -> None:
        with self.lock:
            self.calls.append((slot, xy, ms))



@pytest.fixture
def started(model: GesamModel) -> Iterator[tuple[Generator, Ready]]:
    ready = Ready()
    gen = Generator(model, SoundCache(64 << 20), RATE, GeneratorConfig(griffin_lim_iters=ITERS, prefetch=False),
                    on_ready=ready)
    gen.start()
    yield gen, ready
    gen.stop()


def test_request_makes_the_point_ready_and_reports_it(started: tuple[Generator, Ready], model: GesamModel) -> None:
    gen, ready = started
    xy = (0.3, 0.7)
    assert xy not in gen.cache
    gen.request("pad3", xy)
    wait_for(lambda: len(ready.calls) == 1)
    slot, got, ms = ready.calls[0]
    assert slot == "pad3" and got == xy and 0 < ms < 10_000
    sound = gen.cache.get(xy)
    assert sound is not None and sound.wave.dtype == np.float32 and not sound.pinned
    assert sound.wave.shape == (round(model.n_samples * RATE / model.sample_rate),)
    assert np.abs(sound.wave).max() > 0.1
    assert gen.generated == 1 and list(gen.ready_ms) == [ms] and gen.pending() == 0 and gen.errors == 0
    gen.request("cursor", xy)  # already ready: reported at once, nothing generated
    assert ready.calls[1] == ("cursor", xy, 0.0)
    assert gen.generated == 1


def test_a_burst_for_one_slot_ends_with_the_last_point_and_few_generations(started: tuple[Generator, Ready]) -> None:
    gen, ready = started
    points = [(0.1 + 0.015 * i, 0.4) for i in range(50)]
    for xy in points:
        gen.request("cursor", xy)
    last = points[-1]
    wait_for(lambda: last in gen.cache)
    wait_for(lambda: gen.pending() == 0)
    assert gen.generated <= 5, gen.generated  # coalesced: newest request per slot wins
    assert sum(xy in gen.cache for xy in points) == gen.generated
    assert ready.calls[-1][:2] == ("cursor", last)
    assert len(ready.calls) == gen.generated


def test_slots_do_not_coalesce_with_each_other(started: tuple[Generator, Ready]) -> None:
    gen, ready = started
    with gen._cond:  # hold the thread off so both requests are pending together
        gen.request("pad0", (0.2, 0.2))
        gen.request("pad1", (0.8, 0.8))
        gen.request("pad0", (0.25, 0.2))
        assert gen.pending() == 2
    wait_for(lambda: len(ready.calls) == 2)
    assert sorted(c[:2] for c in ready.calls) == [("pad0", (0.25, 0.2)), ("pad1", (0.8, 0.8))]
    assert (0.2, 0.2) not in gen.cache and gen.generated == 2


def test_render_future_returns_the_exact_sound(started: tuple[Generator, Ready], model: GesamModel) -> None:
    gen, _ = started
    xy = (0.62, 0.18)
    wave = gen.render(xy).result(timeout=10)
    expected = to_rate(model.render(np.array([xy]), iters=ITERS)[0], model.sample_rate, RATE)
    assert wave.shape == expected.shape and wave.dtype == np.float32
    np.testing.assert_allclose(wave, expected, atol=1e-4)
    assert gen.cache.get(xy).wave is wave  # and it is cached
    again = gen.render(xy)
    assert again.done() and again.result() is wave  # served from the cache, no generation
    assert gen.generated == 1
    other = model.render(np.array([(0.1, 0.9)]), iters=ITERS)[0]
    assert np.abs(to_rate(other, model.sample_rate, RATE) - wave).max() > 0.05  # a different point differs


def _moving(gen: Generator, path: list[tuple[float, float]], dt: float = 0.02) -> None:
    for i, xy in enumerate(path):
        if i:
            time.sleep(dt)
        gen.observe_cursor(xy)


def test_prefetch_targets_extrapolate_the_cursor_path(model: GesamModel) -> None:
    gen = Generator(model, SoundCache(1 << 20), RATE, GeneratorConfig(prefetch_points=3, prefetch_horizon_s=0.3))
    assert gen.prefetch_targets() == []  # no path
    gen.observe_cursor((0.4, 0.5))
    assert gen.prefetch_targets() == []  # one point is no motion
    _moving(gen, [(0.4, 0.5), (0.4, 0.5)])
    assert gen.prefetch_targets() == []  # a still cursor

    gen._path.clear()
    _moving(gen, [(0.30, 0.50), (0.31, 0.49), (0.32, 0.48)])  # right and down, ~0.5/s each (less if slept long)
    targets = gen.prefetch_targets()
    assert len(targets) == 3
    xs, ys = [t[0] for t in targets], [t[1] for t in targets]
    assert 0.32 < xs[0] < xs[1] < xs[2] <= 0.32 + 0.3 * 0.51
    assert 0.48 > ys[0] > ys[1] > ys[2] >= 0.48 - 0.3 * 0.51
    for x, y in targets:  # on the line of motion
        assert x - 0.32 == pytest.approx(0.48 - y, abs=1e-9)
    gen.cache.put(targets[0], np.zeros(10, np.float32))
    assert targets[0] not in gen.prefetch_targets()  # ready points are not prefetched

    gen._path.clear()
    _moving(gen, [(0.90, 0.05), (0.95, 0.02)], dt=0.01)  # fast towards the corner: clamped
    targets = gen.prefetch_targets()
    assert targets and all(0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 for x, y in targets)
    assert targets[-1] == (1.0, 0.0)
    assert GeneratorConfig(prefetch_points=0).prefetch_points == 0
    gen.config = GeneratorConfig(prefetch_points=0)
    assert gen.prefetch_targets() == []


def test_the_idle_thread_prefetches_ahead_of_a_moving_cursor(model: GesamModel) -> None:
    gen = Generator(model, SoundCache(64 << 20), RATE, GeneratorConfig(griffin_lim_iters=ITERS, prefetch=True,
                                                                       prefetch_points=2))
    gen.start()
    try:
        _moving(gen, [(0.20, 0.6), (0.22, 0.6), (0.24, 0.6)])
        wait_for(lambda: gen.prefetched >= 2)
        ahead = [e.xy for e in gen.cache._entries.values()]
        assert ahead and all(x > 0.24 and y == pytest.approx(0.6) for x, y in ahead)
        assert gen.generated == 0 and gen.errors == 0
    finally:
        gen.stop()


def test_the_thread_survives_model_errors(started: tuple[Generator, Ready], model: GesamModel,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    gen, ready = started

    def broken(*args: object, **kwargs: object) -> np.ndarray:
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(model, "render", broken)  # the one patch here: a model that fails
    gen.request("cursor", (0.5, 0.1))
    wait_for(lambda: gen.errors == 1)
    future = gen.render((0.5, 0.2))
    with pytest.raises(RuntimeError, match="simulated"):
        future.result(timeout=10)
    assert gen.errors == 2 and "RuntimeError: CUDA out of memory (simulated)" == gen.last_error
    assert gen._thread is not None and gen._thread.is_alive()
    assert ready.calls == [] and (0.5, 0.1) not in gen.cache

    monkeypatch.undo()
    gen.request("cursor", (0.5, 0.1))
    wait_for(lambda: len(ready.calls) == 1)
    assert ready.calls[0][:2] == ("cursor", (0.5, 0.1)) and (0.5, 0.1) in gen.cache
    assert gen.render((0.5, 0.2)).result(timeout=10).shape[0] > 0
    assert gen.errors == 2 and gen.generated == 2


def test_stop_is_prompt_and_start_is_idempotent(model: GesamModel) -> None:
    gen = Generator(model, SoundCache(1 << 20), RATE, GeneratorConfig(griffin_lim_iters=ITERS))
    gen.start()
    thread = gen._thread
    gen.start()
    assert gen._thread is thread
    t0 = time.perf_counter()
    gen.stop()
    assert time.perf_counter() - t0 < 1.0 and not thread.is_alive()


def test_prefetch_targets_at_the_edge_are_not_repeated(model: GesamModel) -> None:
    gen = Generator(model, SoundCache(1 << 20), RATE, GeneratorConfig(prefetch_points=4, prefetch_horizon_s=1.0))
    _moving(gen, [(0.90, 0.5), (0.95, 0.5), (0.99, 0.5)])  # heading off the right edge
    targets = gen.prefetch_targets()
    assert targets and len(targets) == len(set(targets))
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in targets)

