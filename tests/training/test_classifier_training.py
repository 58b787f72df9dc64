"""``gesam train`` with its classifier stage: settings, the synth kit end to end, one-class corpora."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gesam_engine.data import build_corpus
from gesam_engine.errors import ConfigError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.training import TrainConfig, load_settings, settings_from_dict, train_model
from gesam_engine.training.classifier_trainer import HOLDOUT_SHARE, stratified_split

TINY = Path(__file__).parents[1] / "tiny_config.toml"


def test_classifier_section_is_resolved_and_its_derived_keys_refused():
    s = settings_from_dict({"classifier": {"channels": 32}})
    assert s.to_dict()["classifier"] == {
        "arch": "conv2d", "band_pool": 0, "input_norm": "max", "channels": 32, "n_down": 4, "kernel_size": 3, "dropout": 0.2,
        "label_smoothing": 0.1, "augment_copies": 0, "augment_pitch_semitones": 2.0, "augment_tilt_db": 6.0,
        "augment_saturation": 0.3, "augment_room": 0.3,
    }  # the keys it leaves out: TRAINING_DEFAULTS, then the dataclass's
    cfg = s.classifier_config(5)
    assert (cfg.n_frames, cfg.n_features, cfg.n_classes, cfg.channels) == (s.vae.n_frames, s.vae.n_features, 5, 32)
    assert settings_from_dict({}).classifier_config(2).channels == 64
    for key in ("n_classes", "n_frames", "n_features", "sample_rate"):
        with pytest.raises(ConfigError, match=f"must not set \\['{key}'\\]"):
            settings_from_dict({"classifier": {key: 3}})
    with pytest.raises(ConfigError, match="multiple of 8"):
        settings_from_dict({"classifier": {"channels": 20}})
    with pytest.raises(ConfigError, match="unknown key"):
        settings_from_dict({"classifier": {"layers": 3}})


def test_classifier_training_settings_are_checked():
    assert (TrainConfig().classifier_epochs, TrainConfig().classifier_lr) == (60, 1e-3)
    with pytest.raises(ConfigError, match="classifier_epochs"):
        TrainConfig(classifier_epochs=0)
    with pytest.raises(ConfigError, match="classifier_lr"):
        TrainConfig(classifier_lr=0.0)


@pytest.fixture(scope="module")
def trained(synth_kit: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("clf")
    settings = load_settings(TINY)
    model, report = train_model([synth_kit], settings, out / "model", cache_dir=out / "cache", progress=False)
    return model, report, settings, out


@pytest.mark.slow
def test_training_writes_a_classifier_that_tells_the_kit_apart(trained, synth_kit):
    model, report, settings, out = trained
    directory = out / "model"
    card = json.loads((directory / "model.json").read_text())
    assert "classifier.safetensors" in card["files"] and (directory / "classifier.safetensors").is_file()
    assert card["classifier"]["n_classes"] == len(card["classes"]) == 5
    hist = card["training"]["classifier"]
    assert hist == report["classifier"] and hist["epochs"] == 20
    assert hist["n_train"] == 25 and hist["n_holdout"] == 5
    assert hist["train_accuracy"] > 0.6 and hist["holdout_accuracy"] >= 0.6  # chance is 0.2
    assert set(hist["per_class_accuracy"]) == {"kick", "snare", "hihat", "tom", "clap"}

    loaded = GesamModel.load(directory)
    corpus = build_corpus([synth_kit], settings.make_codec(), settings.preprocess, settings.labels, out / "cache",
                          progress=False)
    labels = corpus.label_ids()
    pred = loaded.classify(corpus.frames).argmax(axis=1)
    assert [c["name"] for c in loaded.classes] == corpus.class_names
    assert np.mean(pred == labels) > 0.9  # 1.0 for seeds 0..2; a broken classifier sits near 0.2
    train_idx, hold_idx = stratified_split(labels, HOLDOUT_SHARE, settings.train.seed)
    assert np.mean(pred[hold_idx] == labels[hold_idx]) == pytest.approx(hist["holdout_accuracy"], abs=1e-4)
    np.testing.assert_array_equal(model.classify(corpus.frames), loaded.classify(corpus.frames))
    assert "holdout accuracy" in loaded.summary()


@pytest.mark.slow
def test_one_class_corpus_trains_without_a_classifier_and_says_so(synth_kit, tmp_path):
    kicks = tmp_path / "kit"
    shutil.copytree(synth_kit / "kicks", kicks / "kicks")
    settings = load_settings(TINY)
    model, report = train_model([kicks], settings, tmp_path / "model", cache_dir=tmp_path / "cache", progress=False)
    assert model.classifier is None
    assert "only 1 class (kick)" in report["classifier"]["skipped"]
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert "classifier" not in card and "classifier.safetensors" not in card["files"]
    assert card["training"]["classifier"] == report["classifier"]
    loaded = GesamModel.load(tmp_path / "model")
    with pytest.raises(GesamError, match="no classifier"):
        loaded.classify(torch.zeros(1, loaded.transformer.config.n_frames, loaded.codec.n_features))
