"""Training that survives interruption: checkpoints beside the output, and ``--resume``.

A run keeps its checkpoint in ``<output>.partial/``, a sibling of the model folder (never inside
it: the model folder is written whole at the end, and ``--force`` may only replace a model or an
empty folder). The folder holds ``state.json`` (stage, epoch, generator states, optimiser
scalars, the settings and the corpus it was made with, the sha256 of the tensor file) and one
``checkpoint-NNNNNN.safetensors`` (finished stages' weights, the current stage's weights and
optimiser moments). state.json is written last, so it always names a complete tensor file.
Nothing is pickled; a damaged checkpoint is a CheckpointError. A checkpoint is written every
``checkpoint_minutes`` and at each stage's end; a stop request (Ctrl-C) is honoured at the next
epoch's end, after a checkpoint. The folder is removed once the model is written.

Across processes (``dist``) rank 0 alone reads and writes the folder (the pipeline hands what it
read to the others); a stop asked of any rank is agreed at the epoch's end, so every rank stops
after the same epoch, and they leave only once rank 0's checkpoint is written.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from tqdm.auto import tqdm

from gesam_engine import __version__
from gesam_engine.atomic_io import atomic_write
from gesam_engine.checkpoint import open_regular
from gesam_engine.distributed import SINGLE, Dist
from gesam_engine.errors import CheckpointError
from gesam_engine.training import ddp
from gesam_engine.training.corpus_record import describe_difference
from gesam_engine.training.loop import EpochHook
from gesam_engine.training.train_state import LoopState

FORMAT = "gesam-train-state"
FORMAT_VERSION = 1
STATE = "state.json"
SUFFIX = ".partial"
STATE_LIMIT = 64_000_000  # bytes: generator states and a corpus list of a few thousand files fit easily
STAGES = ("vae", "transformer", "classifier")
STAGE_NAMES = {"vae": "stage 1 VAE", "transformer": "stage 2 transformer", "classifier": "stage 3 classifier"}
_OURS = re.compile(r"state\.json|checkpoint-\d{6}\.safetensors|\..+\.tmp")
_TENSORS = re.compile(r"checkpoint-\d{6}\.safetensors")


def partial_dir(output: Path) -> Path:
    """Where the run writing model folder ``output`` keeps its checkpoint: ``<output>.partial``
    (relative when ``output`` is)."""
    out = Path(output)
    if out.name in ("", ".", ".."):
        out = Path(os.path.abspath(out))
    return out.with_name(out.name + SUFFIX)


class TrainingStopped(KeyboardInterrupt):
    """Training stopped at an epoch's end after a checkpoint; ``str()`` says where and how to go on."""

    def __init__(self, message: str, folder: Path) -> None:
        super().__init__(message)
        self.folder = folder


class StopRequest:
    """A stop asked for from outside the loop (a signal handler): honoured at the next epoch's end.

    ``request`` returns whether it will be honoured that way (True while stages train); when
    False the caller should stop at once. Subclasses may override ``check`` (tests stop at a
    chosen epoch)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.deferred = False

    def request(self, reason: str) -> bool:
        """Ask training to stop; True when it will stop at the next epoch's end with a checkpoint."""
        if self.reason is None:
            self.reason = reason
        return self.deferred

    def check(self, stage: str, epoch: int) -> bool:
        """Whether to stop now, after ``epoch`` epochs of ``stage``."""
        return self.reason is not None


@dataclasses.dataclass
class Resumed:
    """What a checkpoint holds: finished stages (weights, reports) and the stage in progress."""

    done: dict[str, dict[str, Any]]  # stage -> its training report
    weights: dict[str, dict[str, torch.Tensor]]  # stage -> final weights of a finished stage
    current: tuple[str, LoopState] | None
    seconds: float  # training time of the runs before this one
    where: str  # "stage 2 transformer, epoch 37/200", for messages


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings_difference(old: Mapping[str, Any], new: Mapping[str, Any], examples: int = 6) -> str:
    """The settings that differ between two runs, as ``key was X, now Y`` (empty when none)."""
    a, b = _flat(old), _flat(new)
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k, "<unset>") != b.get(k, "<unset>"))
    parts = [f"{k} was {json.dumps(a.get(k, '<unset>'))}, now {json.dumps(b.get(k, '<unset>'))}" for k in keys[:examples]]
    if len(keys) > examples:
        parts.append(f"and {len(keys) - examples} more")
    return "; ".join(parts)


def _sha(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Checkpointer:
    """Writes and reads one training run's checkpoint folder (see the module docstring).

    Call ``prepare`` before any work, ``begin`` once the corpus is known, ``hook(stage)`` for each
    stage's loop, ``finish_stage`` after it, and ``clear`` once the model is written. With ``dist``
    call ``hook`` and ``finish_stage`` on every rank (they agree on stops), the rest on rank 0: the
    others never touch the folder."""

    def __init__(self, output: Path, every_s: float, stop: StopRequest | None = None, progress: bool | None = True,
                 clock: Callable[[], float] = time.monotonic, dist: Dist = SINGLE) -> None:
        self.output = Path(os.path.abspath(output))
        self.folder = partial_dir(output)
        self.every_s = every_s
        self.stop = stop
        self.progress = progress
        self.clock = clock
        self.dist = dist
        self.write_ms: list[float] = []  # how long each checkpoint took to write
        self._meta: dict[str, Any] = {}
        self._done: dict[str, dict[str, Any]] = {}
        self._weights: dict[str, dict[str, torch.Tensor]] = {}
        self._generation = 0
        self._base_seconds = 0.0
        self._started = time.perf_counter()
        self._last_save = clock()

    # -- before the run -------------------------------------------------------------------------
    def prepare(self, resume: bool, force: bool, settings: Mapping[str, Any], device: torch.device) -> Resumed | None:
        """Check the checkpoint folder before any work; with ``resume`` read and check the checkpoint.

        Refuses: a folder that is not ours; ``resume`` without a checkpoint, with other settings
        or another device; a checkpoint left by an interrupted run when neither ``resume`` nor
        ``force`` is given (``force`` then deletes it: the run starts over)."""
        entries = self._entries()
        foreign = [n for n in entries if not _OURS.fullmatch(n)]
        if foreign:
            raise CheckpointError(
                f"{self.folder} is where this run keeps its checkpoint, but it holds other things "
                f"({', '.join(sorted(foreign)[:3])}); move that folder away or choose another output folder")
        has_state = STATE in entries
        if resume:
            if not has_state:
                finished = f" (has the run finished? {self.output} holds a model)" \
                    if (self.output / "model.json").is_file() else ""
                raise CheckpointError(f"nothing to resume: {self.folder} holds no checkpoint{finished}; "
                                      "run without --resume to train from the start")
            return self._load(settings, device)
        if has_state and not force:
            where = self._peek_where()
            raise CheckpointError(
                f"{self.folder} holds the checkpoint of an interrupted run ({where}); continue it with --resume, "
                "or pass --force to delete it and start over")
        self._remove(entries)
        return None

    def check_corpus(self, record: Mapping[str, Any]) -> None:
        """Refuse to resume on a corpus other than the checkpoint's, saying what differs."""
        old = self._meta.get("corpus") or {}
        if old.get("sha256") != record["sha256"]:
            raise CheckpointError(
                f"the checkpoint in {self.folder} was made on other training files: "
                f"{describe_difference(old, record)}; resume with the same --data, or pass --force without "
                "--resume to start over")

    def begin(self, settings: Mapping[str, Any], record: Mapping[str, Any], device: torch.device) -> None:
        """Remember what every checkpoint of this run records; stop requests now wait for an epoch's end."""
        self._meta = {"settings": dict(settings), "settings_sha256": _sha(settings), "corpus": dict(record),
                      "device": str(device)}
        self._started = time.perf_counter()
        self._last_save = self.clock()
        if self.stop is not None:
            self.stop.deferred = True

    # -- during the run -------------------------------------------------------------------------
    def hook(self, stage: str) -> EpochHook:
        """The per-epoch hook of ``stage``: a checkpoint every ``every_s`` seconds, and on a stop request."""
        def on_epoch(done: int, epochs: int, capture: Callable[[], LoopState]) -> None:
            if done >= epochs:
                return  # the stage's end is saved by finish_stage
            stop = self._agreed_stop(stage, done)
            where = f"{STAGE_NAMES[stage]}, epoch {done}/{epochs}"
            try:
                if self.dist.is_main and (stop or self.clock() - self._last_save >= self.every_s):
                    self._save((stage, capture()), where, must=stop)
            finally:
                if stop:
                    self.dist.barrier()  # the others leave once rank 0 has written the checkpoint
            if stop:
                self._stopped(where)
        return on_epoch

    def _agreed_stop(self, stage: str, epoch: int) -> bool:
        """Whether to stop after ``epoch`` of ``stage``: asked of this process or of any other (a collective)."""
        return ddp.any_rank(self.stop is not None and self.stop.check(stage, epoch), self.dist)

    def finish_stage(self, stage: str, module: torch.nn.Module, report: Mapping[str, Any]) -> None:
        """Record a finished stage (weights and report) and write a checkpoint."""
        self._weights[stage] = module.state_dict()
        self._done[stage] = dict(report)
        epochs = report.get("epochs", "?")
        stop = self._agreed_stop(stage, int(epochs) if isinstance(epochs, int) else 0)
        where = f"{STAGE_NAMES[stage]} done ({epochs} epochs)"
        try:
            if self.dist.is_main:
                self._save(None, where, must=stop)
        finally:
            if stop:
                self.dist.barrier()
        if stop:
            self._stopped(where)

    def skip_stage(self, stage: str, report: Mapping[str, Any]) -> None:
        """Record a stage that has nothing to train (a one-class corpus has no classifier)."""
        self._done[stage] = dict(report)

    def release(self) -> None:
        """Training is over: a stop request from now on should act at once."""
        if self.stop is not None:
            self.stop.deferred = False

    def seconds(self) -> float:
        """Training time of this run and the runs it continues."""
        return self._base_seconds + time.perf_counter() - self._started

    def clear(self) -> None:
        """Delete the checkpoint folder (the model is written); a failure is only reported. Rank 0 only."""
        self.release()
        if not self.dist.is_main:
            return
        try:
            self._remove(self._entries())
            if self.folder.is_dir():
                self.folder.rmdir()
        except OSError as exc:
            self.say(f"warning: could not remove the checkpoint folder {self.folder}: {exc.strerror or exc}")

    # -- files ----------------------------------------------------------------------------------
    def _entries(self) -> list[str]:
        if not os.path.lexists(self.folder):
            return []
        if not self.folder.is_dir() or self.folder.is_symlink():
            raise CheckpointError(f"{self.folder} is where this run keeps its checkpoint, but it is not a folder; "
                                  "move it away or choose another output folder")
        return os.listdir(self.folder)

    def _remove(self, names: list[str]) -> None:
        for name in names:
            if _OURS.fullmatch(name):
                (self.folder / name).unlink(missing_ok=True)

    def say(self, line: str) -> None:
        """Print a line above the progress bars (unless quiet; rank 0 only)."""
        if self.progress is not False and self.dist.is_main:
            tqdm.write(line, file=sys.stderr)

    def _stopped(self, where: str) -> None:
        reason = self.stop.reason if self.stop is not None and self.stop.reason else "asked to stop"
        raise TrainingStopped(f"{reason}: stopped after {where}; the checkpoint is in {self.folder}; "
                              "run the same command with --resume to continue", self.folder)

    def _save(self, current: tuple[str, LoopState] | None, where: str, must: bool) -> None:
        """Write a checkpoint (tensor file, then state.json). A failure is a warning, or with ``must``
        (a stop was asked for) a CheckpointError. Rank 0 only."""
        if not self.dist.is_main:
            return
        started = time.perf_counter()
        tensors: dict[str, torch.Tensor] = {}
        for stage, weights in self._weights.items():
            tensors.update({f"{stage}.{k}": v for k, v in weights.items()})
        current_meta: dict[str, Any] | None = None
        if current is not None:
            stage, state = current
            cur_tensors, meta = state.to_parts()
            tensors.update({f"current.{k}": v for k, v in cur_tensors.items()})
            current_meta = {"stage": stage, **meta}
        self._generation += 1
        name = f"checkpoint-{self._generation:06d}.safetensors"
        try:
            data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.folder / name, data)
            record = {
                "format": FORMAT, "format_version": FORMAT_VERSION, "gesam_version": __version__,
                "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "where": where, **self._meta, "seconds": round(self.seconds(), 3),
                "done": self._done, "current": current_meta,
                "tensors": {"file": name, "sha256": hashlib.sha256(data).hexdigest()},
            }
            atomic_write(self.folder / STATE, json.dumps(record))
            self._remove([n for n in os.listdir(self.folder) if _TENSORS.fullmatch(n) and n != name])
        except OSError as exc:
            message = f"could not write a checkpoint to {self.folder}: {exc.strerror or exc}"
            if must:
                raise CheckpointError(message + "; free some space or fix the folder's permissions") from None
            self.say(f"warning: {message}; training goes on")
            self._last_save = self.clock()  # try again in every_s, not after every epoch
            return
        ms = (time.perf_counter() - started) * 1000
        self.write_ms.append(ms)
        self._last_save = self.clock()
        self.say(f"checkpoint: {where} -> {self.folder} ({ms:.0f} ms)")

    def _read_state(self) -> dict[str, Any]:
        path = self.folder / STATE
        with open_regular(path) as fh:
            raw = fh.read(STATE_LIMIT + 1)
        damaged = f"{path} is damaged"
        fix = "; pass --force without --resume to delete it and start over"
        if len(raw) > STATE_LIMIT:
            raise CheckpointError(f"{damaged} (larger than {STATE_LIMIT // 1_000_000} MB){fix}")
        try:
            state = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise CheckpointError(f"{damaged} (not valid JSON: {exc}){fix}") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckpointError(f"{damaged} (not a gesam training checkpoint){fix}")
        if state.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{path} has format_version {state.get('format_version')!r}; this gesam reads "
                                  f"version {FORMAT_VERSION}{fix}")
        return state

    def _peek_where(self) -> str:
        try:
            state = self._read_state()
        except CheckpointError:
            return "its state.json is damaged"
        return f"{state.get('where', '?')}, saved {state.get('saved', '?')}"

    def _load(self, settings: Mapping[str, Any], device: torch.device) -> Resumed:
        """Read, verify and check the checkpoint against this run's settings and device."""
        state = self._read_state()
        fix = "; pass --force without --resume to delete it and start over"
        try:
            saved_settings, done, current = state["settings"], state["done"], state["current"]
            entry, corpus = state["tensors"], state["corpus"]
            name, expected = str(entry["file"]), str(entry["sha256"])
            saved_device, seconds = str(state["device"]), float(state["seconds"])
            if not _TENSORS.fullmatch(name) or not isinstance(done, dict) or not isinstance(corpus, dict):
                raise ValueError("bad entries")
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{self.folder / STATE} is damaged (missing or malformed {exc}){fix}") from None
        normalised = json.loads(json.dumps(settings))
        if _sha(saved_settings) != _sha(normalised):
            raise CheckpointError(
                f"the checkpoint in {self.folder} was made with other settings: "
                f"{settings_difference(saved_settings, normalised)}; resume with the same settings, or pass --force "
                "without --resume to start over")
        if torch.device(saved_device).type != device.type:
            raise CheckpointError(f"the checkpoint in {self.folder} was made on {saved_device}, this run is on {device}; "
                                  f"resume with --device {saved_device}, or pass --force without --resume to start over")
        with open_regular(self.folder / name) as fh:
            data = fh.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise CheckpointError(f"{self.folder / name} is damaged (its sha256 {actual[:12]}… is not the "
                                  f"{expected[:12]}… state.json records){fix}")
        try:
            tensors = load(data)
        except (SafetensorError, ValueError, OSError) as exc:
            raise CheckpointError(f"{self.folder / name} is not a valid safetensors file ({exc}){fix}") from None
        weights: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            head, _, rest = key.partition(".")
            if head in STAGES:
                weights.setdefault(head, {})[rest] = value
        resumed_current = None
        if current is not None:
            stage = current.get("stage") if isinstance(current, dict) else None
            if stage not in STAGES:
                raise CheckpointError(f"{self.folder / STATE} is damaged (unknown stage {stage!r}){fix}")
            own = {k[len("current."):]: v for k, v in tensors.items() if k.startswith("current.")}
            resumed_current = (stage, LoopState.from_parts(own, current))
        self._meta = {"settings": saved_settings, "settings_sha256": _sha(saved_settings), "corpus": corpus,
                      "device": saved_device}
        self._done = {k: dict(v) for k, v in done.items() if k in STAGES}
        self._weights = {k: v for k, v in weights.items() if k in self._done}
        self._generation = int(name[len("checkpoint-"):-len(".safetensors")])
        self._base_seconds = seconds
        where = str(state.get("where", "?"))
        return Resumed(done=dict(self._done), weights=dict(self._weights), current=resumed_current,
                       seconds=seconds, where=where)
