"""Nothing typed or piped into ``gesam serve``'s console stops it: hostile numbers, sleeps that
used to kill it (-1, nan, inf, huge), bytes that are not text, endless lines. Each is answered
with an error, the engine keeps its state, and `quit` still ends it with 0."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tiny import tiny_model

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.e2e]

HOSTILE = [
    b"sleep -1", b"sleep nan", b"sleep inf", b"sleep -inf", b"sleep 1e400", b"sleep 1e9", b"sleep 3601",
    b"sleep 99999999999999999999999", b"sleep 0x10", b"sleep", b"sleep 1 2",
    b"move nan nan", b"move inf -inf", b"move 1e999 0", b"play nan 0.5", b"play 0.5 0.5 nan", b"trigger inf",
    b"trigger 1 1e308", b"trigger 1 nan", b"gain nan", b"gain -1", b"gain 1e308", b"gain inf",
    b"pad 99999999999999999999999999999999", b"pad -1", b"pad 1 inf", b"setpad 1 nan 0", b"setpad 1e3 0 0",
    b"note 99999999999999999999 100", b"note 60 -5", b"note 60 1000", b"note 1.5 2",
    b"fx reverb room_size nan", b"fx reverb room_size inf", b"fx reverb room_size 1e400", b"fx nope x 1",
    b"fx reverb nope 1", b"fx reverb room_size",
    b"9" * 5000, b"pad " + b"9" * 5000, b"move " + b"1" * 100000 + b" 0",
    b"\xff\xfe\x00\x01 bytes", b"\x1b[A\x1b[B", b"\x00", b"m\xc3\xa9ve 1 2", b"\xe2\x80\xae trigger",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console") / "model"
    tiny_model(0.3).save(path)
    return path


def test_no_console_line_stops_serve(model_dir: Path, tmp_path: Path) -> None:
    script = b"move 0.25 0.75\n" + b"\n".join(HOSTILE) + b"\nstate\nquit\n"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}  # a strict terminal encoding, as in a UTF-8 locale
    cmd = [sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir), "--no-osc",
           "--cache", str(tmp_path / "cache"), "--device", "no-such-device", "-q"]
    t0 = time.monotonic()
    run = subprocess.run(cmd, input=script, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, env=env)
    elapsed = time.monotonic() - t0
    out = run.stdout.decode("utf-8", "replace")
    assert run.returncode == 0, out
    assert "Traceback" not in out
    lines = out.splitlines()
    assert lines[0] == "cursor (0.25, 0.75)"
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == len(HOSTILE), "\n".join(lines)
    assert not any("a bug in gesam" in e for e in errors), "\n".join(errors)
    assert lines[-1].startswith('{"cursor": [0.25, 0.75]')  # `state` answers; nothing moved the cursor
    assert elapsed < 120  # no refused sleep was slept


def test_a_huge_line_and_a_flood_of_bad_lines_are_answered_and_survived(model_dir: Path, tmp_path: Path) -> None:
    script = b"x" * 5_000_000 + b"\n" + b"sleep -1\n" * 5000 + b"state\nquit\n"
    cmd = [sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir), "--no-osc",
           "--cache", str(tmp_path / "cache"), "--device", "no-such-device", "-q"]
    run = subprocess.run(cmd, input=script, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = run.stdout.decode("utf-8", "replace")
    assert run.returncode == 0, out[-2000:]
    lines = out.splitlines()
    assert lines[0].startswith("error: unknown command 'xxxxxxxx") and len(lines[0]) < 300
    assert lines[1:-1] == ["error: usage: sleep SECONDS (0 to 3600 seconds, got -1)"] * 5000
    assert lines[-1].startswith('{"cursor": [0.5, 0.5]')
