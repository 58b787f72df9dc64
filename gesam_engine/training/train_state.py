"""A training loop's whole state between two epochs, and its split into tensors and JSON.

What a resumed run needs to continue exactly where one stopped: the module's weights, the
optimiser's moments and step counts, the learning-rate schedule, the shuffling generator and
torch's global generators (noise, dropout, augmentation), plus the per-epoch history. Tensors
go to safetensors and everything else to JSON, so nothing is ever pickled.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Mapping

import numpy as np
import torch

from gesam_engine.errors import CheckpointError

OPT_PREFIX = "optimizer."  # tensor keys: optimizer.<param index>.<name>
MODEL_PREFIX = "model."


@dataclasses.dataclass
class LoopState:
    """Everything ``run_epochs`` needs to go on after ``epoch`` finished epochs of ``epochs``."""

    epoch: int
    epochs: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]  # torch optimizer state_dict
    scheduler: dict[str, Any]  # torch lr_scheduler state_dict (JSON-ready)
    rng: dict[str, Any]  # "shuffle", "torch", "cuda" (byte lists), "numpy", "python": generator states
    history: list[dict[str, float]]
    seconds: float  # training time spent in this stage so far

    @classmethod
    def capture(
        cls,
        epoch: int,
        epochs: int,
        module: torch.nn.Module,
        opt: torch.optim.Optimizer,
        sched: torch.optim.lr_scheduler.LRScheduler,
        shuffle: torch.Generator,
        device: torch.device,
        history: list[dict[str, float]],
        seconds: float,
    ) -> LoopState:
        """The live state (tensors shared, not copied: write it out before the next step)."""
        cuda = torch.cuda.get_rng_state(device).tolist() if device.type == "cuda" else None
        return cls(
            epoch=epoch, epochs=epochs, model=module.state_dict(), optimizer=opt.state_dict(),
            scheduler=sched.state_dict(),
            rng={"shuffle": shuffle.get_state().tolist(), "torch": torch.get_rng_state().tolist(), "cuda": cuda,
                 "numpy": _numpy_state(), "python": _python_state()},
            history=list(history), seconds=seconds,
        )

    def restore(
        self,
        module: torch.nn.Module,
        opt: torch.optim.Optimizer,
        sched: torch.optim.lr_scheduler.LRScheduler,
        shuffle: torch.Generator,
        device: torch.device,
    ) -> None:
        """Put this state into freshly built objects; CheckpointError when it does not fit them."""
        from gesam_engine.checkpoint import load_state

        load_state(module, self.model, "the checkpoint's weights")
        try:
            opt.load_state_dict(_typed_like(self.optimizer, opt.state_dict()))
            sched.load_state_dict(dict(self.scheduler))
            shuffle.set_state(_byte_state(self.rng.get("shuffle"), "shuffle"))
            torch.set_rng_state(_byte_state(self.rng.get("torch"), "torch"))
            if device.type == "cuda" and self.rng.get("cuda") is not None:
                torch.cuda.set_rng_state(_byte_state(self.rng["cuda"], "cuda"), device)
            if self.rng.get("numpy") is not None:
                kind, keys, pos, has_gauss, gauss = self.rng["numpy"]
                np.random.set_state((str(kind), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(gauss)))
            if self.rng.get("python") is not None:
                version, internal, gauss = self.rng["python"]
                random.setstate((int(version), tuple(int(v) for v in internal), gauss))
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
            raise CheckpointError(f"the checkpoint's optimiser or generator state does not fit this run: {exc}") from None

    def to_parts(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors for safetensors, JSON-ready rest): the inverse of ``from_parts``."""
        tensors = {MODEL_PREFIX + k: v for k, v in self.model.items()}
        param_state: dict[str, dict[str, Any]] = {}
        for index, entry in self.optimizer["state"].items():
            plain: dict[str, Any] = {}
            for name, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{OPT_PREFIX}{index}.{name}"] = value
                else:
                    plain[name] = value
            param_state[str(index)] = plain
        meta = {
            "epoch": self.epoch,
            "epochs": self.epochs,
            "optimizer": {"param_groups": [_jsonable(g) for g in self.optimizer["param_groups"]], "state": param_state},
            "scheduler": _jsonable(self.scheduler),
            "rng": self.rng,
            "history": self.history,
            "seconds": self.seconds,
        }
        return tensors, meta

    @classmethod
    def from_parts(cls, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> LoopState:
        """Rebuild from ``to_parts``' output (tensors under other prefixes are ignored)."""
        try:
            model = {k[len(MODEL_PREFIX):]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
            opt_meta = meta["optimizer"]
            state: dict[int, dict[str, Any]] = {int(i): dict(plain) for i, plain in opt_meta["state"].items()}
            for key, value in tensors.items():
                if key.startswith(OPT_PREFIX):
                    index, name = key[len(OPT_PREFIX):].split(".", 1)
                    state.setdefault(int(index), {})[name] = value
            return cls(
                epoch=int(meta["epoch"]), epochs=int(meta["epochs"]), model=model,
                optimizer={"state": state, "param_groups": [dict(g) for g in opt_meta["param_groups"]]},
                scheduler=dict(meta["scheduler"]), rng=dict(meta["rng"]),
                history=[dict(h) for h in meta["history"]], seconds=float(meta["seconds"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"the checkpoint's loop state is incomplete or malformed ({exc!r})") from None


def _jsonable(value: Any) -> Any:
    """Tuples as lists, recursively (torch keeps e.g. AdamW's betas as a tuple)."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _typed_like(saved: Mapping[str, Any], fresh: Mapping[str, Any]) -> dict[str, Any]:
    """``saved`` with each param-group value that is a tuple in ``fresh`` made a tuple again."""
    groups = []
    for saved_group, fresh_group in zip(saved["param_groups"], fresh["param_groups"], strict=True):
        groups.append({k: tuple(v) if isinstance(fresh_group.get(k), tuple) else v for k, v in saved_group.items()})
    return {"state": saved["state"], "param_groups": groups}


def _numpy_state() -> list[Any]:
    """numpy's global generator state as JSON-ready values (augmentation may draw from it)."""
    state = np.random.get_state(legacy=True)  # legacy=True is the default: the (kind, keys, ...) tuple
    assert isinstance(state, tuple)  # a dict only for a bit generator other than MT19937, never the global one
    kind, keys, pos, has_gauss, gauss = state
    return [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]


def _python_state() -> list[Any]:
    """The ``random`` module's state as JSON-ready values."""
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _byte_state(values: Any, name: str) -> torch.Tensor:
    """A generator state (uint8 tensor) from its JSON byte list."""
    if not isinstance(values, list) or not all(isinstance(v, int) and 0 <= v <= 255 for v in values):
        raise ValueError(f"generator state {name!r} is not a list of bytes")
    return torch.tensor(values, dtype=torch.uint8)
