"""``gesam serve`` as a process: `quit` stops it; a closed console keeps OSC serving until SIGTERM."""

import signal
import subprocess
import sys
import time

import pytest

from tests.tiny import tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "model"
    tiny_model(0.3).save(path)
    return path


def _serve(model_dir, tmp_path, stdin):
    cmd = [sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir), "--osc-port", "0",
           "--cache", str(tmp_path / "cache"), "--device", "no-such-device", "-q"]
    return subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_quit_stops_serve_even_with_osc_listening(model_dir, tmp_path):
    proc = _serve(model_dir, tmp_path, subprocess.PIPE)
    out, _ = proc.communicate("play 0.3 0.7\nquit\n", timeout=60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out


def test_a_closed_console_keeps_serving_until_sigterm(model_dir, tmp_path):
    proc = _serve(model_dir, tmp_path, subprocess.DEVNULL)
    try:
        time.sleep(6)
        assert proc.poll() is None, "serve ended although OSC was still listening"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Traceback" not in out
