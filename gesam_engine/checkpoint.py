"""The model directory on disk: model.json + safetensors weights, checked on every load.

Never pickle: weights are safetensors, everything else JSON. Each weight file's sha256 is
recorded in model.json, so a truncated or tampered file is refused before it is parsed.
Writes go to a temporary sibling directory that is renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gesam_engine.errors import CheckpointError

FORMAT = "gesam-model"
FORMAT_VERSION = 1
CARD = "model.json"
WEIGHT_FILES = ("vae.safetensors", "transformer.safetensors")
OPTIONAL_WEIGHT_FILES = ("classifier.safetensors",)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_model_dir(
    directory: Path,
    card: Mapping[str, Any],
    weights: Mapping[str, Mapping[str, torch.Tensor]],
    extra_files: Mapping[str, bytes] | None = None,
    force: bool = False,
) -> Path:
    """Write ``card`` as model.json and each ``weights[name]`` as ``name`` (a .safetensors file).

    ``extra_files`` maps relative paths (e.g. ``map/points.json``) to bytes. The directory is
    built beside the target and renamed into place; an existing target needs ``force``.
    """
    directory = Path(directory)
    if directory.exists() and not force:
        raise CheckpointError(f"{directory} already exists; pass --force to overwrite it")
    for name in weights:
        if name not in WEIGHT_FILES + OPTIONAL_WEIGHT_FILES:
            raise CheckpointError(f"unknown weight file {name!r}; expected one of {WEIGHT_FILES + OPTIONAL_WEIGHT_FILES}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        files: dict[str, dict[str, str]] = {}
        for name, tensors in weights.items():
            path = tmp / name
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))
            files[name] = {"sha256": sha256_file(path)}
        for rel, data in (extra_files or {}).items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            files[rel] = {"sha256": hashlib.sha256(data).hexdigest()}
        full = {"format": FORMAT, "format_version": FORMAT_VERSION, **card, "files": files}
        (tmp / CARD).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def read_card(directory: Path) -> dict[str, Any]:
    """Read and check model.json: present, JSON, our format and a version this code reads."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model directory {directory} does not exist (train one with `gesam train`)")
    path = directory / CARD
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: a model directory needs {CARD} beside its weights")
    try:
        card = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the model directory is corrupt") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gesam model card (expected \"format\": \"{FORMAT}\")")
    version = card.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format_version {version!r}; this gesam reads version {FORMAT_VERSION}")
    if not isinstance(card.get("files"), dict):
        raise CheckpointError(f"{path} has no \"files\" table of sha256 sums")
    return card


def verified_path(directory: Path, card: Mapping[str, Any], name: str) -> Path:
    """Path of file ``name`` after checking it exists and matches the sha256 in the card."""
    path = Path(directory) / name
    expected = card["files"].get(name, {}).get("sha256") if isinstance(card["files"].get(name), dict) else None
    if expected is None:
        raise CheckpointError(f"{directory / CARD} records no sha256 for {name}; the card does not match the directory")
    if not path.is_file():
        raise CheckpointError(f"{path} is missing (model.json lists it)")
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"{path} does not match the sha256 in model.json (expected {expected[:12]}…, got {actual[:12]}…): "
            "the file is corrupt or was changed; retrain or restore it"
        )
    return path


def read_weights(directory: Path, card: Mapping[str, Any], name: str) -> dict[str, torch.Tensor]:
    """Load one verified safetensors file to CPU tensors (no pickle involved)."""
    path = verified_path(directory, card, name)
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a valid safetensors file: {exc}") from None


def load_state(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: Path) -> None:
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
