"""Offline output: the same shared segment and mixer as live, driven by a clock thread and written
to a WAV file.

For bouncing a performance (real-time pace, so OSC/MIDI play into it) and for tests
(``realtime=False`` renders ahead of the clock, ``FAST`` times real time).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from gesam_engine.runtime.audio_link import AudioLink
from gesam_engine.runtime.callback import MixerCallback
from gesam_engine.runtime.mixer import MixerSpec, build_mixer
from gesam_engine.runtime.shared_audio import EPOCH, EPOCH_BLOCK, AudioLayout

FAST = 8.0  # realtime=False: how many times faster than real time the clock runs


class FileOutput(AudioLink):
    """Runs the mixer's callback from a thread instead of a sound card and writes what it outputs."""

    def __init__(self, path: Path, layout: AudioLayout, spec: Callable[[], MixerSpec], timed_latency_frames: int,
                 realtime: bool = True) -> None:
        super().__init__(layout, spec, timed_latency_frames)
        self.path = Path(path)
        self.realtime = realtime
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._file: sf.SoundFile | None = None
        self._callback: MixerCallback | None = None
        self._state = "idle"
        self._message = ""

    @property
    def state(self) -> str:
        return self._state

    @property
    def message(self) -> str:
        return self._message

    @property
    def mixer(self) -> MixerCallback | None:
        """The mixer, running on this process's clock thread (for tests that look inside it)."""
        return self._callback

    def open(self, timeout: float = 20.0) -> bool:
        """Build the mixer, open the file and start the clock thread."""
        self._callback = build_mixer(self.shared, self.spec())
        control = self.shared.control
        control[EPOCH_BLOCK] = self.reader.blocks
        control[EPOCH] += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = sf.SoundFile(str(self.path), "w", self.sample_rate, self.channels, subtype="PCM_24")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gesam-file-output", daemon=True)
        self._thread.start()
        self._state, self._message = "running", f"writing {self.path} at {self.sample_rate} Hz"
        return True

    def _run(self) -> None:
        assert self._file is not None and self._callback is not None
        out = np.zeros((self.blocksize, self.channels), dtype=np.float32)
        period = self.blocksize / self.sample_rate / (1.0 if self.realtime else FAST)
        next_t = time.perf_counter()
        while not self._stop.is_set():
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            next_t += period
            self._callback(out, self.blocksize, None, None)
            self._file.write(out)

    def close(self) -> None:
        """Stop the clock, close the file and free the shared memory."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._file is not None:
            self._file.close()
            self._file = None
        self._state = "stopped"
        self._callback = None
        self.shared.close()
