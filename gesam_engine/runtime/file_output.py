"""Offline output: the same ring and callback as live, paced by a clock and written to a WAV file.

For bouncing a performance (real-time pace, so OSC/MIDI play into it) and for tests
(``realtime=False`` renders as fast as the render thread can).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from gesam_engine.runtime.callback import AudioCallback, CallbackLog
from gesam_engine.runtime.ring_buffer import AudioRing


class FileOutput:
    """Drives an AudioCallback from a thread instead of a sound card and writes what it outputs."""

    def __init__(self, path: Path, sample_rate: int, blocksize: int, channels: int,
                 capacity_blocks: int = 8, realtime: bool = True) -> None:
        self.path = Path(path)
        self.sample_rate, self.blocksize, self.channels = sample_rate, blocksize, channels
        self.ring = AudioRing(capacity_blocks * blocksize, channels)
        self.callback = AudioCallback(self.ring, channels)
        self.realtime = realtime
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._file: sf.SoundFile | None = None
        self.state = "idle"
        self.message = ""

    def open(self) -> bool:
        """Open the file and start the clock thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = sf.SoundFile(str(self.path), "w", self.sample_rate, self.channels, subtype="PCM_24")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gesam-file-output", daemon=True)
        self._thread.start()
        self.state, self.message = "running", f"writing {self.path} at {self.sample_rate} Hz"
        return True

    def _run(self) -> None:
        assert self._file is not None
        out = np.zeros((self.blocksize, self.channels), dtype=np.float32)
        period = self.blocksize / self.sample_rate
        next_t = time.perf_counter()
        while not self._stop.is_set():
            if self.realtime:
                delay = next_t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                next_t += period
            elif self.ring.available() < self.blocksize:
                time.sleep(0.0005)
                continue
            self.callback(out, self.blocksize, None, None)
            self._file.write(out)

    def next_callback(self) -> float | None:
        """Predicted time of the next block (None when not paced in real time)."""
        if not self.realtime or self.callback.blocks < 1:
            return None
        log = self.callback.log()
        return float(log.time[-1]) + self.blocksize / self.sample_rate

    @property
    def underruns(self) -> int:
        """Underruns the callback counted so far."""
        return self.callback.underruns

    def log(self) -> CallbackLog:
        """The callback's timing log."""
        return self.callback.log()

    def status(self) -> dict[str, Any]:
        """State and counters, as AudioOutput.status."""
        return {"state": self.state, "message": self.message, "losses": 0, **self.callback.counts()}

    def close(self) -> None:
        """Stop the clock and close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._file is not None:
            self._file.close()
            self._file = None
        self.state = "stopped"
