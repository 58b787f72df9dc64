"""A real JACK server (dummy backend, paced, no sound card) and a recorder of what it played.

The dummy driver with ``-m`` mirrors playback on ``system:monitor_*``; the recorder is a
JACK-Client that captures those ports sample-accurately.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from typing import Iterator

import numpy as np
import pytest

from tests.waiting import wait_until  # noqa: F401  (re-exported for the e2e tests)


def jack_available() -> bool:
    """True when jackd and the JACK-Client module are installed."""
    try:
        import jack  # noqa: F401
    except (ImportError, OSError):
        return False
    return shutil.which("jackd") is not None and shutil.which("jack_wait") is not None


class JackServer:
    """jackd -n NAME --no-realtime -d dummy -m, with start/stop for device-loss tests."""

    def __init__(self, rate: int = 48000, period: int = 1024) -> None:
        self.name = f"gesam-test-{uuid.uuid4().hex[:8]}"
        self.rate, self.period = rate, period
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["jackd", "-n", self.name, "--no-realtime", "-d", "dummy", "-m", "-r", str(self.rate), "-p", str(self.period)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["jack_wait", "-s", self.name, "-w", "-t", "10"], check=True, capture_output=True)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Recorder:
    """Captures ``system:monitor_1..channels`` into memory while active."""

    def __init__(self, server: str, channels: int = 2, seconds: float = 30.0) -> None:
        import jack

        self.client = jack.Client(f"recorder-{uuid.uuid4().hex[:6]}", servername=server, no_start_server=True)
        self.rate = self.client.samplerate
        self.buffer = np.zeros((int(seconds * self.rate), channels), dtype=np.float32)
        self.frames = 0
        self.ports = [self.client.inports.register(f"in_{i + 1}") for i in range(channels)]

        @self.client.set_process_callback
        def process(n: int) -> None:
            end = min(self.frames + n, len(self.buffer))
            for c, port in enumerate(self.ports):
                self.buffer[self.frames : end, c] = port.get_array()[: end - self.frames]
            self.frames = end

        self.client.activate()
        for i, port in enumerate(self.ports):
            self.client.connect(f"system:monitor_{i + 1}", port)

    def take(self) -> np.ndarray:
        """What was captured so far [frames, channels]."""
        return self.buffer[: self.frames].copy()

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


@pytest.fixture()
def jack_server(monkeypatch) -> Iterator[JackServer]:
    """A fresh JACK dummy server for one test; clients find it through JACK_DEFAULT_SERVER."""
    if not jack_available():
        pytest.skip("jackd / JACK-Client not installed (apt-get install jackd2; pip install JACK-Client)")
    server = JackServer()
    server.start()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    try:
        yield server
    finally:
        server.stop()
