"""The assembled model: batched rendering, peak safety, encoding points, device names, the classifier."""

import json

import numpy as np
import pytest
import torch

from gesam_engine.errors import CheckpointError, CodecError, ConfigError, GesamError
from gesam_engine.gesam_model import GesamModel, resolve_device
from gesam_engine.evaluation import integrated_lufs
from tests.tiny import tiny_model

PEAK_CEILING = 10 ** (-1 / 20)  # the default peak ceiling, -1 dBFS


def test_render_shapes_and_batch_independence():
    model = tiny_model()
    xy = np.array([[0.1, 0.1], [0.9, 0.4], [0.5, 0.5]])
    waves = model.render(xy)
    assert waves.shape == (3, model.n_samples) and waves.dtype == np.float32
    np.testing.assert_allclose(model.render(xy[1:2])[0], waves[1], atol=1e-5)


def test_loud_frames_are_turned_down_and_quiet_ones_brought_to_the_training_level():
    model = tiny_model()
    assert model.level() == (-18.0, -1.0)  # a card without settings: the preprocessing defaults
    t, d = model.transformer.config.n_frames, model.codec.n_features
    loud = model.decode(torch.full((1, t, d), 1.3))
    assert np.abs(loud).max() <= PEAK_CEILING + 1e-6
    quiet_frames = torch.full((1, t, d), 0.4)
    raw = model.codec.decode_batch(quiet_frames, model.n_samples).numpy()
    played = model.decode(quiet_frames)
    target, _ = model.level()
    # a quiet decode is brought up towards the training sounds' loudness (the same sound, louder)
    assert integrated_lufs(played, model.sample_rate)[0] > integrated_lufs(raw, model.sample_rate)[0] + 3
    assert integrated_lufs(played, model.sample_rate)[0] <= target + 0.5
    assert np.abs(played).max() <= PEAK_CEILING + 1e-6
    assert np.corrcoef(played[0], raw[0])[0, 1] > 0.999


def test_encode_points_returns_normalised_pairs():
    model = tiny_model()
    frames = np.random.default_rng(0).random((4, model.transformer.config.n_frames, 16), dtype=np.float32)
    pts = model.encode_points(frames)
    assert pts.shape == (4, 2) and np.isfinite(pts).all()


def test_device_names():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def _frames(model, n: int = 5) -> np.ndarray:
    return np.random.default_rng(1).random((n, model.transformer.config.n_frames, model.codec.n_features), dtype=np.float32)


def test_classify_gives_probabilities_in_class_order():
    model = tiny_model()
    frames = _frames(model)
    probs = model.classify(frames)
    assert probs.shape == (5, len(model.classes)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.classify(torch.from_numpy(frames), batch=2), probs, atol=1e-6)
    generated = model.generate_frames(np.array([[0.2, 0.3], [0.7, 0.9]]))  # inference tensors on the model's device
    assert model.classify(generated).shape == (2, 2)
    with pytest.raises(CodecError, match="classify expects frames"):
        model.classify(frames[:, :-1])
    with pytest.raises(CodecError, match="classify expects frames"):
        model.classify(frames[0])


def test_a_model_without_classifier_says_how_to_get_one(tmp_path):
    model = tiny_model(with_classifier=False)
    with pytest.raises(GesamError, match="no classifier.*gesam train"):
        model.classify(_frames(model))
    loaded = GesamModel.load(model.save(tmp_path / "m"))
    assert loaded.classifier is None and "classifier" not in loaded.card
    assert not (tmp_path / "m" / "classifier.safetensors").exists()
    assert "classifier  (none" in loaded.summary()


def test_classifier_round_trip_gives_identical_probabilities(tmp_path):
    model = tiny_model()
    directory = model.save(tmp_path / "m")
    card = json.loads((directory / "model.json").read_text())
    assert card["classifier"]["n_classes"] == 2 and "classifier.safetensors" in card["files"]
    loaded = GesamModel.load(directory)
    assert loaded.classifier is not None and not loaded.classifier.training
    frames = _frames(model)
    np.testing.assert_array_equal(loaded.classify(frames), model.classify(frames))
    assert "classifier  " in loaded.summary() and "parameters" in loaded.summary()
    assert loaded.to("cpu").classifier is loaded.classifier


def test_tampered_classifier_is_refused(tmp_path):
    directory = tiny_model().save(tmp_path / "m")
    path = directory / "classifier.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="classifier.safetensors does not match the sha256"):
        GesamModel.load(directory)


def test_card_with_classifier_but_no_file_is_refused(tmp_path):
    directory = tiny_model().save(tmp_path / "m")
    (directory / "classifier.safetensors").unlink()
    with pytest.raises(CheckpointError, match="classifier.safetensors is missing"):
        GesamModel.load(directory)
    card = json.loads((directory / "model.json").read_text())
    del card["files"]["classifier.safetensors"]
    (directory / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="no sha256 for classifier.safetensors"):
        GesamModel.load(directory)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"n_classes": 3}, "classifier has 3 classes, the card lists 2"),
        ({"n_features": 12}, "classifier expects frames"),
        ({"n_frames": 7}, "classifier expects frames"),
        ({"channels": 16}, "has shape"),
        ({"n_classes": 1}, "invalid settings.*n_classes"),
        ({"bogus": 1}, "invalid settings.*unknown key"),
    ],
)
def test_classifier_card_must_fit_the_model(tmp_path, change, match):
    directory = tiny_model().save(tmp_path / "m")
    card = json.loads((directory / "model.json").read_text())
    card["classifier"].update(change)
    (directory / "model.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=match):
        GesamModel.load(directory)
