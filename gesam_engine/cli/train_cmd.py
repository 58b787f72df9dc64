"""``gesam train``: sample folders -> a model directory, in three stages (VAE map, transformer, classifier).

A run keeps a checkpoint in ``<output>.partial/``; Ctrl-C (or SIGTERM) stops it at the end of the
current epoch after a checkpoint, and ``--resume`` continues it. A second Ctrl-C stops at once.

``--nproc N`` runs the same command in N processes under torchrun (DistributedDataParallel: gloo
on CPU, one GPU each with CUDA); started by torchrun directly (several GPUs or nodes) it finds its
rank in the environment. Rank 0 prints and writes; see ``training.pipeline``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator


def add_train_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam train``."""
    p.add_argument("--data", nargs="+", required=True, type=Path, metavar="DIR", help="folders of samples (searched recursively)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                   help="model directory to write (a new folder outside every --data folder)")
    p.add_argument("--config", type=Path, metavar="TOML",
                   help="settings file ([preprocess] [labels] [codec] [vae] [transformer] [train])")
    p.add_argument("--epochs", type=int, metavar="N",
                   help="epochs for all three stages: VAE, transformer and classifier (overrides the config)")
    p.add_argument("--vae-epochs", type=int, metavar="N", help="epochs for stage 1, the VAE map (overrides --epochs)")
    p.add_argument("--transformer-epochs", type=int, metavar="N", help="epochs for stage 2, the transformer (overrides --epochs)")
    p.add_argument("--classifier-epochs", type=int, metavar="N",
                   help="epochs for stage 3, the classifier (overrides --epochs; trained with 2+ classes)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--cache", type=Path, metavar="DIR", help="feature cache (default $GESAM_CACHE or ~/.cache/gesam)")
    p.add_argument("--no-cache", action="store_true", help="decode every file, keep nothing")
    p.add_argument("--force", action="store_true",
                   help="replace an existing model directory (one with model.json) or an empty folder "
                        "(any other folder is refused); without --resume, also delete an interrupted run's checkpoint "
                        "(OUTPUT.partial) and start over")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run whose checkpoint is in OUTPUT.partial (same --data and settings)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch threads (default [train] threads, else 1 on CPU: more are often slower beside other work)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes that scan and encode the corpus (default [train] workers: one per core but one; "
                        "1 = in this process)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train in N processes on this machine under torchrun (DistributedDataParallel: gloo on CPU, "
                        "one GPU each with CUDA); [train] batch_size stays the global batch (default 1)")
    p.add_argument("--checkpoint-minutes", type=float, metavar="M",
                   help="write a resumable checkpoint this often (default 5; 0 = after every epoch) and at each stage's end")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no checkpoint lines")
    shown.add_argument("--progress", action="store_true",
                       help="progress bars even when stderr is not a terminal (by default only on a terminal)")


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    train: dict[str, object] = {}
    if args.epochs is not None:
        train.update(vae_epochs=args.epochs, transformer_epochs=args.epochs, classifier_epochs=args.epochs)
    for key in ("vae_epochs", "transformer_epochs", "classifier_epochs", "seed", "device", "threads", "workers",
                "checkpoint_minutes"):
        value = getattr(args, key)
        if value is not None:
            train[key] = value
    return {"train": train} if train else {}


@contextlib.contextmanager
def _stop_on_signals(stop: Any, say: bool = True) -> Iterator[None]:
    """SIGINT/SIGTERM ask ``stop`` (a resume.StopRequest) to end training after this epoch's checkpoint;
    a second signal, or one while no stage is training, stops at once (KeyboardInterrupt). ``say``:
    print that it will (one rank of several says it for all)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}

    def handle(signum: int, frame: object) -> None:
        if stop.reason is not None or not stop.request(names.get(signum, str(signum))):
            raise KeyboardInterrupt
        if say:
            print(f"\n{stop.reason}: stopping at the end of this epoch after a checkpoint "
                  "(again to stop at once and lose the epochs since the last checkpoint)", file=sys.stderr, flush=True)

    previous = {s: signal.signal(s, handle) for s in names}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _check_before_launch(args: argparse.Namespace) -> None:
    """What can be refused before torchrun starts (a clear error and exit 2, not a failed rank's):
    the settings, a global batch too small for the processes, an output folder that may not be written."""
    from gesam_engine.checkpoint import check_output
    from gesam_engine.distributed import Dist, check_gpus
    from gesam_engine.gesam_model import resolve_device
    from gesam_engine.training import load_settings
    from gesam_engine.training.ddp import check_batch

    settings = load_settings(args.config, _overrides(args))
    check_batch(settings.train.batch_size, Dist(world=args.nproc))
    check_gpus(args.nproc, resolve_device(settings.train.device))
    if not args.resume:  # with --resume rank 0 first says whether there is anything to resume
        check_output(args.output, args.force, args.data)


def run_train(args: argparse.Namespace) -> int:
    """Train and print a summary: files used and skipped, classes, times, where the model went.

    The output folder is checked before any work (train_model): see ``checkpoint.check_output``.
    A stop by signal prints where the checkpoint is and exits 130."""
    from gesam_engine.distributed import check_nproc, from_env, launch, shutdown, under_torchrun, without_nproc

    if check_nproc(args.nproc) > 1 and not under_torchrun():
        _check_before_launch(args)
        return launch(args.nproc, without_nproc(args.argv))
    from gesam_engine.data import format_skip_report
    from gesam_engine.gesam_model import resolve_device
    from gesam_engine.model_paths import default_cache_dir
    from gesam_engine.training import load_settings, train_model
    from gesam_engine.distributed import PeerFailed
    from gesam_engine.training.resume import StopRequest, TrainingStopped

    settings = load_settings(args.config, _overrides(args))
    cache = None if args.no_cache else (args.cache or default_cache_dir())
    progress = False if args.quiet else (True if args.progress else None)
    stop = StopRequest()
    dist = from_env(resolve_device(settings.train.device))
    try:
        with _stop_on_signals(stop, say=dist.is_main):
            _, report = train_model(args.data, settings, args.output, cache, force=args.force, progress=progress,
                                    resume=args.resume, stop=stop, dist=dist)
    except TrainingStopped as exc:
        if dist.is_main:
            print(f"gesam train: {exc}", file=sys.stderr)
        return 130
    except PeerFailed:
        return 2  # rank 0 says why
    finally:
        shutdown(dist)
    if not dist.is_main:
        return 0
    corpus = report["corpus"]
    print(f"\ntrained on {corpus['n_files']} files ({corpus['cache_hits']} from cache), skipped {corpus['n_skipped']}")
    if report["skipped"]:
        print(format_skip_report(report["skipped"]))
    print("classes: " + ", ".join(f"{k} {v}" for k, v in corpus["class_counts"].items()))
    for stage in ("vae", "transformer"):
        h = report[stage]
        print(f"{stage}: {h['epochs']} epochs, {h['seconds_per_epoch']:.3f} s/epoch, final {h['final']}")
    c = report.get("classifier") or {}
    if "skipped" in c:
        print(f"classifier: {c['skipped']}")
    elif c:
        holdout = c.get("holdout_accuracy")
        print(f"classifier: {c['epochs']} epochs, holdout accuracy "
              + ("n/a (too few sounds per class)" if holdout is None else f"{holdout:.1%}"))
    resumed = f", resumed after {report['resumed_after']}" if "resumed_after" in report else ""
    processes = f", {report['processes']} processes" if report["processes"] > 1 else ""
    print(f"device {report['device']} ({report['hardware']}{processes}), total {report['seconds']:.1f} s{resumed}")
    print(f"model written to {report['output']}")
    return 0
