"""``gesam learn`` against a real OSC server on UDP (the controller stands in for the engine's MIDI)."""

import socket

from gesam_engine.cli.main import main
from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer


def _server(on_learn) -> OscServer:
    server = OscServer(Controller(engine=None, on_learn=on_learn), "127.0.0.1", 0)
    server.bind()
    return server.start()


def test_learn_arms_the_running_engine(capsys):
    armed: list[str] = []
    server = _server(armed.append)
    try:
        assert main(["learn", "y", "--osc-port", str(server.address[1])]) == 0
    finally:
        server.stop()
    assert armed == ["y"]
    assert "armed for y" in capsys.readouterr().out


def test_an_engine_without_midi_answers_with_its_reason(capsys):
    server = _server(None)
    try:
        assert main(["learn", "x", "--osc-port", str(server.address[1])]) == 2
    finally:
        server.stop()
    assert "refused" in capsys.readouterr().err


def test_no_engine_is_a_clear_error(capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["learn", "x", "--osc-port", str(port), "--timeout", "0.5"]) == 2
    assert "no answer from an engine" in capsys.readouterr().err
