"""The frame classifier: config checks, shapes, probabilities, augmentation, split and training."""

import json

import numpy as np
import pytest
import torch

from gesam_engine.errors import ConfigError
from gesam_engine.models import ClassifierConfig, FrameClassifier
from gesam_engine.training.classifier_trainer import Augment, augment_frames, stratified_split, train_classifier
from gesam_engine.training.settings import TrainConfig

CFG = ClassifierConfig(n_frames=37, n_features=12, n_classes=3, channels=16, n_down=2)


def test_shapes_and_default_size():
    model = FrameClassifier(CFG)
    assert model(torch.rand(5, 37, 12)).shape == (5, 3)
    assert model(torch.rand(1, 3, 12)).shape == (1, 3)  # any length pools to one vector
    default = FrameClassifier(ClassifierConfig(n_frames=259, n_features=128, n_classes=6))
    assert sum(p.numel() for p in default.parameters()) < 200_000  # well under 1 M


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
    ],
)
def test_config_refuses_bad_values(bad, match):
    with pytest.raises(ConfigError, match=match):
        ClassifierConfig(**{"n_frames": 37, "n_features": 12, "n_classes": 3, **bad})


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
