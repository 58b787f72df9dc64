"""Pure Data itself: the OSC recipe and the Pd twin, run headless, decoded with python-osc.

The datagrams go to a plain UDP socket the test binds to port 0 (the engine's OSC server has its
own tests); feedback is sent to the twin with python-osc's builder and checked in Pd's console.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from tests.max_patches.test_patches import PATCHES

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

# Opened after the twin: plays its controls through their receive names, then takes orders from
# the test on its own port (/harness/y v moves the Y slider, /harness/quit quits; 20 s at most).
HARNESS_TEMPLATE = """#N canvas 0 0 300 200 12;
#X obj 10 10 loadbang;
#X msg 10 40 \\; gesam-x 0.25 \\; gesam-y 0.75 \\; gesam-velocity 0.5 \\; gesam-trigger bang \\; gesam-pad-3 bang \\; gesam-gain 2 \\; gesam-panic bang;
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
"""  # noqa: E501 - a Pd message box is one line of the patch file


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


def test_the_pd_twin_sends_its_controls_and_shows_feedback(tmp_path: Path, listener: socket.socket) -> None:
    feedback_port, harness_port = free_port(), free_port()
    text = (PATCHES / "gesam_xy.pd").read_text()
    assert text.count("connect 127.0.0.1 9000") == 1 and text.count("netreceive -u -b 9001") == 1
    text = text.replace("connect 127.0.0.1 9000", f"connect 127.0.0.1 {listener.getsockname()[1]}")
    (tmp_path / "gesam_xy.pd").write_text(text.replace("netreceive -u -b 9001", f"netreceive -u -b {feedback_port}"))
    (tmp_path / "harness.pd").write_text(HARNESS_TEMPLATE.format(port=harness_port))
    proc = subprocess.Popen([*PD, "-open", "gesam_xy.pd", "-open", "harness.pd"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
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
                             osc("/gesam/error", "x must be a number"), osc("/gesam/pong"),
                             osc("/gesam/state/ready", 0.5, 0.25), osc("/gesam/state/features", 0.1, 0.2),
                             osc("/gesam/state/pad/3/xy", 0.1, 0.2)):
                out.sendto(datagram, ("127.0.0.1", feedback_port))
            time.sleep(0.3)
            out.sendto(osc("/harness/y", 0.6), ("127.0.0.1", harness_port))  # the user moves Y now
            address, args = receive(listener)  # the first datagram since the feedback: no echo
            assert address == "/gesam/xy" and args == pytest.approx([0.5, 0.6], abs=1e-3)  # x from the feedback
            out.sendto(osc("/harness/quit"), ("127.0.0.1", harness_port))
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    lines = stderr.splitlines()
    assert "gesam-error: x must be a number" in lines
    assert "gesam: engine answered ping" in lines
    assert "gesam-state: pad 3 xy 0.1 0.2" in lines  # other state goes to the Pd window ...
    assert not [line for line in lines if "features" in line]  # ... but not the features stream
    assert pd_errors(stderr) == []
