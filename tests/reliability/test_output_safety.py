"""The output can never hurt: through the real bounce path (`gesam serve --output`, and the Engine
with its WAV output), gain 4 and 32 hits stay under full scale, an effect that goes NaN is
silenced, reset and reported while the music comes back, a panic silences a ringing Delay, and
nothing at run time reaches the limiter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.errors import ConfigError
from gesam_engine.runtime.engine import Engine
from gesam_engine.runtime.engine_config import load_serve_config, serve_config_from_dict
from gesam_engine.runtime.renderer import PANIC_FADE_MS
from osc_bridge.console import run_line
from osc_bridge.controller import Controller
from tests.tiny import tiny_model
from tests.waiting import wait_for

pytestmark = pytest.mark.reliability
SHIPPED = Path(__file__).parents[2] / "models" / "default"
RATE, BLOCK = 48000, 512
CEILING = 10 ** (-0.3 / 20)


@pytest.mark.slow
@pytest.mark.e2e
def test_a_gain_4_bounce_of_32_simultaneous_hits_stays_under_full_scale(tmp_path: Path) -> None:
    """Before the limiter this bounce peaked at 72x full scale (+37 dBFS; the 24-bit WAV clipped)."""
    wav = tmp_path / "x.wav"
    script = "gain 4\n" + "play 0.5 0.5\n" * 32 + "sleep 1.5\nquit\n"
    run = subprocess.run([sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(SHIPPED),
                          "--output", str(wav), "--no-osc", "--cache", str(tmp_path / "cache")],
                         input=script, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("played") == 32, run.stdout
    audio, rate = sf.read(str(wav), dtype="float64", always_2d=True)
    assert rate == RATE and audio.shape[0] > RATE
    peak = float(np.abs(audio).max())
    assert peak < 0.999, f"peak {peak}: {int((np.abs(audio) >= 0.999).sum())} samples at or above 0.999"
    assert peak < CEILING and peak > 0.5  # under the ceiling, and still loud: limited, not muted


def _engine(directory: Path, effects: list[dict[str, Any]]) -> Engine:
    config = serve_config_from_dict({"cache": {"bake_grid": 3}, "output": {"blocksize": BLOCK}, "effects": effects})
    return Engine(tiny_model(0.3), config, output_file=directory / "out.wav", realtime=True,
                  cache_dir=directory / "cache", progress=False)


@pytest.fixture
def alerts() -> list[dict[str, Any]]:
    return []


def _played_on(e: Engine, blocks: int) -> int:
    """Wait until the output played ``blocks`` more blocks; the block count then (the WAV frame / BLOCK)."""
    start = e.output.reader.blocks
    wait_for(lambda: e.output.reader.blocks >= start + blocks)
    return e.output.reader.blocks


def _wav(e: Engine) -> np.ndarray:
    audio, _ = sf.read(str(e.output.path), dtype="float64", always_2d=True)
    return audio


@pytest.fixture
def nan_engine(tmp_path: Path, alerts: list[dict[str, Any]]) -> Iterator[Engine]:
    e = _engine(tmp_path, [{"type": "Gain", "name": "boost", "params": {"gain_db": 0.0}},
                           {"type": "LadderFilter", "name": "lad", "params": {"cutoff_hz": 3000.0}}])
    e.add_listener(lambda event, data: alerts.append(data) if event == "alert" else None)
    e.start()
    yield e
    if e.started:
        e.stop()


def test_an_effect_that_goes_nan_is_silenced_reset_reported_and_the_music_comes_back(
        nan_engine: Engine, alerts: list[dict[str, Any]]) -> None:
    e = nan_engine
    with pytest.raises(ConfigError, match=r"'gain_db' must be in -100\.\.24 dB"):
        e.set_effect("boost", "gain_db", 1e9)  # the value that poisoned the output before
    e.play(0.5, 0.5)
    _played_on(e, 10)
    # a plug-in gone wrong anyway: force the refused value past the checks, straight into pedalboard
    e.output.mixer.renderer.effects._effects["boost"].plugin.gain_db = 1e9  # type: ignore[union-attr]  # the mixer's copy
    e.trigger()
    wait_for(lambda: len(alerts) > 0)
    assert alerts[0]["source"] == "effects" and "NaN or infinity" in alerts[0]["message"]
    assert e.metrics()["render"]["nonfinite_blocks"] > 0
    e.set_effect("boost", "gain_db", 0.0)  # the musician turns it back down
    wait_for(lambda: e.output.mixer.renderer.effects.describe()["boost"]["gain_db"] == 0.0)  # type: ignore[union-attr]
    fixed_at = _played_on(e, 3)
    e.trigger()
    end = _played_on(e, 30)
    e.stop()
    audio = _wav(e)
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() < CEILING
    assert np.abs(audio[fixed_at * BLOCK : end * BLOCK]).max() > 0.01, "no sound after the effects were fixed"


def test_panic_silences_a_delay_at_feedback_0_99_and_feedback_1_is_refused(tmp_path: Path) -> None:
    echo = {"type": "Delay", "name": "echo", "params": {"delay_seconds": 0.05, "feedback": 0.99, "mix": 0.5}}
    e = _engine(tmp_path, [echo]).start()
    try:
        e.play(0.5, 0.5)
        wait_for(lambda: e.active_voices() > 0)
        wait_for(lambda: e.active_voices() == 0)  # the hit is over; the echoes ring on
        ringing_from = _played_on(e, 5)
        asked_at = _played_on(e, 20)
        e.panic()
        end = _played_on(e, 40)
    finally:
        e.stop()
    audio = _wav(e)
    assert np.abs(audio[ringing_from * BLOCK : asked_at * BLOCK]).max() > 0.02  # it was ringing
    # the panic lands in the next rendered block (at most the ring's 8 blocks ahead), then the fade
    silent_from = (asked_at + 8) * BLOCK + round(PANIC_FADE_MS * RATE / 1000) + 48
    assert silent_from < end * BLOCK
    assert np.all(audio[silent_from : end * BLOCK] == 0), "the delay rang on after the panic"
    assert e.metrics()["render"]["panics"] == 1
    with pytest.raises(ConfigError, match=r"'feedback' must be in 0\.\.1 \(1 excluded\)"):
        e.set_effect("echo", "feedback", 1.0)  # it would never die away
    with pytest.raises(ConfigError, match=r"'feedback' must be in 0\.\.1 \(1 excluded\)"):
        _engine(tmp_path, [{**echo, "params": {"feedback": 1.0}}])


def test_nothing_at_run_time_reaches_the_limiter(tmp_path: Path, nan_engine: Engine) -> None:
    for line in ("fx limiter ceiling_db 0", "fx limiter enabled 0", "fx safety ceiling_db 0"):
        with pytest.raises(ConfigError, match="no effect named"):
            run_line(Controller(nan_engine), line)
    config = tmp_path / "engine.toml"
    config.write_text("[limiter]\nceiling_db = 0.0\n")
    with pytest.raises(ConfigError, match=r"limiter\.ceiling_db must be in -20\.\.-0\.1 dBFS \(the limiter "
                                          r"cannot be switched off\)"):
        load_serve_config(config)
    config.write_text("[limiter]\nenabled = false\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['enabled'\] in \[limiter\]"):
        load_serve_config(config)
    config.write_text("[limiter]\nceiling_db = -1.0\nlookahead_ms = 2.0\n")
    assert load_serve_config(config).limiter.ceiling_db == -1.0
    m = nan_engine.metrics()["limiter"]
    assert m["ceiling_db"] == -0.3 and m["latency_ms"] == 1.0 and m["nonfinite_blocks"] == 0
