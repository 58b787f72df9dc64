"""What the engine makes at start: a model that ships a bake makes no built-in bake (its cells are
the ready sounds, the cursor's and the pads' read at once); without one, a live engine makes the
built-in bake on a thread of its own, so start-up does not wait, and stopping stops it.

The built-in bake is held at a known point by wrapping ``bake_grid``; nothing waits on time."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.grid import grid_cell, grid_points
from gesam_engine.maps.map_bake import bake_grid, read_index
from gesam_engine.runtime import builtin_bake
from gesam_engine.runtime.builtin_bake import bake_key, start_builtin_bake
from gesam_engine.runtime.engine import Engine
from gesam_engine.runtime.engine_config import serve_config_from_dict
from gesam_engine.runtime.generator import Generator, GeneratorConfig
from gesam_engine.runtime.sound_cache import SoundCache
from tests.tiny import tiny_model
from tests.waiting import wait_for, wait_until

SECONDS = 0.3
CONFIG = {"cache": {"bake_grid": 3}, "output": {"blocksize": 512}, "generator": {"prefetch": False}}
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def baked_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny model with a finished 5 x 5 map bake (cells between the pads' points)."""
    directory = tmp_path_factory.mktemp("shipped") / "model"
    tiny_model(SECONDS).save(directory)
    bake_grid(GesamModel.load(directory), 5, directory / "map" / "bake", batch=25, progress=False)
    return directory


def _engine(model: GesamModel, tmp_path: Path, events: Events, live: bool = False) -> Engine:
    output = None if live else tmp_path / "out.wav"
    engine = Engine(model, serve_config_from_dict(CONFIG), output_file=output, cache_dir=tmp_path / "cache",
                    progress=False)
    engine.add_listener(lambda event, data: events.append((event, data)))
    return engine


def test_a_shipped_bake_means_no_builtin_bake_and_its_cells_play_at_once(baked_model: Path, tmp_path: Path) -> None:
    events: Events = []
    engine = _engine(GesamModel.load(baked_model), tmp_path, events).start()
    try:
        engine.generator.stop()  # nothing more is generated: what plays below was ready at start
        assert engine.grid is not None and engine.grid.grid == 5
        assert engine.generator.jobs_running() == 0
        pads = engine.kit().pads
        starts = [engine.cursor, *(pad.xy for pad in pads)]
        cells = {tuple(map(float, grid_points(5)[grid_cell(x, y, 5)])) for x, y in starts}
        assert engine.cache.stats()["pinned"] == len(cells)  # the start points' cells, read from the bake
        for n, pad in enumerate(pads):
            info = engine.trigger_pad(n)
            assert not info.exact and info.played_xy == tuple(map(float, grid_points(5)[grid_cell(*pad.xy, 5)]))
        cursor = engine.trigger()  # its cell's sound, or its own if the generator's warm-up made it before stop
        cell = tuple(map(float, grid_points(5)[grid_cell(*engine.cursor, 5)]))
        assert cursor.played_xy == (engine.cursor if cursor.exact else cell)
    finally:
        engine.stop()
    assert not (tmp_path / "cache").exists()  # no built-in bake was made, nor kept
    assert not any(event == "bake" for event, _ in events), events


class HeldBake:
    """Wraps ``bake_grid``: says when the built-in bake reached it, and runs it once released."""

    def __init__(self, release: Callable[[dict[str, Any]], bool]) -> None:
        self.entered = threading.Event()
        self.release = release

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        assert wait_until(lambda: self.release(kwargs), 60), "the test never released the bake"
        return bake_grid(*args, **kwargs)


def test_live_without_a_shipped_bake_the_builtin_bake_is_made_in_the_background(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    released = threading.Event()
    held = HeldBake(lambda _: released.is_set())
    monkeypatch.setattr(builtin_bake, "bake_grid", held)
    events: Events = []
    engine = _engine(tiny_model(SECONDS), tmp_path, events, live=True).start()
    try:
        wait_for(held.entered.is_set)
        # start returned while the bake is held, with the cursor's own sound (the generator's warm-up) ready
        assert engine.started and engine.generator.jobs_running() == 1 and engine.cache.stats()["pinned"] == 0
        assert engine.is_ready()
        info = engine.play(0.2, 0.3)
        assert info.played_xy in ((0.2, 0.3), (0.5, 0.5))  # the exact sound when made by now, else the cursor's
        released.set()
        wait_for(lambda: engine.generator.jobs_running() == 0)
        assert engine.cache.stats()["pinned"] == 9 and all(tuple(p) in engine.cache for p in grid_points(3))
    finally:
        released.set()
        engine.stop()
    assert not any(event == "bake" for event, _ in events), events  # said only when it fails
    assert engine.generator.errors == 0


@pytest.fixture
def generator() -> Generator:
    return Generator(tiny_model(SECONDS), SoundCache(64 << 20), 48000, GeneratorConfig(griffin_lim_iters=4, prefetch=False))


def test_stopping_stops_the_background_bake_between_batches_and_keeps_it_resumable(
        generator: Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldBake(lambda kwargs: bool(kwargs["stop"]()))  # runs only once the generator is stopping
    monkeypatch.setattr(builtin_bake, "bake_grid", held)
    reports: list[str] = []
    start_builtin_bake(generator, 3, 4, tmp_path, reports.append)
    wait_for(held.entered.is_set)
    assert generator.jobs_running() == 1
    generator.stop()
    assert generator.jobs_running() == 0 and generator.errors == 0
    assert len(generator.cache) == 0 and reports == []
    index = read_index(tmp_path / "bakes" / bake_key(generator.model, 3, 4))
    assert index.done == 0 and not index.complete  # unfinished, resumed by the next start


def test_a_failed_background_bake_is_reported_and_counted(
        generator: Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(builtin_bake, "bake_grid", broken)
    reports: list[str] = []
    start_builtin_bake(generator, 3, 4, tmp_path, reports.append)
    wait_for(lambda: generator.jobs_running() == 0)
    assert generator.errors == 1 and "disk full" in generator.last_error
    assert len(reports) == 1 and "the built-in bake failed (OSError: disk full)" in reports[0]
    generator.stop()


def test_the_generators_warm_up_makes_its_point_first_and_reports_nothing(generator: Generator) -> None:
    ready: list[tuple[str, tuple[float, float], float]] = []
    generator.on_ready = lambda slot, xy, ms: ready.append((slot, xy, ms))
    generator.start(warm_up=(0.25, 0.75))
    try:
        assert generator.wait_warm_up(timeout=60)
        assert (0.25, 0.75) in generator.cache
    finally:
        generator.stop()
    assert generator.generated == 0 and ready == [] and generator.errors == 0  # a warm-up, not a request
