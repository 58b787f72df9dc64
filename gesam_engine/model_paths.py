"""Where every command looks when not told: the model (no ``--model``) and the cache directory.

The model: one lookup for every command, in this order: ``--model``; the ``GESAM_MODEL`` environment
variable; ``models/default`` and then ``build/demo/model`` under the current folder; the same
two next to the installed package (the repository's own, since the package is installed
editable), so ``gesam info`` works from any folder.

The cache directory (``default_cache_dir``): decoded training features and the engine's built-in
bakes live there unless a command's ``--cache`` says otherwise; the console history always does.
"""

from __future__ import annotations

import os
from pathlib import Path

from gesam_engine.errors import CheckpointError

ENV_VAR = "GESAM_MODEL"
CACHE_ENV_VAR = "GESAM_CACHE"
RELATIVE_DEFAULTS = (Path("models/default"), Path("build/demo/model"))
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the repository root of an editable install
MODEL_HELP = ("model directory (default: $GESAM_MODEL, else models/default or build/demo/model in this folder "
              "or beside the gesam package)")


def default_model_dirs() -> list[Path]:
    """The folders looked in, in order, when neither --model nor GESAM_MODEL is given."""
    dirs = list(RELATIVE_DEFAULTS)
    for rel in RELATIVE_DEFAULTS:
        packaged = PACKAGE_ROOT / rel
        if packaged.resolve() not in {d.resolve() for d in dirs}:
            dirs.append(packaged)
    return dirs


def find_model(given: Path | None = None) -> Path:
    """The model directory to use: ``given``, else $GESAM_MODEL, else the first default with a
    model.json. Raises CheckpointError naming every place looked in and how to get a model."""
    if given is not None:
        return Path(given)
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not (path / "model.json").is_file():
            raise CheckpointError(f"{ENV_VAR}={env} has no model.json; point it at a model directory "
                                  "(one made by `gesam train`) or unset it to use the shipped model")
        return path
    dirs = default_model_dirs()
    for path in dirs:
        if (path / "model.json").is_file():
            return path
    raise CheckpointError(
        "no model found (looked in " + ", ".join(str(p) for p in dirs) + f"); set {ENV_VAR}=DIR, pass --model DIR, "
        "train one with `gesam train --data DIR -o models/mine`, or run `make run` to build a demo model"
    )


def default_cache_dir() -> Path:
    """``$GESAM_CACHE`` or ``$XDG_CACHE_HOME/gesam`` (``~/.cache/gesam``): decoded features, built-in
    bakes and the console history live here."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gesam"
