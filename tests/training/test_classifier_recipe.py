"""The classifier's training recipe: conv2d with label smoothing by default in `gesam train`,
waveform-augmented copies that still let it tell a kit apart, and a run with copies that
resumes exactly."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gesam_engine.codec import make_codec
from gesam_engine.data import build_corpus
from gesam_engine.data.labels import LabelConfig
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.errors import ConfigError
from gesam_engine.models import ClassifierConfig
from gesam_engine.models.classifier import TRAINING_DEFAULTS
from gesam_engine.training import TrainConfig, settings_from_dict
from gesam_engine.training.augment import WaveAugment, augmented_frames
from gesam_engine.training.classifier_trainer import train_classifier
from gesam_engine.training.train_state import LoopState

CPU = torch.device("cpu")
PRE = PreprocessConfig(duration_s=0.5)


def test_gesam_train_uses_the_recipe_and_a_toml_can_ask_for_the_old_classifier():
    resolved = settings_from_dict({}).to_dict()["classifier"]
    assert {k: resolved[k] for k in TRAINING_DEFAULTS} == TRAINING_DEFAULTS
    assert resolved["arch"] == "conv2d" and resolved["augment_copies"] == 0
    old = settings_from_dict({"classifier": {"arch": "conv1d", "n_down": 2, "kernel_size": 5, "label_smoothing": 0.0,
                                             "input_norm": "none"}})
    assert old.classifier_config(7) == ClassifierConfig(n_frames=old.vae.n_frames, n_features=old.vae.n_features,
                                                        n_classes=7)  # the first shipped classifier's settings
    with pytest.raises(ConfigError, match="augment_copies"):
        settings_from_dict({"classifier": {"augment_copies": -2}})


@pytest.fixture(scope="module")
def kit(synth_kit: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The synth kit's frames [N, T, 32], labels [N], two augmented copies [N, 2, T, 32], class names."""
    codec = make_codec({"sample_rate": PRE.sample_rate, "n_mels": 32})
    corpus = build_corpus([synth_kit], codec, PRE, LabelConfig(), None, progress=False)
    copies = augmented_frames(corpus.items, codec, PRE, WaveAugment(copies=2), seed=0, progress=False)
    return corpus.frames, corpus.label_ids(), copies, corpus.class_names


def _config(frames: np.ndarray, n_classes: int) -> ClassifierConfig:
    return ClassifierConfig(n_frames=frames.shape[1], n_features=frames.shape[2], n_classes=n_classes,
                            **{**TRAINING_DEFAULTS, "channels": 16, "n_down": 3})


@pytest.mark.slow
def test_training_with_augmented_copies_still_tells_the_kit_apart(kit):
    frames, labels, copies, names = kit
    cfg = _config(frames, len(names))
    train = TrainConfig(classifier_epochs=25, batch_size=8, classifier_lr=3e-3)
    model, hist = train_classifier(torch.from_numpy(frames), torch.from_numpy(labels), len(names), cfg, train, CPU,
                                   progress=False, class_names=names, copies=copies)
    json.dumps(hist)
    assert hist["augmented_copies"] == 2 and hist["n_train"] == 25
    assert hist["train_accuracy"] >= 0.9 and hist["holdout_accuracy"] >= 0.6  # chance is 0.2
    on_copies = model.probabilities(torch.from_numpy(copies[:, 0])).argmax(-1)
    assert np.mean(on_copies == labels) >= 0.8  # it learnt the copies too, not only the originals
    with pytest.raises(ConfigError, match="copies must be"):
        train_classifier(torch.from_numpy(frames), torch.from_numpy(labels), len(names), cfg, train, CPU,
                         progress=False, copies=copies[:-1])


@pytest.mark.slow
def test_a_run_with_copies_resumes_with_the_weights_of_one_that_never_stopped(kit):
    frames, labels, copies, names = kit
    cfg = _config(frames, len(names))
    train = TrainConfig(classifier_epochs=4, batch_size=8)
    args = (torch.from_numpy(frames), torch.from_numpy(labels), len(names), cfg, train, CPU)
    torch.manual_seed(0)
    whole, whole_hist = train_classifier(*args, progress=False, copies=copies)

    saved: list[LoopState] = []

    def stop_after_two(done: int, epochs: int, capture) -> None:
        if done == 2:
            tensors, meta = capture().to_parts()
            saved.append(LoopState.from_parts({k: v.clone() for k, v in tensors.items()}, json.loads(json.dumps(meta))))
            raise KeyboardInterrupt
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(*args, progress=False, copies=copies, on_epoch=stop_after_two)
    torch.manual_seed(99)  # whatever ran since: the state brings the generators back
    resumed, hist = train_classifier(*args, progress=False, copies=copies, resume=saved[0])
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resuming"
    assert hist["final"] == whole_hist["final"]
