"""Model directories: round trip, and a clear CheckpointError for every way one can be broken."""

import json
import pickle

import numpy as np
import pytest
import torch

from gesam_engine.checkpoint import FORMAT_VERSION, sha256_file
from gesam_engine.errors import CheckpointError
from gesam_engine.gesam_model import GesamModel
from tests.tiny import tiny_model


@pytest.fixture()
def model_dir(tmp_path):
    path = tmp_path / "model"
    tiny_model().save(path, extra_files={"map/points.json": b'{"points": []}'})
    return path


def test_round_trip_gives_the_same_sound(model_dir):
    original = tiny_model()
    loaded = GesamModel.load(model_dir)
    xy = np.array([[0.2, 0.8], [0.5, 0.5]])
    np.testing.assert_array_equal(loaded.render(xy), original.render(xy))
    assert loaded.extent == original.extent and loaded.classes == original.classes
    card = json.loads((model_dir / "model.json").read_text())
    assert card["format_version"] == FORMAT_VERSION
    for name in ("vae.safetensors", "transformer.safetensors", "map/points.json"):
        assert card["files"][name]["sha256"] == sha256_file(model_dir / name)
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "classifier.safetensors", "map", "model.json", "transformer.safetensors", "vae.safetensors"]


def test_existing_directory_needs_force(model_dir):
    with pytest.raises(CheckpointError, match="--force"):
        tiny_model().save(model_dir)
    tiny_model(seed=1).save(model_dir, force=True)
    assert not any(p.name.startswith(".") for p in model_dir.parent.iterdir())


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        GesamModel.load(tmp_path / "nope")


def test_missing_card(model_dir):
    (model_dir / "model.json").unlink()
    with pytest.raises(CheckpointError, match="model.json is missing"):
        GesamModel.load(model_dir)


def test_missing_weights(model_dir):
    (model_dir / "vae.safetensors").unlink()
    with pytest.raises(CheckpointError, match="vae.safetensors is missing"):
        GesamModel.load(model_dir)


def test_truncated_weights(model_dir):
    path = model_dir / "transformer.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        GesamModel.load(model_dir)


@pytest.mark.reliability
def test_pickle_in_place_of_weights_is_never_unpickled(model_dir, monkeypatch):
    path = model_dir / "vae.safetensors"
    path.write_bytes(pickle.dumps({"encoder.0.weight": torch.zeros(3)}))
    card = json.loads((model_dir / "model.json").read_text())
    card["files"]["vae.safetensors"]["sha256"] = sha256_file(path)  # a tamperer fixes the sum too
    (model_dir / "model.json").write_text(json.dumps(card))

    def refuse(*args, **kwargs):
        raise AssertionError("pickle.load called")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        GesamModel.load(model_dir)


def test_corrupt_json(model_dir):
    (model_dir / "model.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        GesamModel.load(model_dir)


def test_wrong_format_version(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    card["format_version"] = 99
    (model_dir / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="format_version 99"):
        GesamModel.load(model_dir)


def test_architecture_mismatch_names_the_keys(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    card["transformer"]["n_layers"] = 3
    (model_dir / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"missing keys \['blocks\.2\."):
        GesamModel.load(model_dir)


def test_shape_mismatch(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    card["vae"]["hidden"] = 48
    (model_dir / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="has shape"):
        GesamModel.load(model_dir)


def test_invalid_settings_and_incomplete_card(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    bad = dict(card, codec={**card["codec"], "n_fft": 1000})
    (model_dir / "model.json").write_text(json.dumps(bad))
    with pytest.raises(CheckpointError, match="invalid settings.*power of two"):
        GesamModel.load(model_dir)
    del card["map"]
    (model_dir / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="lacks the entry 'map'"):
        GesamModel.load(model_dir)


def test_file_missing_from_card(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    del card["files"]["vae.safetensors"]
    (model_dir / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="records no sha256 for vae.safetensors"):
        GesamModel.load(model_dir)


def test_a_directory_of_something_else(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "model.json").write_text('{"format": "other"}')
    with pytest.raises(CheckpointError, match="not a gesam model card"):
        GesamModel.load(tmp_path / "x")
