"""Audio output through the audio process, fed through shared memory.

The audio process (``audio_child.py``) owns the device and the mixer: voices, effects and the
safety limiter run inside its callback, so the audio clock never waits for the engine's
interpreter lock (torch, OSC, MIDI, web). PortAudio cannot survive its device going away inside
a process either (a JACK server that stops makes ``Stream.close`` abort the interpreter and
``Pa_Terminate`` hang), which is one more reason it lives apart. When the device is lost the
audio process exits; the engine keeps the cursor, the caches, the queued commands and the
sample clock's count, reports the loss, and starts a new audio process when asked or when the
device is back (with the effect values and gain as they are now). A new process also means a
fresh PortAudio device scan.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Callable

from gesam_engine.runtime.audio_link import AudioLink
from gesam_engine.runtime.mixer import MixerSpec
from gesam_engine.runtime.shared_audio import HEARTBEAT, LOST, OPENING, PID, SHM_PREFIX, STATE, STOP, AudioLayout

__all__ = ["AudioOutput", "PID", "SHM_PREFIX"]


class AudioOutput(AudioLink):
    """The engine side: owns the shared memory and the audio process, watches it, reopens on request.

    Any thread may call ``status`` and the commands; ``open``/``close`` from the owner.
    """

    def __init__(self, device: str, layout: AudioLayout, spec: Callable[[], MixerSpec], timed_latency_frames: int,
                 reopen_interval_s: float = 2.0, on_change: Callable[[str, str], None] | None = None) -> None:
        super().__init__(layout, spec, timed_latency_frames)
        self.device = device
        self.reopen_interval_s = reopen_interval_s
        self.on_change = on_change
        self.auto_reopen = True
        self._losses = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._closing = False
        self._watch: threading.Thread | None = None
        self._spawn_lock = threading.Lock()

    @property
    def state(self) -> str:
        """idle, opening, running, failed, lost or stopped."""
        return self.shared.state

    @property
    def message(self) -> str:
        """The audio process's last word: where it plays, or why it could not."""
        return self.shared.get_message()

    @property
    def losses(self) -> int:
        return self._losses

    @property
    def pid(self) -> int | None:
        """The audio process's pid while it runs."""
        proc = self._proc
        return None if proc is None else proc.pid

    def open(self, timeout: float = 20.0) -> bool:
        """Start an audio process and wait until it plays (True) or fails (False, see ``message``)."""
        with self._spawn_lock:
            self._spawn()
            deadline = time.monotonic() + timeout
            while self.state == "opening" and time.monotonic() < deadline and self._alive():
                time.sleep(0.01)
            ok = self.state == "running"
        if self._watch is None:
            self._watch = threading.Thread(target=self._watchdog, name="gesam-audio-watch", daemon=True)
            self._watch.start()
        return ok

    def _alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def _spawn(self) -> None:
        self._reap()
        control = self.shared.control
        control[STOP] = 0
        control[STATE] = OPENING
        self.shared.set_message("opening")
        args = [sys.executable, "-m", "gesam_engine.runtime.audio_child", self.shared.name, self.layout.to_json(),
                self.spec().to_json(), self.device]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=2)

    def _watchdog(self) -> None:
        last_beat, last_change, last_try, retrying = -1, time.monotonic(), 0.0, False
        while not self._closing:
            time.sleep(0.1)
            state = self.state
            proc = self._proc
            if state in ("running", "opening") and proc is not None and proc.poll() is not None:
                self.shared.control[STATE] = LOST
                self.shared.set_message(f"the audio process ended (exit code {proc.returncode})")
                state = "lost"
            beat = int(self.shared.control[HEARTBEAT])
            now = time.monotonic()
            if beat != last_beat:
                last_beat, last_change = beat, now
            elif state == "running" and now - last_change > 3.0:
                self.shared.control[STATE] = LOST
                self.shared.set_message("the audio process stopped answering")
                state = "lost"
            if state == "lost" and self._proc is not None:
                self._losses += 1
                self._reap()
                if self.on_change is not None:
                    self.on_change("lost", self.message)
            if state == "running":
                retrying = False
            if state in ("lost", "failed") and self.auto_reopen and now - last_try >= self.reopen_interval_s:
                last_try = now
                reason = self.message
                with self._spawn_lock:
                    if self._closing:
                        return
                    self._spawn()
                if self.on_change is not None and not retrying:  # once per outage, not every attempt
                    self.on_change("retrying", f"{reason}; trying again every {self.reopen_interval_s:g} s")
                retrying = True

    def close(self) -> None:
        """Stop the audio process and free the shared memory."""
        self._closing = True
        self.shared.control[STOP] = 1
        if self._watch is not None:  # first the watchdog, so it cannot start a process while we stop
            self._watch.join(timeout=5)
        with self._spawn_lock:
            proc = self._proc
            if proc is not None:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            self._reap()
        self.shared.close()
