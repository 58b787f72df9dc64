"""Everything ``gesam train`` can be told, as one TOML file with a section per part.

Sections: [preprocess], [labels], [codec], [vae], [transformer], [classifier], [train].
Unknown sections and keys are refused. Frame counts and feature sizes are derived from the
codec and the sample length, the classifier's class count from the corpus; never set by hand.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from gesam_engine.codec import Codec, make_codec
from gesam_engine.config import check, from_dict, read_toml, to_dict
from gesam_engine.data.labels import LabelConfig, load_label_config
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.errors import ConfigError
from gesam_engine.models import ClassifierConfig, TransformerConfig, VAEConfig
from gesam_engine.models.classifier import TRAINING_DEFAULTS as CLASSIFIER_TRAINING_DEFAULTS
from gesam_engine.models.transformer import TRAINING_DEFAULTS as TRANSFORMER_TRAINING_DEFAULTS

SECTIONS = ("preprocess", "labels", "codec", "vae", "transformer", "classifier", "train")
DERIVED = ("n_frames", "n_features")
# the classifier's keys that follow from the codec and the corpus, never from [classifier]
CLASSIFIER_DERIVED = (*DERIVED, "n_classes", "sample_rate")
# [train] keys that change how a run is carried out, never what it learns: a resumed run may change them.
RUN_KEYS = ("threads", "checkpoint_minutes", "workers")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for every stage; GESAM's regulariser weights live here too."""

    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch threads; 0 = one on CPU (two were 16-65x slower than one beside other work)
    checkpoint_minutes: float = 5.0  # a resumable checkpoint this often (and at each stage's end); 0 = every epoch
    workers: int = 0  # processes that encode the corpus (data/encode_pool.py); 0 = one per core but one, 1 = in-process
    batch_size: int = 32
    vae_epochs: int = 200
    vae_lr: float = 1e-3
    kl_weight: float = 1e-3
    spatial_weight: float = 1.0
    repulsion_weight: float = 0.3
    repulsion_sigma: float = 0.1
    warmup_epochs: int = 50
    transformer_epochs: int = 200
    transformer_lr: float = 5e-4
    transformer_loss: str = "l1"  # "l1" (per-bin median of a point's neighbours) or "mse" (their mean, GESAM's)
    weight_decay: float = 0.01
    input_noise: float = 0.03
    cond_noise: float = 0.12  # about the VAE's own posterior spread: the generator learns what lies between points
    grad_clip: float = 1.0
    classifier_epochs: int = 60
    classifier_lr: float = 1e-3

    def __post_init__(self) -> None:
        check(self.seed >= 0, f"train.seed must be >= 0, got {self.seed}")
        check(0 <= self.threads <= 1024,
              f"train.threads must be in 0..1024 (0 = one thread on CPU, torch's default on a GPU), got {self.threads}")
        check(0 <= self.workers <= 256,
              f"train.workers must be in 0..256 (0 = one per core but one, 1 = encode in this process), got {self.workers}")
        check(0 <= self.checkpoint_minutes <= 10_000,
              f"train.checkpoint_minutes must be in 0..10000 (0 = after every epoch), got {self.checkpoint_minutes}")
        for name in ("vae_epochs", "transformer_epochs", "classifier_epochs", "warmup_epochs"):
            check(getattr(self, name) <= 1_000_000, f"train.{name} must be at most 1000000, got {getattr(self, name)}")
        check(1 <= self.batch_size <= 4096, f"train.batch_size must be in 1..4096, got {self.batch_size}")
        check(self.vae_epochs >= 1 and self.transformer_epochs >= 1, "train.vae_epochs and transformer_epochs must be >= 1")
        check(self.classifier_epochs >= 1, f"train.classifier_epochs must be >= 1, got {self.classifier_epochs}")
        check(0 < self.vae_lr < 1 and 0 < self.transformer_lr < 1 and 0 < self.classifier_lr < 1,
              "train learning rates (vae_lr, transformer_lr, classifier_lr) must be in (0, 1)")
        for name in ("kl_weight", "spatial_weight", "repulsion_weight", "weight_decay", "input_noise", "cond_noise", "grad_clip"):
            check(getattr(self, name) >= 0, f"train.{name} must be >= 0, got {getattr(self, name)}")
        check(self.transformer_loss in ("l1", "mse"),
              f"train.transformer_loss must be 'l1' or 'mse', got {self.transformer_loss!r}")
        check(self.repulsion_sigma > 0, f"train.repulsion_sigma must be > 0, got {self.repulsion_sigma}")
        check(self.warmup_epochs >= 0, f"train.warmup_epochs must be >= 0, got {self.warmup_epochs}")


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """The resolved configuration of a training run; written into model.json."""

    preprocess: PreprocessConfig
    labels: LabelConfig
    codec: dict[str, Any]
    vae: VAEConfig
    transformer: TransformerConfig
    train: TrainConfig
    classifier: dict[str, Any] = dataclasses.field(default_factory=dict)  # ClassifierConfig less its derived keys

    def make_codec(self) -> Codec:
        """The codec these settings describe."""
        return make_codec(self.codec)

    def classifier_config(self, n_classes: int) -> ClassifierConfig:
        """The classifier's architecture for a corpus with ``n_classes`` classes (frame shape from the codec)."""
        return from_dict(ClassifierConfig, {**self.classifier, "n_frames": self.transformer.n_frames,
                                            "n_features": self.transformer.n_features, "n_classes": n_classes,
                                            "sample_rate": self.preprocess.sample_rate}, "classifier")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, every section resolved."""
        return {
            "preprocess": to_dict(self.preprocess),
            "labels": to_dict(self.labels),
            "codec": dict(self.codec),
            "vae": to_dict(self.vae),
            "transformer": to_dict(self.transformer),
            "classifier": dict(self.classifier),
            "train": to_dict(self.train),
        }

    def result_dict(self) -> dict[str, Any]:
        """``to_dict`` less the [train] keys that do not change what is learnt (``RUN_KEYS``):
        what a resumed run must share with the run it continues."""
        data = self.to_dict()
        data["train"] = {k: v for k, v in data["train"].items() if k not in RUN_KEYS}
        return data


def _arch(cls: type, data: Mapping[str, Any] | None, section: str, n_frames: int, n_features: int,
          defaults: Mapping[str, Any] | None = None) -> Any:
    """The [section] architecture with the codec's frame shape; keys it leaves out take ``defaults``
    (the training recipe), then the dataclass defaults."""
    data = {**dict(defaults or {}), **dict(data or {})}
    given = sorted(set(data) & set(DERIVED))
    if given:
        raise ConfigError(f"[{section}] must not set {given}: they follow from the codec and preprocess.duration_s")
    data.update(n_frames=n_frames, n_features=n_features)
    return from_dict(cls, data, section)


def _classifier(data: Mapping[str, Any] | None, n_frames: int, n_features: int) -> dict[str, Any]:
    """The [classifier] section resolved and checked, less the keys known only at training time.
    Keys it leaves out take ``TRAINING_DEFAULTS`` (today's recipe), then the dataclass defaults."""
    data = dict(data or {})
    given = sorted(set(data) & set(CLASSIFIER_DERIVED))
    if given:
        raise ConfigError(
            f"[classifier] must not set {given}: they follow from the codec, preprocess.duration_s and the corpus's classes"
        )
    data = {**CLASSIFIER_TRAINING_DEFAULTS, **data}
    probe = from_dict(ClassifierConfig, {**data, "n_frames": n_frames, "n_features": n_features, "n_classes": 2}, "classifier")
    return {k: v for k, v in to_dict(probe).items() if k not in CLASSIFIER_DERIVED}


def settings_from_dict(data: Mapping[str, Any] | None) -> TrainSettings:
    """Resolve a settings mapping (as read from TOML); unknown sections/keys raise ConfigError."""
    data = dict(data or {})
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section(s) {unknown}; valid sections are {list(SECTIONS)}")
    preprocess = from_dict(PreprocessConfig, data.get("preprocess"), "preprocess")
    codec_cfg = {"sample_rate": preprocess.sample_rate, **dict(data.get("codec") or {})}
    codec = make_codec(codec_cfg)
    if codec.sample_rate != preprocess.sample_rate:
        raise ConfigError(
            f"codec.sample_rate ({codec.sample_rate}) differs from preprocess.sample_rate ({preprocess.sample_rate})"
        )
    n_samples = round(preprocess.duration_s * preprocess.sample_rate)
    n_frames, n_features = codec.n_frames(n_samples), codec.n_features
    return TrainSettings(
        preprocess=preprocess,
        labels=load_label_config(data.get("labels")),
        codec=codec.to_config(),
        vae=_arch(VAEConfig, data.get("vae"), "vae", n_frames, n_features),
        transformer=_arch(TransformerConfig, data.get("transformer"), "transformer", n_frames, n_features,
                          TRANSFORMER_TRAINING_DEFAULTS),
        train=from_dict(TrainConfig, data.get("train"), "train"),
        classifier=_classifier(data.get("classifier"), n_frames, n_features),
    )


def load_settings(path: Path | None, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> TrainSettings:
    """Read a TOML settings file (or the defaults) and apply per-section ``overrides`` from the CLI."""
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    for section, values in (overrides or {}).items():
        data[section] = {**dict(data.get(section) or {}), **values}
    return settings_from_dict(data)
