"""``gesam train --nproc 2``: two gloo processes under torchrun (for real) train the tiny config,
the model loads and plays; SIGTERM to the launcher stops both ranks after the same epoch with one
checkpoint, and ``--resume`` ends with the weights of the uninterrupted 2-process run; and a
2-process run ends near a 1-process one (see ``test_two_processes_end_near_one_process``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gesam_engine.cli.main import main
from gesam_engine.gesam_model import GesamModel
from gesam_engine.training.resume import STATE, partial_dir
from tests.waiting import wait_for

ROOT = Path(__file__).parents[2]
TINY = ROOT / "tests" / "tiny_config.toml"
# 150 VAE epochs (about 8 s in two processes here): long enough for a SIGTERM to land mid-stage,
# and for the 1- and 2-process maps to settle before they are compared.
EPOCHS = ["--vae-epochs", "150", "--transformer-epochs", "4", "--classifier-epochs", "20"]


def argv(kit: Path, out: Path, cache: Path, *more: str) -> list[str]:
    return ["train", "--data", str(kit), "-o", str(out), "--config", str(TINY), "--cache", str(cache), *EPOCHS,
            "--quiet", *more]


def weights(model: GesamModel) -> dict[str, torch.Tensor]:
    parts = {"vae": model.vae, "transformer": model.transformer, "classifier": model.classifier}
    return {f"{name}.{k}": v for name, m in parts.items() for k, v in m.state_dict().items()}


@pytest.fixture(scope="module")
def runs(synth_kit: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same training in 2 processes (torchrun) and in 1 (this process); the cache is shared."""
    out = tmp_path_factory.mktemp("distributed")
    assert main(argv(synth_kit, out / "two", out / "cache", "--nproc", "2")) == 0
    assert main(argv(synth_kit, out / "one", out / "cache")) == 0
    return {"two": out / "two", "one": out / "one", "cache": out / "cache"}


def card(model: Path) -> dict:
    return json.loads((model / "model.json").read_text())


@pytest.mark.slow
@pytest.mark.e2e
def test_two_processes_train_a_model_that_loads_and_plays(runs):
    training = card(runs["two"])["training"]
    assert training["processes"] == 2 and training["threads"] == 1
    assert training["corpus"]["n_files"] == 30 and training["vae"]["epochs"] == 150
    assert training["classifier"]["holdout_accuracy"] is not None  # rank 0 scored it
    assert not partial_dir(runs["two"]).exists(), "rank 0 removes the checkpoint once the model is written"
    model = GesamModel.load(runs["two"])
    wave = model.render(np.array([[0.3, 0.7]], dtype=np.float32))
    assert wave.shape == (1, model.n_samples) and float(np.sqrt(np.mean(wave**2))) > 1e-3
    points = json.loads((runs["two"] / "map" / "points.json").read_text())
    assert len(points["points"]) == 30


@pytest.mark.slow
@pytest.mark.e2e
def test_two_processes_end_near_one_process(runs):
    """Same seed, same global batch (8: 4 per rank), so the same steps per epoch; the gradients are the
    one-process gradients but for the noise (the VAE's sampling, the transformer's condition noise, the
    classifier's augmentation), which each rank draws from its own stream: a 2-process run differs from
    a 1-process one about as runs with another seed do (measured here: VAE 0.0217 vs 0.0264, transformer
    0.091 vs 0.105; 1-process runs with seeds 0, 1, 2 spread 0.026-0.030 and 0.103-0.116). Float sums in
    another order add ~1e-7 (test_ddp_loop: noise-free, the two agree within 1e-6). Hence 30 %."""
    two, one = card(runs["two"])["training"], card(runs["one"])["training"]
    assert two["vae"]["final"]["loss"] < 0.5 * two["vae"]["first"]["loss"]  # it learnt
    for stage in ("vae", "transformer"):
        a, b = two[stage]["final"]["loss"], one[stage]["final"]["loss"]
        assert abs(a - b) <= 0.3 * b, f"{stage}: 2 processes end at {a}, 1 process at {b}"
    assert two["classifier"]["final"]["loss"] == pytest.approx(one["classifier"]["final"]["loss"], rel=0.3)
    assert abs(two["classifier"]["holdout_accuracy"] - one["classifier"]["holdout_accuracy"]) <= 0.25


@pytest.mark.slow
@pytest.mark.e2e
def test_sigterm_stops_both_ranks_after_one_epoch_and_resume_ends_as_the_uninterrupted_run(
        runs, synth_kit, tmp_path, capfd):
    model = tmp_path / "model"
    command = argv(synth_kit, model, runs["cache"], "--nproc", "2", "--checkpoint-minutes", "0")
    proc = subprocess.Popen([sys.executable, "-m", "gesam_engine.cli.main", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    state = partial_dir(model) / STATE
    wait_for(lambda: state.exists() or proc.poll() is not None, timeout=240)
    assert state.exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGTERM)  # to `gesam train --nproc 2`: it passes it to torchrun, torchrun to the ranks
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err[-3000:]
    stopped = [line for line in err.splitlines() if line.startswith("gesam train: SIGTERM: stopped after")]
    assert len(stopped) == 1, err[-3000:]  # rank 0 says it for both
    saved = json.loads(state.read_text())
    epoch = saved["current"]["epoch"]
    assert saved["current"]["stage"] == "vae" and 1 <= epoch < 150
    assert f"stopped after stage 1 VAE, epoch {epoch}/150" in stopped[0]
    assert len(list(partial_dir(model).glob("checkpoint-*.safetensors"))) == 1
    assert not model.exists()
    capfd.readouterr()

    assert main([*command, "--resume"]) == 0
    out = capfd.readouterr().out
    assert out.count("model written to") == 1, out  # rank 0 alone reports
    assert f"resumed after stage 1 VAE, epoch {epoch}/150" in out
    expected, got = weights(GesamModel.load(runs["two"])), weights(GesamModel.load(model))
    worst = max((expected[k] - got[k]).abs().max().item() for k in expected)
    assert worst <= 1e-6, f"the resumed 2-process weights differ from the uninterrupted run's by up to {worst}"
    assert card(model)["training"]["vae"]["final"] == card(runs["two"])["training"]["vae"]["final"]


def test_what_can_be_refused_is_refused_before_any_process_starts(synth_kit, tmp_path, capfd):
    assert main(argv(synth_kit, tmp_path / "model", tmp_path / "cache", "--nproc", "0")) == 2
    assert "--nproc must be an integer in 1..256, got 0" in capfd.readouterr().err
    # the tiny config's global batch of 8 cannot give 16 processes an item each
    assert main(argv(synth_kit, tmp_path / "model", tmp_path / "cache", "--nproc", "16")) == 2
    assert "train.batch_size (8) is the global batch, split over the 16 processes" in capfd.readouterr().err
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("mine")
    assert main(argv(synth_kit, tmp_path / "model", tmp_path / "cache", "--nproc", "2", "--force")) == 2
    assert "is not a gesam model" in capfd.readouterr().err
    assert not (tmp_path / "cache").exists(), "no process started"
