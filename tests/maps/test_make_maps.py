"""`gesam maps` on a tiny model: every view as PNG + maps.json, read back by the engine and OSC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gesam_engine.cli.main import main
from gesam_engine.errors import CheckpointError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps import bake_grid, load_bake
from gesam_engine.maps.features import FEATURES
from gesam_engine.maps.make_maps import make_maps
from gesam_engine.maps.maps_file import MAPS_JSON, read_maps_file
from gesam_engine.maps.render import PLAIN_SIZE
from tests.tiny import tiny_model

GRID = 4
# training points: kicks at the bottom, snares at the top
POINTS = {"points": [[0.2, 0.1], [0.8, 0.15], [0.5, 0.2], [0.2, 0.9], [0.8, 0.85], [0.5, 0.8]],
          "labels": ["kick"] * 3 + ["snare"] * 3, "files": [f"k/{i}.wav" for i in range(6)]}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> GesamModel:
    directory = tmp_path_factory.mktemp("model") / "tiny"
    tiny_model(0.25).save(directory, extra_files={"map/points.json": json.dumps(POINTS).encode()})
    m = GesamModel.load(directory)
    bake_grid(m, GRID, directory / "map" / "bake", iters=2, progress=False)
    return m


@pytest.fixture(scope="module")
def maps_dir(model: GesamModel) -> Path:
    assert model.directory is not None
    out = model.directory / "map" / "maps"
    make_maps(model, model.directory / "map" / "bake", out, class_source="labels", progress=False)
    return out


def test_every_view_is_a_png_with_its_values_in_json(model: GesamModel, maps_dir: Path) -> None:
    maps = read_maps_file(maps_dir, None)
    names = [v.name for v in maps.views]
    assert names == ["class", *FEATURES, "tsne"]
    for view in maps.views:
        with Image.open(maps_dir / view.figure) as fig:
            assert fig.format == "PNG" and fig.width > 400 and fig.height > 400
        with Image.open(maps_dir / view.image) as plain:
            assert plain.size == (GRID * (PLAIN_SIZE // GRID),) * 2
            px = np.asarray(plain.convert("RGB"))
            assert px.std() > 0 or view.kind == "class"  # a picture, not a blank
    assert maps.grid == GRID and maps.class_source == "training labels"
    assert len(maps.class_ids) == GRID * GRID and set(maps.class_ids) <= {0, 1}
    for name in FEATURES:
        assert len(maps.features[name]) == GRID * GRID and np.isfinite(maps.features[name]).all()
        lo, hi = maps.feature_clip[name]
        assert lo <= hi
    assert maps.tsne_rgb is not None and np.isfinite(maps.tsne_rgb).all()
    assert {"features_s", "tsne_s", "class_s", "pictures_s"} <= set(maps.timing)


def test_class_map_follows_the_training_labels(maps_dir: Path) -> None:
    maps = read_maps_file(maps_dir)
    ids = np.array(maps.class_ids).reshape(GRID, GRID)  # row 0 = bottom
    assert (ids[0] == 0).all() and (ids[-1] == 1).all()  # kicks below, snares above
    assert maps.class_colors[0] != maps.class_colors[-1]
    # the bare image has y up: its top-left pixel is the top row's first cell (a snare)
    with Image.open(maps_dir / "plain" / "class.png") as img:
        top_left, bottom_left = img.convert("RGB").getpixel((1, 1)), img.convert("RGB").getpixel((1, img.height - 2))
    assert "#%02x%02x%02x" % top_left == maps.class_colors[(GRID - 1) * GRID]
    assert "#%02x%02x%02x" % bottom_left == maps.class_colors[0]


def test_maps_are_refused_for_other_weights(model: GesamModel, maps_dir: Path) -> None:
    from gesam_engine.maps.map_bake import weights_id

    assert read_maps_file(maps_dir, weights_id(model, sound_only=False)).grid == GRID
    with pytest.raises(CheckpointError, match="stale"):
        read_maps_file(maps_dir, {"transformer.safetensors": "0" * 64})
    with pytest.raises(CheckpointError, match="missing"):
        read_maps_file(maps_dir.parent / "nowhere")


def test_damaged_maps_json_is_a_clear_error(tmp_path: Path, maps_dir: Path) -> None:
    doc = json.loads((maps_dir / MAPS_JSON).read_text())
    for change in ({"class_ids": [0]}, {"grid": "x"}, {"format": "pickle"},
                   {"views": [{"name": "a", "title": "", "kind": "feature", "figure": "../x.png", "image": "a.png"}]}):
        (tmp_path / MAPS_JSON).write_text(json.dumps({**doc, **change}))
        with pytest.raises(CheckpointError):
            read_maps_file(tmp_path)
    (tmp_path / MAPS_JSON).write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        read_maps_file(tmp_path)


def test_labels_source_needs_points_json(tmp_path: Path) -> None:
    directory = tiny_model(0.25).save(tmp_path / "m")
    m = GesamModel.load(directory)
    bake_grid(m, 2, directory / "map" / "bake", iters=1, progress=False)
    with pytest.raises(GesamError, match="points.json"):
        make_maps(m, directory / "map" / "bake", tmp_path / "out", class_source="labels", progress=False)


def test_engine_and_osc_controller_report_class_and_features(model: GesamModel, maps_dir: Path, tmp_path: Path) -> None:
    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import serve_config_from_dict
    from osc_bridge.controller import Controller

    engine = Engine(model, serve_config_from_dict({"cache": {"bake_grid": 2}, "output": {"blocksize": 512}}),
                    output_file=tmp_path / "out.wav", realtime=False, cache_dir=tmp_path / "cache", progress=False)
    assert engine.maps_dir == maps_dir
    with engine:
        maps = read_maps_file(maps_dir)
        replies = dict(Controller(engine, tmp_path).execute(_move(0.9, 0.05)))
        cell = 0 * GRID + 3  # bottom row, last column
        assert replies["/gesam/state/xy"] == [0.9, 0.05]
        assert replies["/gesam/state/class"] == [maps.classes[maps.class_ids[cell]]["name"], maps.class_colors[cell]]
        assert replies["/gesam/state/class"][0] == "kick"
        np.testing.assert_allclose(replies["/gesam/state/features"], [maps.features[f][cell] for f in FEATURES])
        info = engine.map_info((0.1, 0.99))
        assert info is not None and info["cell"] == (GRID - 1) * GRID and info["class"]["name"] == "snare"


def test_engine_skips_stale_maps_and_says_so(model: GesamModel, maps_dir: Path, tmp_path: Path) -> None:
    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import serve_config_from_dict

    other = tiny_model(0.25, seed=1)  # other weights, same shapes
    events: list[tuple[str, dict]] = []
    engine = Engine(other, serve_config_from_dict({"cache": {"bake_grid": 2}}), output_file=tmp_path / "o.wav",
                    realtime=False, cache_dir=tmp_path / "cache", progress=False, maps_dir=maps_dir)
    engine.add_listener(lambda e, d: events.append((e, d)))
    with engine:
        assert engine.maps is None and engine.map_info() is None
    assert any(e == "maps" and "stale" in d["message"] for e, d in events)


def _move(x: float, y: float):  # noqa: ANN202
    from osc_bridge.commands import Move

    return Move(x, y)


def test_maps_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tiny_model(0.25).save(tmp_path / "m", extra_files={"map/points.json": json.dumps(POINTS).encode()})
    argv = ["maps", "--model", str(directory), "--grid", "3", "--iters", "1", "--class-source", "labels",
            "--no-tsne", "--device", "cpu", "-q"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "wrote 7 maps" in out and str(directory / "map" / "maps") in out
    maps = read_maps_file(directory / "map" / "maps")
    assert maps.grid == 3 and maps.tsne_rgb is None
    assert main([*argv[:3], "-o", str(tmp_path / "elsewhere"), *argv[3:]]) == 0  # reuses the finished bake
    assert "baked" not in capsys.readouterr().out
    assert (tmp_path / "elsewhere" / "class.png").is_file()
    assert main(["maps", "--model", str(directory), "--grid", "1", "-q"]) == 2
    assert "--grid must be in 2..1024" in capsys.readouterr().err


def test_class_map_from_the_classifier_on_the_baked_sounds(model: GesamModel, tmp_path: Path) -> None:
    from gesam_engine.maps.class_map import hex_to_rgb, knn_class_mix
    from gesam_engine.maps.grid import grid_points

    assert model.classifier is not None and model.directory is not None
    bake = model.directory / "map" / "bake"
    maps = make_maps(model, bake, tmp_path / "maps", tsne=False, progress=False)  # auto: the classifier
    assert maps.class_source == "classifier" and [v.name for v in maps.views][-1] == "zcr"
    _, frames, _, _ = load_bake(bake, model)
    heard = model.classify(np.asarray(frames, dtype=np.float32)).argmax(axis=1)
    palette = np.stack([hex_to_rgb(c["color"]) for c in model.classes])
    colors, ids = knn_class_mix(grid_points(GRID), grid_points(GRID), heard, palette)
    assert maps.class_ids == ids.tolist()
    assert maps.class_colors == ["#%02x%02x%02x" % tuple(int(round(v * 255)) for v in c) for c in colors]
