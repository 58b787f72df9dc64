"""The training loop's resumable state, its checkpoint timing and its progress bar, on a tiny
module (no corpus, no audio): fast."""

import io
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gesam_engine.training.loop import run_epochs
from gesam_engine.training.resume import STATE, Checkpointer
from gesam_engine.training.train_state import LoopState

CPU = torch.device("cpu")


def _problem(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    x = torch.randn(20, 4)  # (N, 4)
    return module, x, x.sum(1, keepdim=True) ** 2  # (N, 1)


def _step(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, tick=None):
    def step(idx: torch.Tensor, epoch: float):
        noisy = x[idx] + 0.1 * torch.randn_like(x[idx])  # global RNG, as the transformer's input noise
        noisy = noisy * float(np.random.uniform(0.9, 1.1)) + random.gauss(0.0, 0.01)  # as augmentation might
        loss = torch.nn.functional.mse_loss(module(noisy), y[idx])
        if tick is not None:
            tick()
        return loss, {"loss": loss.item()}
    return step


def _run(module, x, y, epochs=6, **kw):
    return run_epochs(module, x.shape[0], _step(module, x, y, kw.pop("tick", None)), epochs=epochs, batch_size=8,
                      lr=1e-2, weight_decay=0.01, grad_clip=1.0, seed=5, device=CPU, desc="test stage",
                      progress=kw.pop("progress", False), **kw)


def test_a_captured_state_round_trips_through_tensors_and_json_and_resumes_exactly():
    whole, x, y = _problem()
    whole_hist = _run(whole, x, y)

    first, x, y = _problem()
    saved: list[tuple[dict, dict]] = []

    def keep(done: int, epochs: int, capture) -> None:
        if done == 3:
            tensors, meta = capture().to_parts()
            saved.append(({k: v.clone() for k, v in tensors.items()}, json.loads(json.dumps(meta))))
    _run(first, x, y, on_epoch=keep)
    tensors, meta = saved[0]
    assert meta["epoch"] == 3 and all(isinstance(v, torch.Tensor) for v in tensors.values())
    assert any(k.startswith("optimizer.") and k.endswith("exp_avg_sq") for k in tensors)

    torch.manual_seed(123)  # whatever the generators did since, the state brings them back
    np.random.seed(123)
    random.seed(123)
    second, _, _ = _problem(seed=9)  # other initial weights: the state replaces them
    hist = _run(second, x, y, resume=LoopState.from_parts(tensors, meta))
    for (name, a), b in zip(whole.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resuming"
    assert hist["final"] == whole_hist["final"] and hist["first"] == whole_hist["first"]


def test_checkpoints_come_every_few_minutes_and_only_the_newest_is_kept(tmp_path: Path):
    now = [0.0]
    ckpt = Checkpointer(tmp_path / "model", every_s=300, clock=lambda: now[0])
    ckpt.begin({"train": {"seed": 0}}, {"folders": [], "files": [], "sha256": "0" * 64}, CPU)
    lines: list[str] = []
    ckpt.say = lines.append  # type: ignore[method-assign]
    module, x, y = _problem()

    def tick() -> None:
        now[0] += 50.0  # three batches per epoch: 150 s an epoch

    _run(module, x, y, epochs=10, tick=tick, on_epoch=ckpt.hook("vae"))
    saved = [line.split(" -> ")[0] for line in lines]
    assert saved == [f"checkpoint: stage 1 VAE, epoch {e}/10" for e in (2, 4, 6, 8)], lines
    folder = tmp_path / "model.partial"
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-000004.safetensors", STATE]
    state = json.loads((folder / STATE).read_text())
    assert state["current"]["stage"] == "vae" and state["current"]["epoch"] == 8 and len(ckpt.write_ms) == 4
    assert len(state["current"]["rng"]["torch"]) > 100 and all(0 <= b < 256 for b in state["current"]["rng"]["shuffle"])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("progress, terminal, shown", [(None, True, True), (None, False, False), (True, False, True),
                                                       (False, True, False)])
def test_the_progress_bar_shows_epochs_eta_and_loss_on_a_terminal_or_when_asked(monkeypatch, progress, terminal, shown):
    stream = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    module, x, y = _problem()
    _run(module, x, y, epochs=3, progress=progress)
    text = stream.getvalue()
    if shown:
        assert "test stage" in text and "3/3" in text and "epoch" in text and "loss=" in text and "<" in text  # ETA
    else:
        assert text == ""
