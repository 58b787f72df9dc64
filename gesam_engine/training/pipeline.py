"""``gesam train`` end to end: sample folders -> corpus -> VAE map -> transformer -> classifier -> model directory."""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from gesam_engine import __version__
from gesam_engine.checkpoint import check_output
from gesam_engine.coordinates import MapExtent
from gesam_engine.data import Corpus, build_corpus
from gesam_engine.gesam_model import GesamModel, resolve_device
from gesam_engine.config import to_dict
from gesam_engine.models import FrameClassifier
from gesam_engine.training.classifier_trainer import train_classifier
from gesam_engine.training.settings import TrainSettings
from gesam_engine.training.transformer_trainer import train_transformer
from gesam_engine.training.vae_trainer import encode_all, train_vae

UNLABELLED_COLOR = "#9e9e9e"


def default_cache_dir() -> Path:
    """``$GESAM_CACHE`` or ``$XDG_CACHE_HOME/gesam`` (``~/.cache/gesam``): decoded features live here."""
    if os.environ.get("GESAM_CACHE"):
        return Path(os.environ["GESAM_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gesam"


def _classes(corpus: Corpus, settings: TrainSettings) -> list[dict[str, str]]:
    colors = settings.labels.colors
    return [{"name": n, "color": colors.get(n, UNLABELLED_COLOR)} for n in corpus.class_names]


def _points_file(corpus: Corpus, points: np.ndarray) -> bytes:
    labels = corpus.label_ids()
    doc = {
        "points": np.round(points, 6).tolist(),
        "labels": [corpus.class_names[i] for i in labels],
        "files": [f"{Path(it.root).name}/{os.path.relpath(it.path, it.root)}" for it in corpus.items],
    }
    return json.dumps(doc).encode()


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def _train_classifier(
    corpus: Corpus, frames: torch.Tensor, settings: TrainSettings, device: torch.device, progress: bool
) -> tuple[FrameClassifier | None, dict[str, Any]]:
    """Stage 3 when the corpus has items of at least two classes; else (None, why there is none)."""
    labels = corpus.label_ids()
    n_present = int(np.count_nonzero(np.bincount(labels, minlength=len(corpus.class_names))))
    if n_present < 2:
        return None, {"skipped": f"no classifier: the corpus has only {n_present} class "
                                 f"({', '.join(sorted({it.label for it in corpus.items}))}); it needs at least 2"}
    cfg = settings.classifier_config(len(corpus.class_names))
    classifier, history = train_classifier(
        frames, torch.from_numpy(labels), len(corpus.class_names), cfg, settings.train, device, progress,
        class_names=corpus.class_names,
    )
    return classifier.cpu(), history


def train_model(
    roots: Sequence[Path],
    settings: TrainSettings,
    output: Path,
    cache_dir: Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> tuple[GesamModel, dict[str, Any]]:
    """Train every stage on the audio under ``roots`` and write the model directory ``output``.

    The classifier (stage 3) is trained only when the corpus holds at least two classes; the
    report's ``classifier`` entry then holds its history, else ``{"skipped": reason}``. The output
    is checked before any work (``checkpoint.check_output``): ``force`` replaces only a model
    directory or an empty folder, and no sample folder in ``roots`` is ever replaced."""
    check_output(output, force, roots)
    started = time.perf_counter()
    train = settings.train
    if train.threads:
        torch.set_num_threads(train.threads)
    device = resolve_device(train.device)
    codec = settings.make_codec()
    corpus = build_corpus(roots, codec, settings.preprocess, settings.labels, cache_dir, progress=progress)
    frames = torch.from_numpy(corpus.frames)
    vae, vae_hist = train_vae(frames, settings.vae, train, device, progress)
    latent = encode_all(vae, frames, device)  # (N, 2)
    transformer, tf_hist = train_transformer(frames, latent, settings.transformer, train, device, progress)
    classifier, clf_hist = _train_classifier(corpus, frames, settings, device, progress)
    extent = MapExtent.around(latent.numpy())
    n_samples = round(settings.preprocess.duration_s * settings.preprocess.sample_rate)
    training = {
        "corpus": corpus.summary(),
        "vae": vae_hist,
        "transformer": tf_hist,
        "classifier": clf_hist,
        "device": str(device),
        "hardware": _hardware(device),
        "torch": torch.__version__,
        "seconds": round(time.perf_counter() - started, 2),
        "seed": train.seed,
    }
    card = {
        "gesam_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings.to_dict(),
        "training": training,
        "evaluation": {},
        "map": {"points_file": "map/points.json"},
    }
    if classifier is not None:
        card["classifier"] = to_dict(classifier.config)
    model = GesamModel(codec, vae.cpu(), transformer.cpu(), extent, n_samples, _classes(corpus, settings), card,
                       classifier=classifier)
    points = extent.to_normalised(latent.numpy())
    model.save(output, extra_files={"map/points.json": _points_file(corpus, points)}, force=force, data_roots=roots)
    report = {"output": str(output), "skipped": corpus.skipped, **training}
    return model, report
