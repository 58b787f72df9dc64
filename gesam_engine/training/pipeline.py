"""``gesam train`` end to end: sample folders -> corpus -> VAE map -> transformer -> classifier -> model directory,
with a resumable checkpoint beside the output along the way.

Across processes (torchrun; ``dist``): rank 0 checks the output, reads the checkpoint and hands it
to the others; it builds the corpus first (filling the feature cache) and the others then read it
from the cache; every rank trains each stage under DDP; rank 0 computes the map points and hands
them on, and alone writes checkpoints, the model and map/points.json."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
import torch

from gesam_engine import __version__
from gesam_engine.checkpoint import check_output, load_state
from gesam_engine.coordinates import MapExtent
from gesam_engine.codec import Codec
from gesam_engine.data import Corpus, build_corpus
from gesam_engine.gesam_model import GesamModel, resolve_device
from gesam_engine.config import to_dict
from gesam_engine.distributed import SINGLE, Dist
from gesam_engine.models import FrameClassifier, MapTransformer, MapVAE
from gesam_engine.training import ddp
from gesam_engine.training.augment import WaveAugment, augmented_frames
from gesam_engine.training.classifier_trainer import train_classifier
from gesam_engine.training.corpus_record import corpus_record
from gesam_engine.training.loop import EpochHook
from gesam_engine.training.resume import STAGE_NAMES, Checkpointer, Resumed, StopRequest
from gesam_engine.training.settings import TrainSettings
from gesam_engine.training.train_state import LoopState
from gesam_engine.training.transformer_trainer import train_transformer
from gesam_engine.training.vae_trainer import encode_all, train_vae

UNLABELLED_COLOR = "#9e9e9e"
T = TypeVar("T")


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
    corpus: Corpus,
    frames: torch.Tensor,
    settings: TrainSettings,
    device: torch.device,
    progress: bool | None,
    resume: LoopState | None,
    on_epoch: EpochHook | None,
    codec: Codec,
    cache_dir: Path | None,
    dist: Dist = SINGLE,
) -> tuple[FrameClassifier | None, dict[str, Any]]:
    """Stage 3 when the corpus has items of at least two classes; else (None, why there is none).
    Waveform-augmented copies (``augment_copies``) are made first, cached beside the frames."""
    labels = corpus.label_ids()
    n_present = int(np.count_nonzero(np.bincount(labels, minlength=len(corpus.class_names))))
    if n_present < 2:
        return None, {"skipped": f"no classifier: the corpus has only {n_present} class "
                                 f"({', '.join(sorted({it.label for it in corpus.items}))}); it needs at least 2"}
    cfg = settings.classifier_config(len(corpus.class_names))
    copies = None
    if cfg.augment_copies:
        copies = _cached(dist, cache_dir, lambda: augmented_frames(
            corpus.items, codec, settings.preprocess, WaveAugment.of(cfg), settings.train.seed, cache_dir,
            progress))  # (N, K, T, D)
    classifier, history = train_classifier(
        frames, torch.from_numpy(labels), len(corpus.class_names), cfg, settings.train, device, progress,
        class_names=corpus.class_names, copies=copies, resume=resume, on_epoch=on_epoch, dist=dist,
    )
    return classifier.cpu(), history


def _cached(dist: Dist, cache_dir: Path | None, build: Callable[[], T]) -> T:
    """``build()`` on every rank; with a cache, rank 0's first so the others read what it cached
    instead of encoding the same files at the same time (without one each rank builds at once)."""
    return build() if cache_dir is None else ddp.rank0_first(dist, build)


def _restored(module: torch.nn.Module, weights: dict[str, torch.Tensor], stage: str, ckpt: Checkpointer) -> Any:
    """A finished stage's module with its weights from the checkpoint (eval mode)."""
    load_state(module, weights, ckpt.folder / f"checkpoint ({stage} weights)")
    ckpt.say(f"{STAGE_NAMES[stage]}: finished before the interruption, weights from the checkpoint")
    return module.eval()


def train_model(
    roots: Sequence[Path],
    settings: TrainSettings,
    output: Path,
    cache_dir: Path | None = None,
    force: bool = False,
    progress: bool | None = True,
    *,
    resume: bool = False,
    stop: StopRequest | None = None,
    dist: Dist | None = None,
) -> tuple[GesamModel, dict[str, Any]]:
    """Train every stage on the audio under ``roots`` and write the model directory ``output``.

    The classifier (stage 3) is trained only when the corpus holds at least two classes; the
    report's ``classifier`` entry then holds its history, else ``{"skipped": reason}``. The output
    is checked before any work (``checkpoint.check_output``): ``force`` replaces only a model
    directory or an empty folder, and no sample folder in ``roots`` is ever replaced.

    A checkpoint goes to ``<output>.partial/`` every ``train.checkpoint_minutes`` and at each
    stage's end (see ``resume``); ``resume`` continues from it (same settings and corpus, or a
    CheckpointError saying what differs) and ends with the weights an uninterrupted run would
    have; ``stop`` ends the run at an epoch's end with ``TrainingStopped``. Torch runs on
    ``train.threads`` threads (0: one on CPU) and the previous count is restored at the end.
    ``progress`` None shows bars only on a terminal.

    ``dist`` (``distributed.from_env`` under torchrun): train across its processes, each on its
    ``dist.device``, with ``train.batch_size`` as the global batch (see the module docstring); only
    rank 0 shows progress and writes. Every rank returns the same model; rank 0's report is the one."""
    train = settings.train
    dist = dist or SINGLE
    device = dist.device if dist.active else resolve_device(train.device)
    if not dist.is_main:
        progress = False
    ckpt = Checkpointer(output, train.checkpoint_minutes * 60, stop, progress, dist=dist)

    def prepare() -> Resumed | None:
        ddp.check_batch(train.batch_size, dist)
        if resume:  # reading the checkpoint first: "nothing to resume" says more than "the output exists"
            found = ckpt.prepare(resume, force, settings.result_dict(), device)
            check_output(output, force, roots)
            return found
        check_output(output, force, roots)
        return ckpt.prepare(resume, force, settings.result_dict(), device)

    resumed = ddp.from_rank0(dist, prepare)
    previous = torch.get_num_threads()
    threads = train.threads or (1 if device.type == "cpu" else previous)
    torch.set_num_threads(threads)
    try:
        return _train(roots, settings, output, cache_dir, force, progress, device, threads, ckpt, resumed, dist)
    finally:
        ckpt.release()
        torch.set_num_threads(previous)


def _train(
    roots: Sequence[Path],
    settings: TrainSettings,
    output: Path,
    cache_dir: Path | None,
    force: bool,
    progress: bool | None,
    device: torch.device,
    threads: int,
    ckpt: Checkpointer,
    resumed: Resumed | None,
    dist: Dist,
) -> tuple[GesamModel, dict[str, Any]]:
    """``train_model`` once the output, the checkpoint and the threads are settled."""
    train = settings.train
    codec = settings.make_codec()
    # build_corpus takes a plain bool: None (bars only on a terminal) has always meant no scan bar there
    corpus = _cached(dist, cache_dir, lambda: build_corpus(roots, codec, settings.preprocess, settings.labels,
                                                            cache_dir, progress=bool(progress),
                                                            workers=settings.train.workers or None))
    record = corpus_record(roots, corpus)
    ddp.check_same(dist, f"{record['sha256']}:{len(corpus.items)}", "the corpus")
    done: dict[str, dict[str, Any]] = {}
    weights: dict[str, dict[str, torch.Tensor]] = {}
    current: tuple[str, LoopState] | None = None
    if resumed is not None:
        ddp.from_rank0(dist, lambda: ckpt.check_corpus(record))
        done, weights, current = resumed.done, resumed.weights, resumed.current
        ckpt.say(f"resuming after {resumed.where} (from {ckpt.folder})")
    ckpt.begin(settings.result_dict(), record, device)

    def state(stage: str) -> LoopState | None:
        return current[1] if current is not None and current[0] == stage else None

    frames = torch.from_numpy(corpus.frames)
    if "vae" in done:
        vae, vae_hist = _restored(MapVAE(settings.vae).to(device), weights.get("vae", {}), "vae", ckpt), done["vae"]
    else:
        vae, vae_hist = train_vae(frames, settings.vae, train, device, progress, resume=state("vae"),
                                  on_epoch=ckpt.hook("vae"), dist=dist)
        ckpt.finish_stage("vae", vae, vae_hist)
    latent = ddp.from_rank0(dist, lambda: encode_all(vae, frames, device))  # (N, 2): the same points on every rank
    if "transformer" in done:
        transformer = _restored(MapTransformer(settings.transformer).to(device), weights.get("transformer", {}),
                                "transformer", ckpt)
        tf_hist = done["transformer"]
    else:
        transformer, tf_hist = train_transformer(frames, latent, settings.transformer, train, device, progress,
                                                 resume=state("transformer"), on_epoch=ckpt.hook("transformer"),
                                                 vae=vae.eval(), dist=dist)
        ckpt.finish_stage("transformer", transformer, tf_hist)
    classifier: FrameClassifier | None
    if "classifier" in done:
        clf_hist = done["classifier"]
        classifier = None if "skipped" in clf_hist else _restored(
            FrameClassifier(settings.classifier_config(len(corpus.class_names))), weights.get("classifier", {}),
            "classifier", ckpt)
    else:
        classifier, clf_hist = _train_classifier(corpus, frames, settings, device, progress, state("classifier"),
                                                 ckpt.hook("classifier"), codec, cache_dir, dist)
        if classifier is None:
            ckpt.skip_stage("classifier", clf_hist)
        else:
            ckpt.finish_stage("classifier", classifier, clf_hist)
    ckpt.release()
    extent = MapExtent.around(latent.numpy())
    n_samples = round(settings.preprocess.duration_s * settings.preprocess.sample_rate)
    training: dict[str, Any] = {
        "corpus": {**corpus.summary(), "folders": record["folders"], "sha256": record["sha256"], "files": record["files"]},
        "vae": vae_hist,
        "transformer": tf_hist,
        "classifier": clf_hist,
        "device": str(device),
        "hardware": _hardware(device),
        "threads": threads,
        "processes": dist.world,
        "torch": torch.__version__,
        "seconds": round(ckpt.seconds(), 2),
        "seed": train.seed,
    }
    if resumed is not None:
        training["resumed_after"] = resumed.where
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
                       classifier=classifier.cpu() if classifier is not None else None)
    points = extent.to_normalised(latent.numpy())
    if dist.is_main:
        model.save(output, extra_files={"map/points.json": _points_file(corpus, points)}, force=force, data_roots=roots)
        ckpt.clear()
    report = {"output": str(output), "skipped": corpus.skipped, "checkpoint_ms": ckpt.write_ms,
              "checkpoint_folder": str(ckpt.folder), **training}
    return model, report
