"""A real JACK server (dummy backend, paced, no sound card) and a recorder of what it played.

The dummy driver with ``-m`` mirrors playback on ``system:monitor_*``; the recorder is a
JACK-Client that captures those ports sample-accurately.

Robust on a busy machine: jackd gets a long client timeout (``-t``), because a non-realtime
server zombifies a client whose process callback misses its deadline (then its ports lose their
names, ``connect`` fails with ``'system:monitor_2' -> ''`` and a later ``get_array`` can touch
freed memory). The recorder connects by port names after the monitor ports exist, its process
callback never raises, and a shutdown by the server is reported by ``take()`` instead of crashing.

JACK keeps at most 8 servers in a shared-memory registry, and a jackd that was killed (a crashed
run) leaves its entry behind. jackd reclaims a dead entry only for a server of the same name, so
the test servers take their names from a fixed pool of 8 (``gesam-test-0`` .. ``-7``, skipping
one that runs): whatever a crash left behind is reused by the next run instead of piling up.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from typing import Iterator

import numpy as np
import pytest

from tests.part_required import missing_part
from tests.waiting import wait_until  # noqa: F401  (re-exported for the e2e tests)

CLIENT_TIMEOUT_MS = 4000  # jackd -t: how long a slow client may take before the server drops it
# jackd waits up to the client timeout for a client that died without closing before it exits on
# SIGTERM; a SIGKILLed jackd leaves its entry in JACK's shared-memory registry (8 entries at most:
# then every jackd says "Too many servers already active"). So stop() waits well past the timeout.
STOP_TIMEOUT_S = 10 * CLIENT_TIMEOUT_MS / 1000  # a loaded machine stretched it past 17 s once


def jack_available() -> bool:
    """True when jackd and the JACK-Client module are installed."""
    try:
        import jack  # noqa: F401
    except (ImportError, OSError):
        return False
    return shutil.which("jackd") is not None and shutil.which("jack_wait") is not None


class JackServer:
    """jackd -n NAME --no-realtime -t TIMEOUT -d dummy -m, with start/stop for device-loss tests."""

    def __init__(self, rate: int = 48000, period: int = 1024, realtime: bool = False) -> None:
        """``realtime``: run jackd with realtime scheduling (-R), as musicians do; it needs the right to
        (root, or an rtprio limit). Tests keep it off, so they run anywhere."""
        self.name = ""  # chosen from NAME_POOL by start()
        self.rate, self.period, self.realtime = rate, period, realtime
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start jackd under the first free pool name and wait until it accepts clients.

        If JACK's registry is full of entries under other names and no jackd runs at all, the
        registry is cleared once, but only before this process has opened a JACK client (libjack
        keeps the old registry mapped in a process that has).
        """
        logs = []
        for name in NAME_POOL:
            if _server_running(name):
                continue
            log = self._start_once(name)
            if log is None:
                return
            logs.append(f"{name}: {log.strip()}")
            if "Too many servers" in log:
                if _jackd_running() or _STATE["clients_opened"]:
                    break
                _clear_stale_jack_shm()
                _STATE["clients_opened"] = True  # clear at most once per process
                if self._start_once(name) is None:
                    return
        raise RuntimeError("no JACK test server could start:\n" + "\n".join(logs[-3:]))

    def _start_once(self, name: str) -> str | None:
        """Start jackd as ``name``; None when it serves, else what it printed."""
        cmd = ["jackd", "-n", name, *(["-R", "-P", "70"] if self.realtime else ["--no-realtime"]),
               "-t", str(CLIENT_TIMEOUT_MS), "-d", "dummy", "-m", "-r", str(self.rate), "-p", str(self.period)]
        self.name = name
        with tempfile.TemporaryFile() as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
            waited = subprocess.run(["jack_wait", "-s", name, "-w", "-t", "10"], capture_output=True)
            if waited.returncode == 0 and self.proc.poll() is None:
                return None
            self.stop()
            out.seek(0)
            return out.read().decode(errors="replace")

    def stop(self) -> None:
        """Stop jackd (SIGTERM; SIGKILL only if it hangs past STOP_TIMEOUT_S) and reap it."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


NAME_POOL = tuple(f"gesam-test-{i}" for i in range(8))  # JACK's registry holds 8 servers
_STATE = {"clients_opened": False}  # whether this process has opened a JACK client yet


def _server_running(name: str) -> bool:
    """Whether a JACK server of that name answers now."""
    return subprocess.run(["jack_wait", "-s", name, "-c"], capture_output=True, text=True).stdout.strip() == "running"


def _jackd_running() -> bool:
    """Whether any jackd process runs on this machine (then no registry entry may be cleared)."""
    return subprocess.run(["pgrep", "-x", "jackd"], capture_output=True).returncode == 0


def _clear_stale_jack_shm() -> None:
    """Remove JACK's shared-memory registry and segments, when no jackd runs: all are stale."""
    for path in glob.glob("/dev/shm/jack*"):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


class Recorder:
    """Captures ``system:monitor_1..channels`` into memory while active. Use as a context manager."""

    def __init__(self, server: str, channels: int = 2, seconds: float = 30.0) -> None:
        import jack

        _STATE["clients_opened"] = True
        self.client = jack.Client(f"recorder-{uuid.uuid4().hex[:6]}", servername=server, no_start_server=True)
        self.rate = self.client.samplerate
        self.buffer = np.zeros((int(seconds * self.rate), channels), dtype=np.float32)
        self.frames = 0
        self.shutdown_reason: str | None = None
        self.callback_error: str | None = None
        self.ports = [self.client.inports.register(f"in_{i + 1}") for i in range(channels)]
        names = [p.name for p in self.ports]  # read while surely owned: a zombified port's name is ''

        @self.client.set_shutdown_callback
        def shutdown(status: object, reason: str) -> None:
            self.shutdown_reason = reason or "the server shut the client down"

        @self.client.set_process_callback
        def process(n: int) -> None:
            if self.shutdown_reason is not None or self.callback_error is not None:
                return
            try:
                end = min(self.frames + n, len(self.buffer))
                for c, port in enumerate(self.ports):
                    self.buffer[self.frames : end, c] = port.get_array()[: end - self.frames]
                self.frames = end
            except Exception as exc:  # noqa: BLE001  (an exception here would stop JACK's thread)
                self.callback_error = repr(exc)

        sources = [f"system:monitor_{i + 1}" for i in range(channels)]
        if not wait_until(lambda: all(self.client.get_ports(s) for s in sources), 10):
            self.client.close()
            raise RuntimeError(f"JACK server {server} has no {sources} ports (jackd -d dummy -m mirrors them)")
        self.client.activate()
        try:
            for source, name in zip(sources, names):
                self.client.connect(source, name)
        except jack.JackError:
            self.close()
            raise

    def take(self) -> np.ndarray:
        """What was captured so far [frames, channels]; fails clearly if JACK dropped the recorder."""
        if self.shutdown_reason is not None:
            raise AssertionError(f"JACK shut the recorder down: {self.shutdown_reason}")
        if self.callback_error is not None:
            raise AssertionError(f"the recorder's process callback failed: {self.callback_error}")
        return self.buffer[: self.frames].copy()

    def wait_frames(self, count: int, timeout: float = 20.0) -> bool:
        """Wait until ``count`` frames are captured in all (the JACK clock, not a sleep)."""
        return wait_until(lambda: self.frames >= count or self.shutdown_reason is not None, timeout)

    def close(self) -> None:
        """Deactivate and close the client (safe to call twice)."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.deactivate()
        except Exception:  # noqa: BLE001  (already zombified or the server is gone)
            pass
        client.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture()
def jack_server(monkeypatch) -> Iterator[JackServer]:
    """A fresh JACK dummy server for one test; clients find it through JACK_DEFAULT_SERVER."""
    if not jack_available():
        missing_part("jackd / JACK-Client not installed (apt-get install jackd2; pip install JACK-Client)")
    server = JackServer()
    server.start()
    _STATE["clients_opened"] = True  # the test opens clients in this process from now on
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    try:
        yield server
    finally:
        server.stop()
