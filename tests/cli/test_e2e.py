"""End to end through the ``gesam`` command: scan -> train -> save -> load -> render."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.cli.main import main

TINY = Path(__file__).parents[1] / "tiny_config.toml"


@pytest.fixture(scope="module")
def trained(synth_kit, tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    model = out / "model"
    code = main(["train", "--data", str(synth_kit), "-o", str(model), "--config", str(TINY),
                 "--cache", str(out / "cache"), "--quiet"])
    assert code == 0
    return model, out


@pytest.mark.slow
@pytest.mark.e2e
def test_train_writes_a_complete_model_and_reports_skips(trained, capsys):
    model, _ = trained
    card = json.loads((model / "model.json").read_text())
    assert set(card["files"]) == {"vae.safetensors", "transformer.safetensors", "classifier.safetensors", "map/points.json"}
    corpus = card["training"]["corpus"]
    assert corpus["n_files"] == 30 and corpus["n_skipped"] >= 3
    assert {c["name"] for c in card["classes"]} >= {"kick", "snare", "hihat", "tom", "clap"}
    assert card["settings"]["train"]["vae_epochs"] == 4
    points = json.loads((model / "map/points.json").read_text())
    assert len(points["points"]) == 30 and len(points["labels"]) == 30
    assert all(0 <= v <= 1 for p in points["points"] for v in p)


@pytest.mark.slow
@pytest.mark.e2e
def test_render_writes_a_non_silent_wav_at_the_model_rate(trained):
    model, out = trained
    wav = out / "render.wav"
    assert main(["render", "--model", str(model), "--xy", "0.3", "0.7", "-o", str(wav)]) == 0
    audio, rate = sf.read(str(wav))
    assert rate == 44100 and audio.ndim == 1
    assert len(audio) == round(0.5 * 44100)
    assert np.sqrt(np.mean(audio**2)) > 1e-3  # not silent
    assert main(["render", "--model", str(model), "--xy", "0.3", "0.7", "-o", str(wav)]) == 2  # no --force
    assert main(["render", "--model", str(model), "--xy", "0.3", "0.7", "-o", str(wav), "--force"]) == 0


@pytest.mark.slow
@pytest.mark.e2e
def test_second_training_run_decodes_nothing(trained, synth_kit, capsys):
    _, out = trained
    code = main(["train", "--data", str(synth_kit), "-o", str(out / "again"), "--config", str(TINY),
                 "--cache", str(out / "cache"), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "trained on 30 files (30 from cache)" in printed
    assert "skipped" in printed and "garbage.wav" in printed


@pytest.mark.slow
@pytest.mark.e2e
def test_info_prints_the_card(trained, capsys):
    model, _ = trained
    assert main(["info", "--model", str(model)]) == 0
    text = capsys.readouterr().out
    assert "44100 Hz" in text and "kick" in text and "parameters" in text


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("xy", [["nan", "0.5"], ["0.5", "inf"]])
def test_render_refuses_nan_and_inf(trained, xy, capsys):
    model, out = trained
    assert main(["render", "--model", str(model), "--xy", *xy, "-o", str(out / "bad.wav")]) == 2
    assert "finite" in capsys.readouterr().err
    assert not (out / "bad.wav").exists()
