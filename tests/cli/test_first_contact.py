"""First contact, as a new user meets gesam: the shipped model found from any folder (or
GESAM_MODEL), a readable `gesam info`, a short start-up with a working default effects chain,
and clear words when there is no sound card (or the device's name when there is one)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import soundfile as sf

from tests.runtime.jack_harness import JackServer, jack_server  # noqa: F401  (fixture)
from tests.tiny import tiny_model

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "default"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("first") / "model"
    tiny_model(0.3).save(path)
    return path


def gesam(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None,
          timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the gesam command (stdout and stderr together) in ``cwd``."""
    base = {k: v for k, v in os.environ.items() if k != "GESAM_MODEL"}
    return subprocess.run([sys.executable, "-m", "gesam_engine.cli.main", *args], cwd=cwd, env={**base, **(env or {})},
                          input=stdin if stdin is not None else "", stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def strict_json(text: str) -> object:
    def refuse(token: str) -> object:
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=refuse)


# ---- finding the model -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_info_finds_the_shipped_model_from_another_folder(tmp_path: Path) -> None:
    if not (SHIPPED / "model.json").is_file():
        pytest.fail("the repository ships models/default; it is missing")
    run = gesam("info", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert run.stdout.startswith(f"gesam model {SHIPPED}")


def test_gesam_model_names_the_model_for_every_command(model_dir: Path, tmp_path: Path) -> None:
    env = {"GESAM_MODEL": str(model_dir)}
    run = gesam("info", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout
    assert run.stdout.startswith(f"gesam model {model_dir}")
    run = gesam("render", "--xy", "0.5", "0.5", "-o", "here.wav", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout
    assert sf.info(str(tmp_path / "here.wav")).duration == pytest.approx(0.3, abs=0.01)  # the tiny model's length


def test_a_gesam_model_without_a_model_is_one_clear_line(tmp_path: Path) -> None:
    run = gesam("info", cwd=tmp_path, env={"GESAM_MODEL": str(tmp_path / "nothing")})
    assert run.returncode == 2
    assert run.stdout.strip().splitlines() == [
        f"gesam info: error: GESAM_MODEL={tmp_path / 'nothing'} has no model.json; point it at a model directory "
        "(one made by `gesam train`) or unset it to use the shipped model"]


# ---- gesam info ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_info_is_a_readable_card_and_json_on_request(tmp_path: Path) -> None:
    run = gesam("info", "--model", str(SHIPPED), cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    text = run.stdout
    assert "{" not in text and '"' not in text, text  # no raw JSON
    lines = text.splitlines()
    assert len(lines) <= 20 and max(map(len, lines)) <= 110, text
    assert "44100 Hz" in text and "kick 83" in text and "840 files" in text and "refine transformer" in text
    assert "    transformer             0.0289       64.6 %" in lines
    card = strict_json(gesam("info", "--model", str(SHIPPED), "--json", cwd=tmp_path).stdout)
    assert card["evaluation"]["methods"]["transformer"]["frame_mae"] == 0.0289  # type: ignore[index]


# ---- gesam serve's start ---------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.e2e
def test_serve_starts_in_a_few_lines_with_the_advertised_effect_working(model_dir: Path, tmp_path: Path) -> None:
    run = gesam("serve", "--model", str(model_dir), "--cache", str(tmp_path / "c"), "--osc-port", "0",
                "--device", "no-such-device", cwd=tmp_path, stdin="fx reverb room_size 0.9\nstate\nquit\n")
    assert run.returncode == 0, run.stdout
    lines = run.stdout.splitlines()
    banner = lines[: next(i for i, line in enumerate(lines) if line.startswith("{"))]
    assert len([b for b in banner if not b.startswith("[output]")]) <= 4, banner
    assert banner[-1] == "type `help` for the commands, e.g. `play 0.3 0.7`; Ctrl-D or `quit` stops"
    assert "effects: reverb (Reverb), comp (Compressor); `fx reverb room_size 0.9` changes one" in banner
    assert "error" not in run.stdout, run.stdout  # the advertised command works with no --config
    assert "Traceback" not in run.stdout


@pytest.mark.slow
@pytest.mark.e2e
def test_a_config_without_effects_says_how_to_add_them(model_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "dry.toml"
    config.write_text("[engine]\ngain = 0.8\n")
    run = gesam("serve", "--model", str(model_dir), "--cache", str(tmp_path / "c"), "--no-osc", "--config", str(config),
                "--device", "no-such-device", cwd=tmp_path, stdin="fx reverb room_size 0.9\nquit\n")
    assert run.returncode == 0, run.stdout
    assert "effects: none (add [[effects]] tables to a --config TOML; " in run.stdout
    assert "default_serve.toml is an example)" in run.stdout
    assert "error: no effects are configured" in run.stdout


def _no_jack_env(tmp_path: Path) -> dict[str, str]:
    """No JACK server to find (a name nobody runs, and no auto-start)."""
    return {"JACK_DEFAULT_SERVER": f"gesam-none-{uuid.uuid4().hex[:8]}", "JACK_NO_START_SERVER": "1"}


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.reliability
def test_no_sound_card_says_what_to_do_and_never_says_played(model_dir: Path, tmp_path: Path) -> None:
    """The issue's machine: no sound card, no JACK. On a machine that has a sound card the same
    test names a device that does not exist instead."""
    env = _no_jack_env(tmp_path)
    devices = gesam("devices", cwd=tmp_path, env=env)
    assert devices.returncode == 0, devices.stdout
    none_here = devices.stdout.startswith("no audio output devices found")
    if none_here:
        assert "jackd --no-realtime -d dummy" in devices.stdout and "--output" in devices.stdout
    device = [] if none_here else ["--device", "no-such-device"]
    run = gesam("serve", "--model", str(model_dir), "--cache", str(tmp_path / "c"), "--no-osc", *device,
                cwd=tmp_path, env=env, stdin="metrics\nplay 0.3 0.7\ntrigger\nquit\n")
    assert run.returncode == 0, run.stdout
    out = run.stdout
    assert "Error querying device -1" not in out.split("{", 1)[0]  # the start line says it in words
    start = next(line for line in out.splitlines() if line.startswith("gesam: model"))
    if none_here:
        assert "no audio output found (PortAudio sees no sound card and no JACK server)" in start
        assert "jackd --no-realtime -d dummy" in start
    else:
        assert "cannot open 'no-such-device'" in start and "outputs available:" in start
    assert "--device" in start and "--output take.wav" in start
    metrics = strict_json(out[out.index("\n{") + 1: out.index("\n}") + 2])
    assert metrics["trigger_latency_ms"]["median"] is None  # type: ignore[index]
    assert metrics["output"]["state"] == "failed"  # type: ignore[index]
    replies = [line for line in out.splitlines() if line.startswith(("played", "not heard"))]
    assert len(replies) == 2 and all(r.startswith("not heard: the audio output is down (failed: ") for r in replies), out


@pytest.mark.slow
@pytest.mark.e2e
def test_on_jack_the_start_line_and_devices_name_the_device(jack_server: JackServer, model_dir: Path,  # noqa: F811
                                                           tmp_path: Path) -> None:
    devices = gesam("devices", cwd=tmp_path)
    assert devices.returncode == 0, devices.stdout
    assert "  system  (JACK Audio Connection Kit, 2 out, 48000 Hz)" in devices.stdout, devices.stdout
    run = gesam("serve", "--model", str(model_dir), "--cache", str(tmp_path / "c"), "--no-osc", "--blocksize", "1024",
                cwd=tmp_path, stdin="play 0.3 0.7\nquit\n")
    assert run.returncode == 0, run.stdout
    start = next(line for line in run.stdout.splitlines() if line.startswith("gesam: model"))
    assert "; playing on 'system' (JACK Audio Connection Kit) at 48000 Hz, block 1024" in start, start
    # what a DAW compensates: block 21.3 + limiter 1.0 + JACK's output latency (one period here)
    assert re.search(r"; latency to the device (\d+\.\d) ms a trigger, (\d+\.\d) ms timed", start), start
    assert any(line.startswith("played ") for line in run.stdout.splitlines()), run.stdout
