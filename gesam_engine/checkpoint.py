"""The model directory on disk: model.json + safetensors weights, checked on every load.

Never pickle: weights are safetensors, everything else JSON. Each weight file's sha256 is
recorded in model.json, so a truncated or tampered file is refused before it is parsed; a
card over 16 MB, nested too deeply, or a FIFO/device in place of a file is refused, not waited on.
Writes go to a temporary sibling directory that is renamed into place when complete; ``--force``
replaces only a model directory or an empty folder, never a folder of samples.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Mapping, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from gesam_engine.atomic_io import atomic_write, folder_mode
from gesam_engine.errors import CheckpointError

FORMAT = "gesam-model"
FORMAT_VERSION = 1
CARD = "model.json"
WEIGHT_FILES = ("vae.safetensors", "transformer.safetensors")
OPTIONAL_WEIGHT_FILES = ("classifier.safetensors",)
CARD_LIMIT = 16_000_000  # bytes: a model.json is a few kB plus ~210 B per training file it records (10 k files: 2 MB)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a regular file, streamed (a FIFO or device is refused, never opened)."""
    digest = hashlib.sha256()
    with open_regular(Path(path)) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading when it is a regular file; CheckpointError saying what it is otherwise.

    Checked with ``os.stat`` before opening (opening a FIFO blocks until a writer comes) and
    again on the open descriptor, which is opened non-blocking so a swap in between cannot hang."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing (model.json lists it)") from None
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"{path} is {_kind(mode)}, not a regular file; replace it with the real file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise CheckpointError(f"{path} is {_kind(mode)}, not a regular file; replace it with the real file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _is_model_dir(directory: Path) -> bool:
    """True when ``directory`` holds a model.json (what ``--force`` may replace)."""
    return os.path.isfile(directory / CARD)


def check_output(directory: Path, force: bool, data_roots: Sequence[Path] = ()) -> None:
    """Refuse to write a model where it would destroy anything that is not a gesam model.

    An existing ``directory`` needs ``force`` and must then be a model directory (model.json) or an
    empty folder. It may never hold one of ``data_roots`` (the sample folders), and may lie inside
    one only when it is already a model directory."""
    directory = Path(directory)
    exists = os.path.lexists(directory)
    if directory.is_symlink():
        raise CheckpointError(f"{directory} is a symbolic link; give the folder it points to as the output instead")
    if exists and not directory.is_dir():
        raise CheckpointError(f"{directory} exists and is not a folder; choose another output folder")
    is_model = exists and _is_model_dir(directory)
    real = directory.resolve()
    for root in data_roots:
        data = Path(root).resolve()
        if data == real or data.is_relative_to(real):
            raise CheckpointError(
                f"output folder {directory} holds the sample folder {root}: writing the model there would delete "
                "your samples; choose an output folder outside every --data folder")
        if real.is_relative_to(data) and not is_model:
            raise CheckpointError(
                f"output folder {directory} is inside the sample folder {root} and is not a gesam model "
                "(no model.json); choose an output folder outside every --data folder")
    if not exists:
        return
    with os.scandir(directory) as entries:
        empty = next(entries, None) is None
    if not is_model and not empty:
        raise CheckpointError(
            f"{directory} is not a gesam model (it has no {CARD}) and is not empty: --force only replaces a model "
            "directory or an empty folder; choose a new output folder, or empty this one yourself")
    if not force:
        raise CheckpointError(f"{directory} already exists; pass --force to overwrite it")


def write_model_dir(
    directory: Path,
    card: Mapping[str, Any],
    weights: Mapping[str, Mapping[str, torch.Tensor]],
    extra_files: Mapping[str, bytes] | None = None,
    force: bool = False,
    data_roots: Sequence[Path] = (),
) -> Path:
    """Write ``card`` as model.json and each ``weights[name]`` as ``name`` (a .safetensors file).

    ``extra_files`` maps relative paths (e.g. ``map/points.json``) to bytes. The directory is
    built beside the target and renamed into place; an existing target needs ``force`` and must
    be a model directory or empty, and no ``data_roots`` folder may be touched (``check_output``).
    Folders and files get the user's umask."""
    directory = Path(directory)
    check_output(directory, force, data_roots)
    for name in weights:
        if name not in WEIGHT_FILES + OPTIONAL_WEIGHT_FILES:
            raise CheckpointError(f"unknown weight file {name!r}; expected one of {WEIGHT_FILES + OPTIONAL_WEIGHT_FILES}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        os.chmod(tmp, folder_mode())  # mkdtemp makes 0700; a model folder is shared like any other
        files: dict[str, dict[str, str]] = {}
        for name, tensors in weights.items():
            data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
            atomic_write(tmp / name, data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest()}
        for rel, data in (extra_files or {}).items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
            files[rel] = {"sha256": hashlib.sha256(data).hexdigest()}
        full = {"format": FORMAT, "format_version": FORMAT_VERSION, **card, "files": files}
        atomic_write(tmp / CARD, json.dumps(full, indent=2, sort_keys=False) + "\n")
        if os.path.lexists(directory):
            check_output(directory, force, data_roots)  # again: training takes a while
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            os.replace(directory, old)  # rename onto an empty folder replaces it
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def read_card(directory: Path) -> dict[str, Any]:
    """Read and check model.json: a regular file of at most CARD_LIMIT bytes, JSON, our format and version."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model directory {directory} does not exist (train one with `gesam train`)")
    path = directory / CARD
    if not os.path.lexists(path):
        raise CheckpointError(f"{path} is missing: a model directory needs {CARD} beside its weights")
    with open_regular(path) as fh:
        raw = fh.read(CARD_LIMIT + 1)
    if len(raw) > CARD_LIMIT:
        raise CheckpointError(f"{path} is larger than {CARD_LIMIT // 1_000_000} MB; a model card is a few kB, "
                              "so this is not one (restore the model directory)")
    try:
        card = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the model directory is corrupt") from None
    except RecursionError:
        raise CheckpointError(f"{path} is nested too deeply to be a model card; the model directory is corrupt") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gesam model card (expected \"format\": \"{FORMAT}\")")
    version = card.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format_version {version!r}; this gesam reads version {FORMAT_VERSION}")
    if not isinstance(card.get("files"), dict):
        raise CheckpointError(f"{path} has no \"files\" table of sha256 sums")
    return card


def verified_bytes(directory: Path, card: Mapping[str, Any], name: str) -> bytes:
    """The bytes of file ``name`` after checking it is a regular file matching the sha256 in the card.

    The bytes that were checked are the ones returned, so nothing can change between check and use."""
    path = Path(directory) / name
    entry = card["files"].get(name)
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(expected, str):
        raise CheckpointError(f"{directory / CARD} records no sha256 for {name}; the card does not match the directory")
    with open_regular(path) as fh:
        data = fh.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CheckpointError(
            f"{path} does not match the sha256 in model.json (expected {expected[:12]}…, got {actual[:12]}…): "
            "the file is corrupt or was changed; retrain or restore it"
        )
    return data


def read_weights(directory: Path, card: Mapping[str, Any], name: str) -> dict[str, torch.Tensor]:
    """Load one verified safetensors file to CPU tensors (no pickle involved)."""
    data = verified_bytes(directory, card, name)
    path = Path(directory) / name
    try:
        return load(data)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a valid safetensors file: {exc}") from None


def load_state(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: Path | str) -> None:
    """``load_state_dict(strict=True)``, reporting missing/unexpected keys and shape mismatches."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not fit the architecture in model.json: missing keys {missing[:5]}"
            f"{'…' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}"
        )
    for key, value in state.items():
        if tuple(own[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{source}: tensor {key} has shape {tuple(value.shape)}, the architecture expects {tuple(own[key].shape)}"
            )
    module.load_state_dict(dict(state), strict=True)
