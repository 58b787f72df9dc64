"""``gesam serve`` as a process: `quit`, Ctrl-D and the end of piped input stop it; --daemon
serves without a console until SIGTERM; a SIGTERM at any moment of start-up ends it cleanly,
leaving no shared memory behind; on a terminal the console edits lines and keeps a history."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_message import OscMessage

from tests.tiny import tiny_model
from tests.waiting import wait_for, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "model"
    tiny_model(0.3).save(path)
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bake cache for the module: the first serve bakes, the others load it."""
    return tmp_path_factory.mktemp("cache")


def _serve(model_dir: Path, cache: Path, stdin: int | None, *extra: str, **kw: object) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir), "--osc-port", "0",
           "--cache", str(cache), "--device", "no-such-device", *extra]
    return subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def gesam_shm(pid: int) -> list[str]:
    """The shared-memory segments process ``pid`` made (runtime/audio_process.py names them)."""
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(f"gesam-{pid}-"))


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 120) -> list[str]:
    """Lines of ``proc``'s output up to the first holding ``marker`` (fails on its end or timeout)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} in the output: {''.join(lines)}")


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return out


def test_quit_stops_serve_even_with_osc_listening(model_dir: Path, cache: Path) -> None:
    proc = _serve(model_dir, cache, subprocess.PIPE, "-q")
    out, _ = proc.communicate("play 0.3 0.7\nquit\n", timeout=120)
    assert proc.returncode == 0, out
    assert "Traceback" not in out


def test_the_end_of_piped_input_stops_serve(model_dir: Path, cache: Path) -> None:
    """Ctrl-D (the end of the console's input) stops serve, as the prompt says, OSC or not."""
    proc = _serve(model_dir, cache, subprocess.PIPE)
    try:
        out, _ = proc.communicate("move 0.2 0.8\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "cursor (0.2, 0.8)" in out
    assert "stopped (end of console input" in out and "Traceback" not in out
    assert not gesam_shm(proc.pid)


def _osc_ping(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(OscMessageBuilder("/gesam/ping").build().dgram, ("127.0.0.1", port))
        data, _ = s.recvfrom(65536)
    return OscMessage(data).address == "/gesam/pong"


def test_daemon_serves_without_a_console_until_sigterm(model_dir: Path, cache: Path) -> None:
    proc = _serve(model_dir, cache, subprocess.DEVNULL, "--daemon")  # stdin at its end from the start
    try:
        lines = read_until(proc, "serving without a console")
        port = int(next(line for line in lines if line.startswith("listening for OSC")).strip().rsplit(":", 1)[1])
        assert _osc_ping(port)  # a closed stdin did not stop it: OSC answers
        assert proc.poll() is None
        assert gesam_shm(proc.pid)
        proc.send_signal(signal.SIGTERM)
        out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(lines) + out
    assert "stopped (SIGTERM)" in out and "Traceback" not in out
    assert not gesam_shm(proc.pid)


def _mapped(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


MOMENTS: dict[str, Callable[[subprocess.Popen[str]], bool]] = {
    "right after spawn": lambda proc: True,
    "while torch loads": lambda proc: _mapped(proc.pid, "libtorch"),
    "once the output's shared memory exists": lambda proc: bool(gesam_shm(proc.pid)),
}


@pytest.mark.reliability
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_sigterm_during_start_up_exits_cleanly_and_leaves_no_shared_memory(model_dir: Path, tmp_path: Path,
                                                                          moment: str) -> None:
    """SIGTERM at several moments of start-up (a fresh bake cache makes start-up long): serve ends
    with 0 (or, before Python has run a line of gesam, by the signal itself), never with a traceback,
    and no gesam segment stays in /dev/shm."""
    proc = _serve(model_dir, tmp_path / "cache", subprocess.DEVNULL, "--daemon")
    try:
        wait_for(lambda: MOMENTS[moment](proc) or proc.poll() is not None, timeout=120)
        assert proc.poll() is None, "serve ended on its own"
        proc.send_signal(signal.SIGTERM)
        out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    allowed = (0, -signal.SIGTERM) if moment == "right after spawn" else (0,)
    assert proc.returncode in allowed, out
    assert "Traceback" not in out
    assert wait_until(lambda: not gesam_shm(proc.pid), 10), gesam_shm(proc.pid)


# ---- a terminal: readline editing, history, completion --------------------------------------------------------

class Terminal:
    """``gesam serve`` on a pseudo-terminal (stdin, stdout and stderr), as typed by a person."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.seen = b""

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def expect(self, text: str, timeout: float = 120) -> None:
        """Wait until ``text`` has appeared in the output since the last expect."""
        want = text.encode()
        deadline = time.monotonic() + timeout
        while want not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                raise AssertionError(f"no {text!r} on the terminal; it showed {self.seen.decode(errors='replace')!r}")
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                raise AssertionError(f"the terminal closed before {text!r}: {self.seen.decode(errors='replace')!r}")
            self.seen += chunk
        self.seen = self.seen[self.seen.index(want) + len(want):]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


@pytest.fixture()
def terminal(model_dir: Path, cache: Path, tmp_path: Path) -> Iterator[Terminal]:
    env = {**os.environ, "TERM": "xterm", "GESAM_CACHE": str(tmp_path / "home-cache")}
    t = Terminal([sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir), "--no-osc",
                  "--cache", str(cache), "--device", "no-such-device"], env)
    yield t
    t.close()


def test_the_terminal_console_edits_lines_keeps_history_and_stops_on_ctrl_d(terminal: Terminal, tmp_path: Path) -> None:
    t = terminal
    t.expect("gesam> ")
    t.type("move 0.1 0.9\r")
    t.expect("cursor (0.1, 0.9)")
    t.expect("gesam> ")
    t.type("move 0.3 0.4" + "\x01" + "\x06" * 5 + "\x04" * 7 + "\x05" + "0.7 0.6\r")
    # Ctrl-A (start of line), 5 x Ctrl-F (after "move "), 7 x Ctrl-D deletes "0.3 0.4", Ctrl-E (end), retype
    t.expect("cursor (0.7, 0.6)")
    t.expect("gesam> ")
    t.type("\x1b[A\x1b[A\r")  # up, up: the first line again
    t.expect("cursor (0.1, 0.9)")
    t.expect("gesam> ")
    t.type("he\t\r")  # Tab completes the command name
    t.expect("quit ")
    t.expect("gesam> ")
    t.type("\x04")  # Ctrl-D on an empty line stops serve
    t.expect("stopped (end of console input")
    assert t.proc.wait(timeout=60) == 0
    history = (tmp_path / "home-cache" / "console_history").read_text().splitlines()
    assert [h for h in history if not h.startswith("_HiStOrY")][-4:] == [
        "move 0.1 0.9", "move 0.7 0.6", "move 0.1 0.9", "help "]  # completion adds the space


def test_the_terminal_console_reads_its_history_back(terminal: Terminal, tmp_path: Path, model_dir: Path,
                                                    cache: Path) -> None:
    t = terminal
    t.expect("gesam> ")
    t.type("move 0.25 0.75\r")
    t.expect("cursor (0.25, 0.75)")
    t.type("quit\r")
    assert t.proc.wait(timeout=60) == 0
    env = {**os.environ, "TERM": "xterm", "GESAM_CACHE": str(tmp_path / "home-cache")}
    again = Terminal([sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir), "--no-osc",
                      "--cache", str(cache), "--device", "no-such-device"], env)
    try:
        again.expect("gesam> ")
        again.type("\x1b[A\x1b[A\r")  # quit, then the move before it: from the last session
        again.expect("cursor (0.25, 0.75)")
        again.type("quit\r")
        assert again.proc.wait(timeout=60) == 0
    finally:
        again.close()
