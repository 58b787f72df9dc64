"""The built-in bake: grid points, generated waves at the output rate, kept as a bake in the cache."""

import json
from pathlib import Path

import numpy as np
import pytest

from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps import load_bake
from gesam_engine.maps.grid import grid_points
from gesam_engine.runtime.builtin_bake import bake_key, load_or_make_bake
from gesam_engine.runtime.resample import to_rate
from tests.tiny import tiny_model

SECONDS = 0.3


@pytest.fixture(scope="module")
def model() -> GesamModel:
    return tiny_model(SECONDS)


def test_grid_points_are_cell_centres_row_major() -> None:
    pts = grid_points(3)
    assert pts.shape == (9, 2)
    np.testing.assert_allclose(pts[:3], [[1 / 6, 1 / 6], [0.5, 1 / 6], [5 / 6, 1 / 6]])
    np.testing.assert_allclose(pts[3], [1 / 6, 0.5])
    np.testing.assert_allclose(pts[-1], [5 / 6, 5 / 6])
    for n in (2, 5, 8):
        p = grid_points(n)
        assert p.shape == (n * n, 2) and p.min() == pytest.approx(0.5 / n) and p.max() == pytest.approx(1 - 0.5 / n)
        assert len({tuple(q) for q in p}) == n * n
        np.testing.assert_allclose(p.mean(axis=0), [0.5, 0.5])


def test_the_bake_renders_the_grid_at_the_output_rate(model: GesamModel) -> None:
    assert model.sample_rate == 44100
    points, waves = load_or_make_bake(model, 3, 48000, iters=4, cache_dir=None, progress=False)
    np.testing.assert_array_equal(points, grid_points(3))
    expected = round(model.n_samples * 48000 / model.sample_rate)
    assert waves.shape == (9, expected) and waves.dtype == np.float32
    assert abs(waves.shape[1] / 48000 - model.n_samples / model.sample_rate) < 1e-3
    peaks = np.abs(waves).max(axis=1)
    assert np.all(peaks > 0.1) and np.all(np.isfinite(waves))
    assert len({w.tobytes() for w in waves}) == 9  # every point has its own sound
    alone = to_rate(model.render(points[4:5], iters=4)[0], 44100, 48000)  # the centre rendered alone
    np.testing.assert_allclose(waves[4], alone, atol=1e-3)  # float16 storage
    _, same_rate = load_or_make_bake(model, 2, 44100, 4, None, progress=False)
    assert same_rate.shape == (4, model.n_samples)


def _bake_dirs(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "bakes").iterdir() if p.is_dir())


def test_load_or_make_bake_stores_a_bake_and_loads_it(model: GesamModel, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    points, waves = load_or_make_bake(model, 3, 48000, 4, tmp_path, progress=False)
    (directory,) = _bake_dirs(tmp_path)
    assert directory.name == bake_key(model, 3, 4) and (directory / "index.json").is_file()
    assert load_bake(directory, model)[3].complete

    def no_generate(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("the stored bake should have been loaded, not generated again")

    # The one patch in this file: it proves the second call loads from disk without the model.
    monkeypatch.setattr(GesamModel, "generate_frames", no_generate)
    points2, waves2 = load_or_make_bake(model, 3, 48000, 4, tmp_path, progress=False)
    np.testing.assert_array_equal(points2, points)
    np.testing.assert_array_equal(waves2, waves)
    assert waves2.dtype == np.float32
    _, at_44k = load_or_make_bake(model, 3, 44100, 4, tmp_path, progress=False)  # another rate: same bake
    assert at_44k.shape == (9, model.n_samples)
    # a different grid, iteration count or model is another bake
    with pytest.raises(AssertionError, match="should have been loaded"):
        load_or_make_bake(model, 2, 48000, 4, tmp_path, progress=False)
    with pytest.raises(AssertionError, match="should have been loaded"):
        load_or_make_bake(model, 3, 48000, 2, tmp_path, progress=False)
    with pytest.raises(AssertionError, match="should have been loaded"):
        load_or_make_bake(tiny_model(SECONDS, seed=1), 3, 48000, 4, tmp_path, progress=False)


def test_without_a_cache_dir_nothing_is_written(model: GesamModel, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    points, waves = load_or_make_bake(model, 2, 48000, 4, None, progress=False)
    assert points.shape == (4, 2) and waves.shape[0] == 4
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["garbage_index", "truncated_audio", "missing_audio", "unfinished"])
def test_a_damaged_bake_is_made_again(model: GesamModel, tmp_path: Path, damage: str) -> None:
    points, waves = load_or_make_bake(model, 2, 48000, 4, tmp_path, progress=False)
    (directory,) = _bake_dirs(tmp_path)
    if damage == "garbage_index":
        (directory / "index.json").write_bytes(b"not json at all")
    elif damage == "truncated_audio":
        audio = directory / "audio.npy"
        audio.write_bytes(audio.read_bytes()[:200])
    elif damage == "missing_audio":
        (directory / "audio.npy").unlink()
    else:
        index = json.loads((directory / "index.json").read_text())
        (directory / "index.json").write_text(json.dumps({**index, "done": 1}))
    points2, waves2 = load_or_make_bake(model, 2, 48000, 4, tmp_path, progress=False)
    np.testing.assert_array_equal(points2, points)
    np.testing.assert_allclose(waves2, waves, atol=1e-3)  # batches may differ on a resume: float16 steps
    assert load_bake(directory, model)[3].complete  # stored again, whole
