"""The frame classifier: config checks, shapes, probabilities, augmentation, split and training;
both bodies, and model cards written before the conv2d body load as what they were."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gesam_engine.config import from_dict, to_dict
from gesam_engine.errors import ConfigError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.models import ClassifierConfig, FrameClassifier
from gesam_engine.models.classifier import TRAINING_DEFAULTS
from gesam_engine.training.classifier_trainer import Augment, augment_frames, stratified_split, train_classifier
from gesam_engine.training.settings import TrainConfig

from tests.tiny import tiny_model

CFG = ClassifierConfig(n_frames=37, n_features=12, n_classes=3, channels=16, n_down=2)
CFG2D = ClassifierConfig(n_frames=37, n_features=12, n_classes=3, arch="conv2d", channels=16, n_down=2, kernel_size=3)

# The [classifier] entry of model.json as the first shipped model wrote it, and its weights' shapes.
OLD_CARD = {"n_frames": 259, "n_features": 128, "n_classes": 7, "channels": 64, "n_down": 2, "kernel_size": 5, "dropout": 0.2}
OLD_SHAPES = {
    "body.0.0.weight": (64, 128, 5), "body.0.0.bias": (64,), "body.0.1.weight": (64,), "body.0.1.bias": (64,),
    "body.1.0.weight": (64, 64, 5), "body.1.0.bias": (64,), "body.1.1.weight": (64,), "body.1.1.bias": (64,),
    "body.2.0.weight": (64, 64, 5), "body.2.0.bias": (64,), "body.2.1.weight": (64,), "body.2.1.bias": (64,),
    "head.1.weight": (64, 128), "head.1.bias": (64,), "head.4.weight": (7, 64), "head.4.bias": (7,),
}


@pytest.mark.parametrize("cfg", [CFG, CFG2D], ids=["conv1d", "conv2d"])
def test_shapes_of_both_bodies(cfg):
    model = FrameClassifier(cfg)
    assert model(torch.rand(5, 37, 12)).shape == (5, 3)
    assert model(torch.rand(1, 3, 12)).shape == (1, 3)  # any length pools to one vector
    assert model(torch.rand(2, 1, 12)).shape == (2, 3)


def test_max_input_norm_makes_a_level_change_invisible():
    x = 0.6 * torch.rand(3, 37, 12)
    for cfg in (CFG, CFG2D):
        normed = FrameClassifier(dataclasses.replace(cfg, input_norm="max")).eval()
        torch.testing.assert_close(normed(x - 0.1), normed(x))  # 10 dB quieter, floor included
        plain = FrameClassifier(cfg).eval()
        assert not torch.allclose(plain(x - 0.1), plain(x))


def test_sizes_stay_small_for_the_engine():
    old = FrameClassifier(ClassifierConfig(n_frames=259, n_features=128, n_classes=7))
    new = FrameClassifier(ClassifierConfig(n_frames=259, n_features=128, n_classes=7, **TRAINING_DEFAULTS))
    assert sum(p.numel() for p in old.parameters()) == 91_207
    assert sum(p.numel() for p in new.parameters()) < 200_000  # about 127 k; either well under 1 M
    wide = FrameClassifier(ClassifierConfig(n_frames=259, n_features=513, n_classes=7, **TRAINING_DEFAULTS))
    assert sum(p.numel() for p in wide.parameters()) < 500_000  # a 513-bin codec: 33 bands reach the head


def test_a_card_without_the_new_keys_builds_the_first_shipped_classifier():
    cfg = from_dict(ClassifierConfig, OLD_CARD, "classifier")
    assert (cfg.arch, cfg.input_norm, cfg.label_smoothing, cfg.augment_copies) == ("conv1d", "none", 0.0, 0)
    shapes = {k: tuple(v.shape) for k, v in FrameClassifier(cfg).state_dict().items()}
    assert shapes == OLD_SHAPES


def test_an_old_model_directory_loads_unchanged_and_classifies_the_same(tmp_path: Path):
    model = tiny_model()
    model.save(tmp_path / "m")
    card_path = tmp_path / "m" / "model.json"
    card = json.loads(card_path.read_text())
    old_keys = {"n_frames", "n_features", "n_classes", "channels", "n_down", "kernel_size", "dropout"}
    card["classifier"] = {k: v for k, v in card["classifier"].items() if k in old_keys}  # as written before conv2d
    card_path.write_text(json.dumps(card))
    loaded = GesamModel.load(tmp_path / "m")
    assert loaded.classifier.config == model.classifier.config
    frames = np.random.default_rng(0).random((4, model.transformer.config.n_frames, 16), dtype=np.float32)
    np.testing.assert_array_equal(loaded.classify(frames), model.classify(frames))


def test_probabilities_sum_to_one_and_do_not_depend_on_the_batch():
    model = FrameClassifier(CFG)
    x = torch.rand(7, 37, 12)
    probs = model.probabilities(x)
    assert probs.shape == (7, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.probabilities(x, batch=2), probs, atol=1e-6)
    assert not model.training


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"n_classes": 1}, "n_classes"),
        ({"channels": 12}, "multiple of 8"),
        ({"kernel_size": 4}, "kernel_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"n_down": 7}, "n_down"),
        ({"n_frames": 0}, "n_frames"),
        ({"arch": "lstm"}, "arch must be one of conv1d, conv2d"),
        ({"arch": "conv2d", "n_down": 0}, "n_down must be >= 1 for arch conv2d"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"input_norm": "peak"}, "input_norm must be one of none, max"),
        ({"augment_copies": 65}, "augment_copies"),
        ({"augment_pitch_semitones": -1.0}, "augment_pitch_semitones"),
        ({"augment_tilt_db": 30.0}, "augment_tilt_db"),
        ({"augment_saturation": 2.0}, "augment_saturation"),
        ({"augment_room": -0.5}, "augment_room"),
    ],
)
def test_config_refuses_bad_values(bad, match):
    with pytest.raises(ConfigError, match=match):
        ClassifierConfig(**{"n_frames": 37, "n_features": 12, "n_classes": 3, **bad})


def test_band_pooling_reads_stft_bins_through_mel_spaced_bands_and_stores_no_extra_weight():
    cfg = ClassifierConfig(n_frames=37, n_features=513, n_classes=3, arch="conv2d", channels=16, n_down=2,
                           kernel_size=3, band_pool=32)
    clf = FrameClassifier(cfg).eval()
    assert clf.pool is not None and clf.pool.shape == (32, 513)
    torch.testing.assert_close(clf.pool.sum(dim=1), torch.ones(32))  # every band averages its bins
    low = int(clf.pool[0].nonzero().max())
    assert low < 8 and int(clf.pool[-1].nonzero().min()) > 256  # narrow bands low, wide ones high
    assert "pool" not in clf.state_dict()  # rebuilt from the config, never in classifier.safetensors
    x = torch.rand(2, 37, 513)
    assert clf(x).shape == (2, 3)
    # a change in the lowest bins (where a kick lives) reaches the body through the first band
    y = x.clone()
    y[:, :, : low + 1] += 0.5
    assert not torch.equal(clf(x), clf(y))
    plain = FrameClassifier(dataclasses.replace(cfg, band_pool=0))
    assert plain.pool is None and sum(p.numel() for p in plain.parameters()) > sum(p.numel() for p in clf.parameters())
    with pytest.raises(ConfigError, match="band_pool"):
        dataclasses.replace(cfg, band_pool=513)


def test_augmentation_keeps_shape_and_floor():
    x = torch.zeros(6, 20, 4)
    x[:, 0] = 0.8  # onset in the first frame, silence after
    torch.manual_seed(0)
    out = augment_frames(x, Augment(noise=0.0, level=0.1, shift=3, smooth=0.0))
    assert out.shape == x.shape and (out >= 0).all()
    assert (out[:, 4:] == 0).all()  # the floor stays the floor, and no onset is delayed more than 3 frames
    assert ((out > 0).sum(dim=(1, 2)) == 4).all()  # each onset delayed and scaled, never lost or duplicated
    assert (out[:, 0] == 0).all(dim=-1).any()  # some onset was delayed
    torch.testing.assert_close(augment_frames(x, Augment(0.0, 0.0, 0, 0.0)), x)
    noisy = augment_frames(torch.full((64, 20, 4), 0.5), Augment(noise=0.1, level=0.0, shift=0, smooth=0.0))
    assert 0.01 < float(noisy.std()) < 0.1


def test_stratified_split_holds_out_every_class_and_is_seeded():
    labels = np.repeat(np.arange(3), [10, 4, 2])
    train, hold = stratified_split(labels, 0.15, seed=1)
    assert np.intersect1d(train, hold).size == 0 and train.size + hold.size == labels.size
    assert sorted(np.bincount(labels[hold]).tolist()) == [1, 1, 2]
    assert set(labels[train]) == {0, 1, 2}
    again = stratified_split(labels, 0.15, seed=1)
    np.testing.assert_array_equal(hold, again[1])
    train, hold = stratified_split(np.array([0, 0, 0, 1]), 0.15, seed=0)  # class 1 has a single item
    assert hold.size == 0 and train.size == 4


def _separable(n_per: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes: energy in the low, middle or high bands, decaying from a random level."""
    gen = torch.Generator().manual_seed(0)
    frames = 0.05 * torch.rand(3 * n_per, 37, 12, generator=gen)
    decay = torch.exp(-torch.arange(37) / 8.0)[:, None]  # (T, 1)
    labels = torch.arange(3).repeat_interleave(n_per)
    for i, c in enumerate(labels.tolist()):
        frames[i, :, 4 * c : 4 * c + 4] += (0.5 + 0.3 * torch.rand(1, generator=gen)) * decay
    return frames, labels


def test_training_separates_classes_and_reports_json_ready_history():
    frames, labels = _separable()
    train = TrainConfig(classifier_epochs=15, batch_size=8, classifier_lr=3e-3)
    model, hist = train_classifier(frames, labels, 3, CFG, train, torch.device("cpu"), progress=False,
                                   class_names=["low", "mid", "high"])
    json.dumps(hist)
    assert hist["epochs"] == 15 and hist["n_holdout"] == 6 and hist["n_train"] == 30
    assert hist["train_accuracy"] >= 0.9 and hist["holdout_accuracy"] >= 0.8
    assert set(hist["per_class_accuracy"]) == {"low", "mid", "high"}
    assert hist["final"]["loss"] < hist["first"]["loss"]
    pred = model.probabilities(frames).argmax(-1)
    assert np.mean(pred == labels.numpy()) >= 0.9


def test_class_weights_are_inverse_to_counts():
    frames, labels = _separable()
    keep = torch.cat([torch.arange(0, 12), torch.arange(12, 16), torch.arange(24, 36)])  # 12 low, 4 mid, 12 high
    train = TrainConfig(classifier_epochs=1, batch_size=8)
    _, hist = train_classifier(frames[keep], labels[keep], 3, CFG, train, torch.device("cpu"), progress=False)
    assert hist["n_train"] == 23  # 15% held out per class: 2 low, 1 mid, 2 high
    w = hist["class_weights"]  # n_train / (n_classes * count) over the training split: counts 10, 3, 10
    assert [w["0"], w["1"], w["2"]] == pytest.approx([23 / 30, 23 / 9, 23 / 30], abs=1e-4)


def test_training_refuses_mismatched_inputs():
    frames, labels = _separable(4)
    train = TrainConfig(classifier_epochs=1)
    cpu = torch.device("cpu")
    with pytest.raises(ConfigError, match="3 classes"):
        train_classifier(frames, labels, 4, CFG, train, cpu, progress=False)
    with pytest.raises(ConfigError, match="expects frames"):
        train_classifier(frames[:, :30], labels, 3, CFG, train, cpu, progress=False)
    with pytest.raises(ConfigError, match="at least 2 classes"):
        train_classifier(frames, torch.zeros_like(labels), 3, CFG, train, cpu, progress=False)
    with pytest.raises(ConfigError, match="labels must be in"):
        train_classifier(frames, labels + 1, 3, CFG, train, cpu, progress=False)
