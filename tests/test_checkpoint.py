"""Model directories: round trip, and a clear CheckpointError for every way one can be broken."""

import json
import os
import pickle
import stat
import threading

import numpy as np
import pytest
import torch

from gesam_engine.checkpoint import FORMAT_VERSION, sha256_file
from gesam_engine.cli.evaluate_cmd import write_evaluation
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


# ---- hostile files and the user's umask (issue 11) ----------------------------------------------
def load_within(directory, seconds: float = 20.0):
    """GesamModel.load in a thread; the CheckpointError it raised, failing if it blocked instead.

    A FIFO opened for reading blocks until a writer comes: the test must never hang on that, so
    a load still running after ``seconds`` fails the test (and is released by opening each FIFO
    for writing)."""
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            GesamModel.load(directory)
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in [p for p in directory.rglob("*") if stat.S_ISFIFO(os.lstat(p).st_mode)]:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # lets the blocked open return
        thread.join(seconds)
        pytest.fail("GesamModel.load blocked on a FIFO instead of refusing it")
    (exc,) = outcome
    assert isinstance(exc, CheckpointError), exc
    return exc


@pytest.mark.reliability
@pytest.mark.parametrize("name", ["vae.safetensors", "model.json"])
def test_a_fifo_in_place_of_a_file_is_refused_as_such_without_blocking(model_dir, name):
    (model_dir / name).unlink()
    os.mkfifo(model_dir / name)
    exc = load_within(model_dir)
    assert f"{name} is a FIFO, not a regular file" in str(exc) and "missing" not in str(exc)


@pytest.mark.reliability
def test_a_device_in_place_of_weights_is_refused_as_such(model_dir):
    (model_dir / "vae.safetensors").unlink()
    (model_dir / "vae.safetensors").symlink_to("/dev/zero")  # endless: reading it would never end
    assert "vae.safetensors is a character device, not a regular file" in str(load_within(model_dir))


@pytest.mark.reliability
def test_a_model_json_over_16_mb_is_refused_before_parsing(model_dir):
    card = json.loads((model_dir / "model.json").read_text())
    card["padding"] = "x" * 17_000_000  # valid JSON, a valid card otherwise
    (model_dir / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="model.json is larger than 16 MB"):
        GesamModel.load(model_dir)


@pytest.mark.reliability
def test_deeply_nested_model_json_is_a_checkpoint_error_not_a_recursion_error(model_dir):
    (model_dir / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="nested too deeply"):
        GesamModel.load(model_dir)


@pytest.fixture
def set_umask():
    before = os.umask(0o022)
    os.umask(before)
    yield lambda mask: os.umask(mask)
    os.umask(before)


def modes(directory):
    return {str(p.relative_to(directory)): stat.S_IMODE(p.stat().st_mode) for p in [directory, *directory.rglob("*")]}


@pytest.mark.reliability
@pytest.mark.parametrize(("mask", "folder", "file"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_model_directories_get_the_users_umask(tmp_path, set_umask, mask, folder, file):
    set_umask(mask)
    path = tmp_path / "model"
    tiny_model().save(path, extra_files={"map/points.json": b"{}"})
    tiny_model(seed=1).save(path, force=True)  # the replace path too
    write_evaluation(path, {"frame_mae": 0.5})  # the card rewritten in place
    got = modes(path)
    assert got == {name: folder if (path / name).is_dir() else file for name in got}, got
    assert got["."] == folder and got["model.json"] == file and got["vae.safetensors"] == file


@pytest.mark.reliability
def test_force_replaces_only_a_model_or_an_empty_folder(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "kick.wav").write_bytes(b"RIFF precious")
    with pytest.raises(CheckpointError, match=r"samples is not a gesam model \(it has no model.json\) and is not empty"):
        tiny_model().save(samples, force=True)
    assert (samples / "kick.wav").read_bytes() == b"RIFF precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples"]  # no temporary left behind
    empty = tmp_path / "empty"
    empty.mkdir()
    tiny_model().save(empty, force=True)
    assert (empty / "model.json").is_file()
    tiny_model(seed=1).save(empty, force=True)  # now a model: replaced again
    with pytest.raises(CheckpointError, match="is not a folder"):
        tiny_model().save(samples / "kick.wav", force=True)


@pytest.mark.reliability
def test_a_model_never_replaces_or_holds_a_sample_folder(tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "kick.wav").write_bytes(b"RIFF precious")
    tiny_model().save(tmp_path / "model")
    for output in (samples, tmp_path):
        with pytest.raises(CheckpointError, match="holds the sample folder"):
            tiny_model().save(output, force=True, data_roots=[samples])
    with pytest.raises(CheckpointError, match="inside the sample folder .* not a gesam model"):
        tiny_model().save(samples / "model", data_roots=[samples])
    assert sorted(p.name for p in samples.iterdir()) == ["kick.wav"]
    (tmp_path / "model" / "takes").mkdir()  # samples kept inside a model folder: never replaced with it
    with pytest.raises(CheckpointError, match="holds the sample folder"):
        tiny_model().save(tmp_path / "model", force=True, data_roots=[tmp_path / "model" / "takes"])
