"""``gesam train`` stopped by Ctrl-C and continued with ``--resume``, through the command line."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gesam_engine.cli.main import build_parser, main
from gesam_engine.cli.train_cmd import _overrides

TINY = Path(__file__).parents[1] / "tiny_config.toml"
EPOCHS = ["--vae-epochs", "150", "--transformer-epochs", "4", "--classifier-epochs", "4"]


def test_threads_and_checkpoint_minutes_are_train_settings():
    args = build_parser().parse_args(["train", "--data", "d", "-o", "m", "--threads", "3", "--checkpoint-minutes", "0.5"])
    assert _overrides(args) == {"train": {"threads": 3, "checkpoint_minutes": 0.5}}
    assert not args.resume and not args.progress
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--data", "d", "-o", "m", "--quiet", "--progress"])


@pytest.mark.slow
@pytest.mark.e2e
def test_ctrl_c_stops_after_a_checkpoint_and_resume_finishes_the_run(synth_kit, tmp_path, capsys):
    model, cache = tmp_path / "model", tmp_path / "cache"
    command = ["train", "--data", str(synth_kit), "-o", str(model), "--config", str(TINY), "--cache", str(cache),
               *EPOCHS, "--checkpoint-minutes", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "gesam_engine.cli.main", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    state = tmp_path / "model.partial" / "state.json"
    deadline = time.monotonic() + 240
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Ctrl-C: stopping at the end of this epoch after a checkpoint" in err
    assert "checkpoint: stage 1 VAE, epoch " in err  # stderr is no terminal: no bars, but a line per checkpoint
    last = err.strip().splitlines()[-1]
    assert last.startswith("gesam train: Ctrl-C: stopped after stage 1 VAE, epoch ") and last.endswith(
        "run the same command with --resume to continue"), last
    assert not model.exists() and "trained on" not in out
    stopped_at = json.loads(state.read_text())["current"]["epoch"]
    assert 1 <= stopped_at < 150

    # the same command without --resume refuses to throw the checkpoint away
    assert main(command) == 2
    assert "holds the checkpoint of an interrupted run" in capsys.readouterr().err
    # another seed is another run
    assert main([*command, "--resume", "--seed", "7"]) == 2
    assert "train.seed was 0, now 7" in capsys.readouterr().err

    assert main([*command, "--resume", "--progress"]) == 0
    captured = capsys.readouterr()
    assert f"resuming after stage 1 VAE, epoch {stopped_at}/150" in captured.err
    assert "stage 1 VAE: 100%" in captured.err and "150/150" in captured.err  # the bar, forced by --progress
    assert f"resumed after stage 1 VAE, epoch {stopped_at}/150" in captured.out
    card = json.loads((model / "model.json").read_text())
    assert card["training"]["resumed_after"] == f"stage 1 VAE, epoch {stopped_at}/150"
    assert card["training"]["threads"] == 1
    assert not (tmp_path / "model.partial").exists()
    assert main([*command, "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
