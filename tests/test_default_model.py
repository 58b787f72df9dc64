"""The shipped default model (models/default): verified files, a sound at the centre, and in each
class's region of its class map a sound the classifier recognises as that class."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gesam_engine.checkpoint import sha256_file
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.grid import grid_points
from gesam_engine.maps.maps_file import read_maps_file

DEFAULT = Path(__file__).parents[1] / "models" / "default"
DRUMS = ("kick", "snare", "hihat", "tom")


@pytest.fixture(scope="module")
def model() -> GesamModel:
    return GesamModel.load(DEFAULT)


def test_files_match_the_sha256_in_model_json_and_stay_small() -> None:
    card = json.loads((DEFAULT / "model.json").read_text())
    assert {"vae.safetensors", "transformer.safetensors", "classifier.safetensors"} <= set(card["files"])
    for name, entry in card["files"].items():
        assert sha256_file(DEFAULT / name) == entry["sha256"], name
    size = sum(p.stat().st_size for p in DEFAULT.rglob("*") if p.is_file())
    assert size <= 60 * 2**20, f"models/default is {size / 2**20:.1f} MB (the budget is 60 MB)"
    assert card["evaluation"]["methods"]["transformer"]["frame_mae"] > 0  # the paper's table is in the card
    assert (DEFAULT / "README.md").is_file()


def test_the_centre_sounds(model: GesamModel) -> None:
    wave = model.render(np.array([[0.5, 0.5]]))[0]
    assert np.isfinite(wave).all() and 0.1 < np.abs(wave).max() <= 10 ** (-1 / 20) + 1e-6
    assert np.sqrt(np.mean(wave[: model.sample_rate // 4] ** 2)) > 0.01  # a drum hit, not a whisper


def _deepest_cell(ids: np.ndarray, k: int, grid: int) -> int:
    """The cell of class ``k`` farthest from any cell of another class."""
    pts = grid_points(grid)
    mine, other = np.flatnonzero(ids == k), np.flatnonzero(ids != k)
    if other.size == 0:
        return int(mine[0])
    d = np.linalg.norm(pts[mine, None] - pts[None, other], axis=-1).min(axis=1)
    return int(mine[d.argmax()])


def test_each_class_region_sounds_like_its_class(model: GesamModel) -> None:
    from gesam_engine.maps.map_bake import weights_id

    maps = read_maps_file(DEFAULT / "map" / "maps", weights_id(model, sound_only=False))  # not stale
    assert maps.class_source == "classifier"
    ids = np.array(maps.class_ids)
    names = model.class_names()
    present = sorted(set(ids.tolist()))
    assert set(DRUMS) <= {names[k] for k in present}, "every drum class has a region on the map"
    points = grid_points(maps.grid)
    for k in present:
        xy = points[_deepest_cell(ids, k, maps.grid)][None]
        heard = model.classify(model.generate_frames(xy)).argmax(axis=1)[0]
        assert names[heard] == names[k], f"the {names[k]} region at {xy[0]} sounds like {names[heard]}"


def test_commands_use_it_without_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from gesam_engine.cli.main import main

    monkeypatch.chdir(DEFAULT.parents[1])  # the repository root, as after a clone
    out = tmp_path / "hit.wav"
    assert main(["render", "--xy", "0.3", "0.7", "-o", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert main(["info"]) == 0
    assert "840 files" in capsys.readouterr().out
