"""The Pure Data sampler twin end to end, headless: a real Engine (tiny model) behind a real OSC
server writes its sound files; Pd (``gesam_sampler.pd``, only its ports changed) asks for them on
load, reads the WAVs, plays a pad on a note, and its [writesf~] records what it played, which must
be the engine's sound of that pad at the note's velocity, sample for sample (to the 24-bit step).
A pad changed in the engine is pushed to Pd, which reloads it and plays the new sound."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.cli.serve_cmd import osc_push
from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer
from osc_bridge.sound_files import SoundFiles
from tests.max_patches.test_patches import PATCHES
from tests.max_patches.test_pd_osc import free_port, pd_errors
from tests.osc_bridge import make_engine
from tests.part_required import missing_part
from tests.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

LSB = 2.0 ** -23  # one step of the 24-bit files


class PdProcess:
    """Pd running the sampler twin: its Pd-window lines as they come, and FUDI orders to its control port."""

    def __init__(self, patch: Path, control_port: int, rate: int) -> None:
        self.control_port = control_port
        self.lines: list[str] = []
        self.proc = subprocess.Popen(["pd", "-nogui", "-noaudio", "-nomidi", "-stderr", "-r", str(rate),
                                      "-open", patch.name], cwd=patch.parent, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> int:
        """How many Pd-window lines were exactly ``text``."""
        return sum(line == text for line in list(self.lines))

    def loaded(self, slot: str) -> list[int]:
        """The sample counts of every 'loaded slot N' so far."""
        prefix = f"gesam-sampler: loaded {slot} "
        return [int(line[len(prefix):]) for line in list(self.lines) if line.startswith(prefix)]

    def order(self, *messages: str) -> None:
        """FUDI messages (``note 39 100``, ``record start``, ...) to the control port, a datagram each
        (Pd 0.53's UDP [netreceive] reads one message from each)."""
        for m in messages:
            self.sock.sendto(f"{m};\n".encode(), ("127.0.0.1", self.control_port))

    def close(self) -> None:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The engine, its OSC server with sound files (feedback to Pd's port) and Pd with the twin loaded."""
    if shutil.which("pd") is None:
        missing_part("Pure Data is not installed (apt-get install puredata-core)")
    directory = tmp_path_factory.mktemp("pd_sampler")
    engine = make_engine(directory)
    engine.set_pad(3, 0.15, 0.2)
    engine.set_pad(12, 0.85, 0.9)
    wait_for(lambda: engine.is_ready((0.15, 0.2)) and engine.is_ready((0.85, 0.9)), timeout=60)
    pd_port, control_port = free_port(), free_port()
    sound_files = SoundFiles(engine, directory / "live")
    server = OscServer(Controller(engine, directory, on_sounds=sound_files.replies), "127.0.0.1", 0,
                       feedback=("127.0.0.1", pd_port)).start()
    sound_files.push = osc_push(server)
    sound_files.start()
    text = (PATCHES / "gesam_sampler.pd").read_text()
    for old in ("connect 127.0.0.1 9000", "netreceive -u -b 9002", "netreceive -u 9003"):
        assert text.count(old) == 1, old
    text = (text.replace("connect 127.0.0.1 9000", f"connect 127.0.0.1 {server.address[1]}")
                .replace("netreceive -u -b 9002", f"netreceive -u -b {pd_port}")
                .replace("netreceive -u 9003", f"netreceive -u {control_port}"))
    patch = directory / "pd" / "gesam_sampler.pd"
    patch.parent.mkdir()
    patch.write_text(text)
    pd = PdProcess(patch, control_port, engine.sample_rate)
    try:
        yield {"engine": engine, "pd": pd, "files": sound_files, "dir": directory}
    finally:
        pd.close()
        sound_files.stop()
        server.stop()
        engine.stop()


def record(pd: PdProcess, path: Path, note: int, velocity: int, slot: str) -> np.ndarray:
    """What Pd plays for one note: [writesf~] (32-bit float) from before the note to after its end."""
    played = pd.said(f"gesam-sampler: played {slot}")
    pd.order(f"record open -bytes 4 {path}", "record start")
    pd.order(f"note {note} {velocity}")
    wait_for(lambda: pd.said(f"gesam-sampler: played {slot}") > played, timeout=20)
    pd.order("record stop")

    def complete() -> bool:
        try:
            return sf.info(str(path)).frames > 0 and sf.read(str(path), dtype="float32")[0].size == sf.info(str(path)).frames
        except (RuntimeError, OSError):
            return False

    wait_for(complete, timeout=20)
    data, _ = sf.read(str(path), dtype="float32")
    return np.asarray(data, dtype=np.float64).reshape(-1)


def aligned(captured: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``captured`` cut to where ``expected`` sits in it (its first sound on the expected's first), the
    rest checked silent: Pd played that one sound and nothing else."""
    first_e = int(np.flatnonzero(expected)[0])
    first_c = int(np.flatnonzero(captured)[0])
    start = first_c - first_e
    assert start >= 0 and start + expected.size <= captured.size, (start, captured.size, expected.size)
    assert not np.any(captured[:start]) and not np.any(captured[start + expected.size:])
    return captured[start:start + expected.size]


def written(files: SoundFiles, slot: str, engine_wave: np.ndarray) -> np.ndarray:
    """The slot's WAV as the engine wrote it (what Pd reads), checked to be the engine's sound."""
    path = files.path(slot)
    assert path is not None
    data, _ = sf.read(str(path), dtype="float64")
    assert data.shape == engine_wave.shape and np.max(np.abs(data - engine_wave)) <= LSB
    return np.asarray(data)


def test_pd_asks_on_load_reads_every_slot_and_plays_a_pad_as_the_engine_made_it(rig: dict[str, Any]) -> None:
    engine, pd, files = rig["engine"], rig["pd"], rig["files"]
    wait_for(lambda: all(pd.loaded(slot) for slot in ["cursor", *(f"pad{n}" for n in range(16))]), timeout=30)
    pad3, _ = engine.sound_for(engine.pad(3).xy)
    pad12, _ = engine.sound_for(engine.pad(12).xy)
    assert pd.loaded("pad3")[-1] == pad3.size == pad12.size  # the whole WAV, every sample
    gain = np.float32(100 / 127)  # velocity 100, as Pd computes it
    expected = written(files, "pad3", pad3) * gain
    got = aligned(record(pd, rig["dir"] / "pad3.wav", 39, 100, "pad3"), expected)  # note 39 = pad 3
    assert np.max(np.abs(got)) > 1e-3  # not silent
    assert np.max(np.abs(got - expected)) <= 1e-6  # the engine's sound at velocity 100/127 (float32 products)
    assert np.max(np.abs(got - pad3 * gain)) <= LSB + 1e-6
    assert np.max(np.abs(got - pad12 * gain)) > 1e-3  # pad 3's sound, not pad 12's
    assert pd_errors("\n".join(pd.lines)) == []


def test_a_pad_changed_in_the_engine_is_pushed_reloaded_and_played(rig: dict[str, Any]) -> None:
    engine, pd, files = rig["engine"], rig["pd"], rig["files"]
    wait_for(lambda: bool(pd.loaded("pad7")), timeout=30)
    before = files.path("pad7")
    pad = engine.set_pad(7, 0.93, 0.07)
    wait_for(lambda: len(pd.loaded("pad7")) >= 2, timeout=60)  # the engine pushed it, Pd read it
    assert files.path("pad7") != before
    new, _ = engine.sound_for(pad.xy)
    got = aligned(record(pd, rig["dir"] / "pad7.wav", 43, 127, "pad7"), written(files, "pad7", new))
    assert np.max(np.abs(got)) > 1e-3
    assert np.max(np.abs(got - new)) <= LSB + 1e-6  # velocity 127: the new sound itself
    assert pd_errors("\n".join(pd.lines)) == []
