"""The command line itself: instant help, clear one-line errors, no tracebacks."""

import subprocess
import sys

import pytest

from gesam_engine.cli.main import build_parser, main


def test_help_lists_the_commands_without_importing_torch():
    code = (
        "import sys; from gesam_engine.cli.main import build_parser; "
        "build_parser().format_help(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    proc = subprocess.run([sys.executable, "-m", "gesam_engine.cli.main", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("train", "render", "info", "synth-kit"):
        assert command in proc.stdout


def test_missing_model_is_one_clear_line(tmp_path, capsys):
    assert main(["render", "--model", str(tmp_path / "none"), "--xy", "0.5", "0.5", "-o", str(tmp_path / "a.wav")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_training_on_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "-o", str(tmp_path / "m"), "--no-cache", "-q"]) == 2
    assert "no audio files found" in capsys.readouterr().err


def test_bad_config_key_is_refused(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nepochz = 3\n")
    assert main(["train", "--data", str(tmp_path), "-o", str(tmp_path / "m"), "--config", str(cfg)]) == 2
    assert "unknown key(s) ['epochz'] in [train]" in capsys.readouterr().err


def test_train_help_names_all_three_stages_and_epochs_sets_each(capsys):
    from gesam_engine.cli.train_cmd import _overrides

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "both stages" not in help_text and "two stages" not in help_text
    assert "epochs for all three stages: VAE, transformer and classifier" in help_text
    args = build_parser().parse_args(["train", "--data", "d", "-o", "m", "--epochs", "3", "--classifier-epochs", "5"])
    assert _overrides(args) == {"train": {"vae_epochs": 3, "transformer_epochs": 3, "classifier_epochs": 5}}
