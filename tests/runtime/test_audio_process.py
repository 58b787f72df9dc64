"""The audio process and its shared memory: named for the process that made it, unlinked on
close, never left behind when the engine dies without closing (SIGKILL), and no torch in it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gesam_engine.runtime.audio_process import AudioOutput
from gesam_engine.runtime.mixer import MixerSpec
from gesam_engine.runtime.shared_audio import AudioLayout
from tests.runtime.jack_harness import JackServer, jack_server  # noqa: F401  (fixture)
from tests.waiting import wait_until



def test_shared_memory_is_named_for_its_process_and_unlinked_on_close() -> None:
    out = AudioOutput("no-such-device", AudioLayout(48000, 256, 2, 40, 16, 48000), MixerSpec, 512)
    name = out.shared.shm.name
    assert name.startswith(f"gesam-{os.getpid()}-")
    assert Path("/dev/shm", name).exists()
    out.close()  # never opened: the segment goes all the same
    assert not Path("/dev/shm", name).exists()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


CHILD = """
import sys, time
import torch  # the engine has torch loaded; the audio process must not
from gesam_engine.runtime.audio_process import AudioOutput, PID
from gesam_engine.runtime.mixer import MixerSpec
from gesam_engine.runtime.shared_audio import AudioLayout
out = AudioOutput("", AudioLayout(48000, 1024, 2, 40, 16, 48000), MixerSpec, 2048)
ok = out.open()
print(ok, out.shared.shm.name, int(out.shared.control[PID]), out.message, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.reliability
def test_a_killed_engine_leaves_no_playing_child_and_no_shared_memory(jack_server: JackServer) -> None:  # noqa: F811
    """SIGKILL runs no cleanup: the child must notice its parent is gone, stop, and let the
    segment go (Python's resource tracker unlinks it once nobody holds it)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    child = "0"
    try:
        assert proc.stdout is not None
        ok, name, child, message = proc.stdout.readline().split(" ", 3)
        assert ok == "True", message
        assert "playing on 'system' (JACK Audio Connection Kit)" in message
        assert _alive(int(child)) and Path("/dev/shm", name).exists()
        maps = Path(f"/proc/{child}/maps").read_text()
        assert "libtorch" not in maps and "libportaudio" in maps  # it plays, and torch stays in the engine
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert wait_until(lambda: not _alive(int(child)), 10), "the audio child plays on without its engine"
        assert wait_until(lambda: not Path("/dev/shm", name).exists(), 10), f"{name} left in /dev/shm"
    finally:
        if proc.poll() is None:
            proc.kill()
        if int(child) and _alive(int(child)):  # an orphan would hold our pipe open for ever
            os.kill(int(child), signal.SIGKILL)
        proc.communicate(timeout=30)
