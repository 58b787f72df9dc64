"""A model's shipped grid bake (map/bake from `gesam bake`) serves triggers near unready points."""

import json
from pathlib import Path

import numpy as np
import pytest

from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.map_bake import bake_grid
from gesam_engine.runtime.engine import Engine
from gesam_engine.runtime.engine_config import serve_config_from_dict
from gesam_engine.runtime.resample import to_rate
from tests.tiny import tiny_model


@pytest.fixture(scope="module")
def baked_model(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("baked") / "model"
    tiny_model(0.3).save(directory)
    bake_grid(GesamModel.load(directory), 4, directory / "map" / "bake", batch=8, progress=False)
    return directory


def _engine(model: GesamModel, tmp_path: Path) -> Engine:
    config = serve_config_from_dict({"cache": {"bake_grid": 3}, "output": {"blocksize": 512},
                                     "generator": {"prefetch": False}})
    return Engine(model, config, output_file=tmp_path / "out.wav", cache_dir=tmp_path / "cache", progress=False)


def test_a_move_makes_the_cells_baked_sound_ready_at_once(baked_model, tmp_path):
    model = GesamModel.load(baked_model)
    engine = _engine(model, tmp_path).start()
    try:
        assert engine.grid is not None and engine.grid.grid == 4
        engine.generator.stop()  # nothing exact gets made: the trigger must use the bake
        engine.move(0.1, 0.1)
        info = engine.trigger(1.0)
    finally:
        engine.stop()
    assert not info.exact
    assert info.played_xy == pytest.approx((0.125, 0.125))  # the 4x4 cell's point, nearer than the 3x3 built-in one
    baked = np.load(baked_model / "map" / "bake" / "audio.npy", mmap_mode="r")[0].astype(np.float32)
    np.testing.assert_allclose(engine.cache.get(info.played_xy).wave, to_rate(baked, model.sample_rate, 48000))


def test_a_stale_bake_is_reported_and_not_used(baked_model, tmp_path):
    index = baked_model / "map" / "bake" / "index.json"
    original = index.read_text()
    doc = json.loads(original)
    doc["weights"] = {name: "0" * 64 for name in doc["weights"]}
    index.write_text(json.dumps(doc))
    events = []
    try:
        engine = _engine(GesamModel.load(baked_model), tmp_path)
        engine.add_listener(lambda event, data: events.append((event, data)))
        engine.start()
        engine.stop()
    finally:
        index.write_text(original)
    assert engine.grid is None
    assert any(e == "bake" and "stale" in d["message"] for e, d in events), events
