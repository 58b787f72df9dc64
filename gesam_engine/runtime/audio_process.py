"""Audio output in a child process, fed through shared memory.

PortAudio cannot survive its device going away inside our process (a JACK server that stops
makes ``Stream.close`` abort the interpreter and ``Pa_Terminate`` hang). So the stream lives
in a small child process that only runs the callback; the ring, the callback's counters and
its timing log are shared memory. When the device is lost the child exits, the engine keeps
every voice, cursor and cache, reports the loss, and starts a new child when asked or when
the device is back. A new child also means a fresh PortAudio device scan.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
import time
from multiprocessing import shared_memory
from typing import Any, Callable

import numpy as np

from gesam_engine.runtime.callback import COUNTER_NAMES, AudioCallback, CallbackArrays, CallbackLog
from gesam_engine.runtime.ring_buffer import AudioRing

# control slots
STATE, STOP, HEARTBEAT, PID, N_CONTROL = 0, 1, 2, 3, 8
IDLE, OPENING, RUNNING, FAILED, LOST, STOPPED = range(6)
STATE_NAMES = ("idle", "opening", "running", "failed", "lost", "stopped")
MESSAGE_BYTES = 2048  # room for a device list and advice
LOG_BLOCKS = 4096


SHM_PREFIX = "gesam-"


def _create_segment(size: int) -> shared_memory.SharedMemory:
    """A new segment named ``gesam-<pid>-<random>`` (in /dev/shm on Linux), so a leak is easy to
    tell apart and to pin on the process that made it."""
    while True:
        try:
            return shared_memory.SharedMemory(name=f"{SHM_PREFIX}{os.getpid()}-{secrets.token_hex(4)}",
                                              create=True, size=size)
        except FileExistsError:  # 2**-32 per try: take another name
            continue


class SharedAudio:
    """One shared-memory block holding the ring, the callback's arrays, control slots and a message."""

    def __init__(self, capacity: int, channels: int, name: str | None = None) -> None:
        self.capacity, self.channels = capacity, channels
        sizes = [capacity * channels * 4, 2 * 8, len(COUNTER_NAMES) * 8, LOG_BLOCKS * 8 * 4, N_CONTROL * 8, MESSAGE_BYTES]
        total = sum(sizes)
        self.owner = name is None
        self.shm = _create_segment(total) if name is None else shared_memory.SharedMemory(name=name)
        buf, off = self.shm.buf, 0
        assert buf is not None  # None only once the segment is closed

        def take(dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
            nonlocal off
            a = np.ndarray(shape, dtype=dtype, buffer=buf, offset=off)
            off += a.nbytes
            return a

        self.ring_data = take(np.float32, (capacity, channels))
        self.indices = take(np.int64, (2,))
        self.arrays = CallbackArrays(
            take(np.int64, (len(COUNTER_NAMES),)), take(np.float64, (LOG_BLOCKS,)),
            take(np.int64, (LOG_BLOCKS,)), take(np.int64, (LOG_BLOCKS,)), take(np.int64, (LOG_BLOCKS,)),
        )
        self.control = take(np.int64, (N_CONTROL,))
        self.message = take(np.uint8, (MESSAGE_BYTES,))
        if self.owner:
            np.frombuffer(buf, dtype=np.uint8)[:total] = 0

    def ring(self) -> AudioRing:
        """The ring over the shared buffer."""
        return AudioRing(self.capacity, self.channels, buffer=self.ring_data, indices=self.indices)

    def callback(self) -> AudioCallback:
        """A callback over the shared ring, counters and log."""
        return AudioCallback(self.ring(), self.channels, LOG_BLOCKS, arrays=self.arrays)

    def set_message(self, text: str) -> None:
        data = text.encode("utf-8", "replace")[: MESSAGE_BYTES - 1]
        self.message[:] = 0
        self.message[: len(data)] = np.frombuffer(data, dtype=np.uint8)

    def get_message(self) -> str:
        raw = bytes(self.message)
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def close(self) -> None:
        """Release the views and the segment (and unlink it when this side created it)."""
        del self.ring_data, self.indices, self.arrays, self.control, self.message
        try:
            self.shm.close()
        except BufferError:  # views still held elsewhere (a renderer's ring): freed at exit
            pass
        if self.owner:
            self.shm.unlink()


def _child_main(name: str, capacity: int, channels: int, device: str, rate: int, blocksize: int) -> None:
    """Child process: open the stream, run the callback, watch the stream and the parent; exit
    when the stream dies, when told to stop, or when the parent is gone (never left orphaned)."""
    parent = os.getppid()
    shared = SharedAudio(capacity, channels, name=name)
    control = shared.control
    control[PID] = os.getpid()
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio missing
        shared.set_message(f"sounddevice cannot load PortAudio ({exc}); install libportaudio2")
        control[STATE] = FAILED
        os._exit(2)
    from gesam_engine.runtime.audio_devices import device_label, open_failure

    try:
        dev: int | str | None = int(device) if device.isdigit() else (device or None)
        stream = sd.OutputStream(device=dev, samplerate=rate, blocksize=blocksize, channels=channels,
                                 dtype="float32", callback=shared.callback(), latency="low")
        stream.start()
    except Exception as exc:
        shared.set_message(open_failure(sd, device, exc))
        control[STATE] = FAILED
        os._exit(2)
    shared.set_message(f"playing on {device_label(sd, stream.device)} at {int(stream.samplerate)} Hz, "
                       f"block {blocksize}, latency {stream.latency * 1000:.1f} ms")
    control[STATE] = RUNNING
    while not control[STOP]:
        control[HEARTBEAT] += 1
        if not stream.active:
            shared.set_message("the audio device went away (stream no longer active)")
            control[STATE] = LOST
            os._exit(3)  # never close(): closing a stream whose JACK server died aborts the process
        if os.getppid() != parent:  # the engine died without stopping us (SIGKILL): stop playing
            break
        time.sleep(0.02)
    stream.stop()
    stream.close()
    control[STATE] = STOPPED
    # Close PortAudio (its JACK client) while the server is alive: os._exit skips sounddevice's
    # atexit, and a JACK client left registered makes jackd wait a client timeout when it stops.
    sd._terminate()
    os._exit(0)


class AudioOutput:
    """The engine side: owns the shared memory and the child, watches it, reopens on request.

    ``ring`` is what the render thread writes; ``next_callback`` predicts the next callback
    time for late rendering. Any thread may call ``status``; ``open``/``close`` from the owner.
    """

    def __init__(self, device: str, sample_rate: int, blocksize: int, channels: int,
                 capacity_blocks: int = 8, reopen_interval_s: float = 2.0,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self.device, self.sample_rate, self.blocksize, self.channels = device, sample_rate, blocksize, channels
        self.shared = SharedAudio(capacity_blocks * blocksize, channels)
        self.ring = self.shared.ring()
        self.reader = self.shared.callback()  # reads counters and log; never called here
        self.reopen_interval_s = reopen_interval_s
        self.on_change = on_change
        self.auto_reopen = True
        self.losses = 0
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._ctx = multiprocessing.get_context("spawn")
        self._closing = False
        self._watch: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """idle, opening, running, failed, lost or stopped."""
        return STATE_NAMES[int(self.shared.control[STATE])]

    @property
    def message(self) -> str:
        """The child's last word: where it plays, or why it could not."""
        return self.shared.get_message()

    def open(self, timeout: float = 20.0) -> bool:
        """Start a child and wait until it plays (True) or fails (False, see ``message``)."""
        with self._lock:
            self._spawn()
            deadline = time.monotonic() + timeout
            while self.state == "opening" and time.monotonic() < deadline:
                if self._proc is not None and not self._proc.is_alive():
                    break
                time.sleep(0.01)
            ok = self.state == "running"
        if self._watch is None:
            self._watch = threading.Thread(target=self._watchdog, name="gesam-audio-watch", daemon=True)
            self._watch.start()
        return ok

    def _spawn(self) -> None:
        self._reap()
        control = self.shared.control
        control[STOP] = 0
        control[STATE] = OPENING
        self.shared.set_message("opening")
        args = (self.shared.shm.name, self.shared.capacity, self.channels, self.device, self.sample_rate, self.blocksize)
        proc = self._ctx.Process(target=_child_main, args=args, name="gesam-audio", daemon=True)
        proc.start()
        self._proc = proc  # only a started process is ever visible to _reap

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.join(timeout=0.5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2)

    def _watchdog(self) -> None:
        last_beat, last_change, last_try, retrying = -1, time.monotonic(), 0.0, False
        while not self._closing:
            time.sleep(0.1)
            state = self.state
            proc = self._proc
            if state in ("running", "opening") and proc is not None and not proc.is_alive():
                self.shared.control[STATE] = LOST
                self.shared.set_message(f"the audio process ended (exit code {proc.exitcode})")
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
                self.losses += 1
                self._reap()
                if self.on_change is not None:
                    self.on_change("lost", self.message)
            if state == "running":
                retrying = False
            if state in ("lost", "failed") and self.auto_reopen and now - last_try >= self.reopen_interval_s:
                last_try = now
                reason = self.message
                with self._lock:
                    if self._closing:
                        return
                    self._spawn()
                if self.on_change is not None and not retrying:  # once per outage, not every attempt
                    self.on_change("retrying", f"{reason}; trying again every {self.reopen_interval_s:g} s")
                retrying = True

    def next_callback(self) -> float | None:
        """Predicted perf_counter time of the next callback (None before the stream plays)."""
        arrays = self.shared.arrays
        n = int(arrays.counters[2])  # BLOCKS
        if n < 2 or self.state != "running":
            return None
        cap = arrays.time.shape[0]
        k = min(n, 9)
        times = arrays.time[(np.arange(n - k, n)) % cap]
        period = float(np.median(np.diff(times)))
        return float(times[-1]) + max(period, 0.0)

    @property
    def underruns(self) -> int:
        """Underruns the callback counted so far (all children together)."""
        return self.reader.underruns

    def log(self) -> CallbackLog:
        """The shared callback log (see AudioCallback.log)."""
        return self.reader.log()

    def status(self) -> dict[str, Any]:
        """State, message, losses and the callback's counters."""
        return {"state": self.state, "message": self.message, "losses": self.losses, **self.reader.counts()}

    def close(self) -> None:
        """Stop the child and free the shared memory."""
        self._closing = True
        self.shared.control[STOP] = 1
        if self._watch is not None:  # first the watchdog, so it cannot start a child while we stop
            self._watch.join(timeout=5)
        with self._lock:
            proc = self._proc
            if proc is not None:
                proc.join(timeout=5)
            self._reap()
        del self.ring, self.reader
        self.shared.close()
