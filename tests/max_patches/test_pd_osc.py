"""Pure Data itself: the OSC recipe and the Pd twin, run headless, decoded with python-osc.

The datagrams go to a plain UDP socket the test binds to port 0 (and through the engine's own OSC
parser); feedback is sent to the twin with python-osc's builder and checked in Pd's console. One
test puts the twin in front of a real engine (tiny model) behind its real OSC server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from osc_bridge.commands import KitRandomize, KitUndo, Latency, Locate, PadLock
from osc_bridge.osc.parse import parse
from tests.max_patches.test_patches import PATCHES
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("pd") is None,
                                                   reason="Pure Data is not installed (apt-get install puredata-core)")]
PD = ["pd", "-nogui", "-noaudio", "-nomidi", "-stderr"]

# On load: connect, send /gesam/xy 0.25 0.75 and /gesam/trigger 1 as a Pd user would build them
# (REAL-PARTS.md), then quit. [t b b b b] fires right to left.
SEND_TEMPLATE = """#N canvas 0 50 450 300 12;
#X obj 10 10 loadbang;
#X obj 10 40 t b b b b;
#X msg 150 70 connect 127.0.0.1 {port};
#X msg 10 70 0.25 0.75;
#X obj 10 100 oscformat gesam xy;
#X msg 100 70 1;
#X obj 100 100 oscformat gesam trigger;
#X obj 10 130 list prepend send;
#X obj 10 160 list trim;
#X obj 10 190 netsend -u -b;
#X msg 300 70 \\; pd quit;
#X connect 0 0 1 0;
#X connect 1 0 10 0;
#X connect 1 1 5 0;
#X connect 1 2 3 0;
#X connect 1 3 2 0;
#X connect 2 0 9 0;
#X connect 3 0 4 0;
#X connect 4 0 7 0;
#X connect 5 0 6 0;
#X connect 6 0 7 0;
#X connect 7 0 8 0;
#X connect 8 0 9 0;
"""

# Opened after the twin: plays its controls through their receive names ({actions}: a message box's
# text, each message after '\\;'), then takes orders from the test on its own port (/harness/y v moves
# the Y slider, /harness/quit quits; 20 s at most).
HARNESS_TEMPLATE = """#N canvas 0 0 300 200 12;
#X obj 10 10 loadbang;
#X msg 10 40 {actions};
#X obj 10 70 netreceive -u -b {port};
#X obj 10 95 oscparse;
#X obj 10 120 list trim;
#X obj 10 145 route harness;
#X obj 10 170 route y quit;
#X obj 10 195 s gesam-y;
#X msg 100 195 \\; pd quit;
#X obj 200 10 delay 20000;
#X connect 0 0 1 0;
#X connect 0 0 9 0;
#X connect 2 0 3 0;
#X connect 3 0 4 0;
#X connect 4 0 5 0;
#X connect 5 0 6 0;
#X connect 6 0 7 0;
#X connect 6 1 8 0;
#X connect 9 0 8 0;
"""
PLAY = ("\\; gesam-x 0.25 \\; gesam-y 0.75 \\; gesam-velocity 0.5 \\; gesam-trigger bang \\; gesam-pad-3 bang "
        "\\; gesam-gain 2 \\; gesam-panic bang")
# lock pad 5 and free it, randomize, undo, locate a path with spaces (escaped as Pd writes them), ask the latency
KIT_AND_LOCATE = ("\\; gesam-lock-5 1 \\; gesam-lock-5 0 \\; gesam-randomize bang \\; gesam-undo bang "
                  "\\; gesam-locate symbol /tmp/My\\ Drums/kick\\ 1.wav \\; gesam-latency bang")


@pytest.fixture
def listener() -> Any:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


def receive(sock: socket.socket) -> tuple[str, list[Any]]:
    data, _ = sock.recvfrom(65536)
    msg = OscMessage(data)
    return msg.address, list(msg.params)


def osc(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pd_errors(stderr: str) -> list[str]:
    """Pd's own complaints (our patches' prints start with 'gesam')."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("gesam")]


def test_pd_sends_osc_the_engine_reads(tmp_path: Path, listener: socket.socket) -> None:
    patch = tmp_path / "send.pd"
    patch.write_text(SEND_TEMPLATE.format(port=listener.getsockname()[1]))
    proc = subprocess.run(["timeout", "10", *PD, "-batch", str(patch)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    address, args = receive(listener)
    assert address == "/gesam/xy" and args == pytest.approx([0.25, 0.75], abs=1e-6)  # float32
    assert receive(listener) == ("/gesam/trigger", [1.0])
    assert not pd_errors(proc.stderr)


def test_pd_loads_the_twin_and_saves_it_back_unchanged(tmp_path: Path) -> None:
    twin = tmp_path / "gesam_xy.pd"
    shutil.copy(PATCHES / "gesam_xy.pd", twin)
    twin.chmod(0o644)
    proc = subprocess.run(["timeout", "10", *PD, "-batch", "-send", "pd-gesam_xy.pd menusave; pd quit", str(twin)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and "saved to:" in proc.stderr, proc.stderr
    assert "couldn't create" not in proc.stderr
    assert [e for e in pd_errors(proc.stderr) if not e.startswith("saved to:")] == []
    assert twin.read_text() == (PATCHES / "gesam_xy.pd").read_text()  # every object and cord was accepted


def twin_in(directory: Path, engine_port: int, feedback_port: int, actions: str, harness_port: int) -> None:
    """The twin (sending to ``engine_port``, listening on ``feedback_port``) and a harness that plays
    ``actions`` on load, written into ``directory`` as gesam_xy.pd and harness.pd."""
    text = (PATCHES / "gesam_xy.pd").read_text()
    assert text.count("connect 127.0.0.1 9000") == 1 and text.count("netreceive -u -b 9001") == 1
    text = text.replace("connect 127.0.0.1 9000", f"connect 127.0.0.1 {engine_port}")
    (directory / "gesam_xy.pd").write_text(text.replace("netreceive -u -b 9001", f"netreceive -u -b {feedback_port}"))
    (directory / "harness.pd").write_text(HARNESS_TEMPLATE.format(actions=actions, port=harness_port))


class PdRun:
    """Pd with the twin and its harness open, headless; its Pd-window lines as they come."""

    def __init__(self, directory: Path, harness_port: int) -> None:
        self.harness_port = harness_port
        self.lines: list[str] = []
        self.proc = subprocess.Popen([*PD, "-open", "gesam_xy.pd", "-open", "harness.pd"], cwd=directory,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def said(self, prefix: str) -> list[str]:
        """The Pd-window lines so far that start with ``prefix``."""
        return [line for line in list(self.lines) if line.startswith(prefix)]

    def harness(self, address: str, *args: Any) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.sendto(osc(address, *args), ("127.0.0.1", self.harness_port))

    def quit(self) -> int:
        """Ask the harness to quit Pd; its exit status once every line is read."""
        self.harness("/harness/quit")
        code = self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)


@pytest.fixture
def pd_run(tmp_path: Path) -> Iterator[Any]:
    """Starts Pd in ``tmp_path`` (after ``twin_in`` wrote the patches there); killed at the end if still running."""
    runs: list[PdRun] = []

    def start(harness_port: int) -> PdRun:
        runs.append(PdRun(tmp_path, harness_port))
        return runs[-1]

    yield start
    for run in runs:
        run.close()


def test_the_pd_twin_sends_its_controls_and_shows_feedback(tmp_path: Path, listener: socket.socket,
                                                            pd_run: Any) -> None:
    feedback_port, harness_port = free_port(), free_port()
    twin_in(tmp_path, listener.getsockname()[1], feedback_port, PLAY, harness_port)
    pd = pd_run(harness_port)
    got = [receive(listener) for _ in range(7)]
    assert [a for a, _ in got] == ["/gesam/ping", "/gesam/xy", "/gesam/xy", "/gesam/trigger",
                                   "/gesam/pad/3/trigger", "/gesam/gain", "/gesam/panic"]
    assert got[0][1] == [] and got[6][1] == []
    assert got[1][1] == pytest.approx([0.25, 0.0], abs=1e-3)  # x moved; y still 0
    assert got[2][1] == pytest.approx([0.25, 0.75], abs=1e-3)
    assert got[3][1] == pytest.approx([0.5], abs=1e-3)  # the velocity slider
    assert got[4][1] == [1.0] and got[5][1] == pytest.approx([2.0], abs=1e-3)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        for datagram in (osc("/gesam/state/xy", 0.5, 0.25), osc("/gesam/state/class", "kick", "#e6194b"),
                         osc("/gesam/error", "x must be a number"), osc("/gesam/state/ready", 0.5, 0.25),
                         osc("/gesam/state/features", 0.1, 0.2), osc("/gesam/state/pad/3/xy", 0.1, 0.2),
                         osc("/gesam/pong")):
            out.sendto(datagram, ("127.0.0.1", feedback_port))
    wait_for(lambda: bool(pd.said("gesam: engine answered ping")))  # the last: Pd has taken them all
    pd.harness("/harness/y", 0.6)  # the user moves Y now
    address, args = receive(listener)  # the first datagram since the feedback: no echo
    assert address == "/gesam/xy" and args == pytest.approx([0.5, 0.6], abs=1e-3)  # x from the feedback
    assert pd.quit() == 0
    assert "gesam-error: x must be a number" in pd.lines
    assert "gesam-state: pad 3 xy 0.1 0.2" in pd.lines  # other state goes to the Pd window ...
    assert not [line for line in pd.lines if "features" in line]  # ... but not the features stream
    assert pd_errors("\n".join(pd.lines)) == []


def test_the_pd_twin_sends_kit_locks_locate_and_shows_their_feedback(tmp_path: Path, listener: socket.socket,
                                                                     pd_run: Any) -> None:
    feedback_port, harness_port = free_port(), free_port()
    twin_in(tmp_path, listener.getsockname()[1], feedback_port, KIT_AND_LOCATE, harness_port)
    pd = pd_run(harness_port)
    got = [receive(listener) for _ in range(7)]
    assert got == [("/gesam/ping", []), ("/gesam/pad/5/lock", [1]), ("/gesam/pad/5/lock", [0]),
                   ("/gesam/kit/randomize", []), ("/gesam/kit/undo", []),
                   ("/gesam/locate", ["/tmp/My Drums/kick 1.wav"]), ("/gesam/latency", [])]  # lock: OSC int
    assert [parse(a, args) for a, args in got[1:]] == [  # what the engine's parser makes of them
        PadLock(5, True), PadLock(5, False), KitRandomize(), KitUndo(), Locate("/tmp/My Drums/kick 1.wav"), Latency()]

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        for datagram in (osc("/gesam/state/latency", 4.5, 9.25, 3.0, 1.5, 0.0, 5.0),
                         osc("/gesam/state/kit", -1, "808"), osc("/gesam/state/pad/5/lock", 1),
                         osc("/gesam/state/locate", 0.3, 0.65, "snare")):
            out.sendto(datagram, ("127.0.0.1", feedback_port))
    wait_for(lambda: bool(pd.said("gesam-located:")))  # the last one: Pd has taken them all
    pd.harness("/harness/y", 0.6)  # the user moves Y now
    address, args = receive(listener)  # the first datagram since the feedback: no echo
    assert address == "/gesam/xy" and args == pytest.approx([0.3, 0.6], abs=1e-3)  # x from the located point
    assert pd.quit() == 0
    assert "gesam-located: 0.3 0.65 snare" in pd.lines and "gesam-kit: -1 808" in pd.lines
    assert "gesam-state: pad 5 lock 1" in pd.lines  # not routed: printed as other state
    assert not [line for line in pd.lines if line.startswith(("gesam-state: locate", "gesam-state: latency",
                                                              "gesam-state: kit", "gesam-feedback"))]
    assert pd_errors("\n".join(pd.lines)) == []


def _a_drum_hit(path: Path, rate: int = 44100) -> None:
    """A real WAV file: a 0.3 s pitched-down sine with a noisy click, decaying (a small kick)."""
    import numpy as np
    import soundfile as sf

    t = np.arange(int(0.3 * rate)) / rate
    hit = np.sin(2 * np.pi * (60 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    hit[:200] += np.random.default_rng(3).uniform(-0.5, 0.5, 200)
    sf.write(str(path), 0.8 * hit / np.max(np.abs(hit)), rate, subtype="PCM_24")


@pytest.mark.slow
def test_the_pd_twin_randomizes_and_locates_through_a_real_engine(tmp_path: Path, pd_run: Any) -> None:
    """Pd's lock, randomize and locate reach a real engine through its real OSC server, and the engine's
    answers (every pad's point, the kit, where the file landed) come back to Pd's feedback section."""
    from osc_bridge.controller import Controller
    from osc_bridge.osc.server import OscServer
    from tests.osc_bridge import make_engine

    wav = tmp_path / "my kick 1.wav"
    _a_drum_hit(wav)
    assert not set(str(wav)) & set(";,$\\{}")  # only spaces need escaping in the harness's message
    feedback_port, harness_port = free_port(), free_port()
    engine = make_engine(tmp_path)
    server = OscServer(Controller(engine, tmp_path), "127.0.0.1", 0, feedback=("127.0.0.1", feedback_port)).start()
    try:
        before = [engine.pad(n).xy for n in range(16)]
        escaped = str(wav).replace(" ", "\\ ")
        twin_in(tmp_path, server.address[1], feedback_port,
                f"\\; gesam-lock-5 1 \\; gesam-randomize bang \\; gesam-locate symbol {escaped}", harness_port)
        pd = pd_run(harness_port)
        wait_for(lambda: bool(pd.said("gesam-located:")) and bool(pd.said("gesam-kit:")), timeout=30)
        assert engine.pad(5).locked and engine.pad(5).xy == before[5]  # locked before the randomize
        assert all(engine.pad(n).xy != before[n] for n in range(16) if n != 5)
        assert pd.said("gesam-kit: -1")  # randomised: not a saved program
        [located] = pd.said("gesam-located:")
        x, y = (float(v) for v in located.split()[1:3])
        assert engine.cursor == pytest.approx((x, y), abs=1e-5)  # the engine moved there (Pd prints 6 digits)
        pd.harness("/harness/y", 0.25)  # the user moves Y: X is the located point's, kept quietly
        wait_for(lambda: engine.cursor == pytest.approx((x, 0.25), abs=1e-5), timeout=10)
        assert pd.quit() == 0
    finally:
        server.stop()
        engine.stop()
    assert not pd.said("gesam-error") and not pd.said("gesam-state: locate") and not pd.said("gesam-state: kit")
    assert len(pd.said("gesam-state: pad ")) >= 15  # the randomised pads' points, shown as other state
    assert pd_errors("\n".join(pd.lines)) == []
