"""The one shared-memory segment between the engine process and the audio process.

It holds, in this order: the command ring (``command_ring.py``), the sound pool
(``sound_pool.py``), each voice's pool slot, the callback's counters and timing log, the
mixer's counters, the trigger log, integer control slots, float values and a message.
Every part is written by exactly one side (see each slot's comment), so no lock is needed;
``command_ring.py`` says what memory ordering that relies on. The engine creates the segment
(``gesam-<pid>-<random>`` in /dev/shm) and unlinks it; the audio process attaches by name.
"""

from __future__ import annotations

import dataclasses
import json
import mmap
import os
import secrets
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path
from typing import Any

import numpy as np

from gesam_engine.runtime.callback import COUNTER_NAMES, N_VALUES, CallbackArrays
from gesam_engine.runtime.command_ring import FIELDS, CommandRing
from gesam_engine.runtime.renderer import RENDER_COUNTERS
from gesam_engine.runtime.trigger_log import FIELDS as TRIGGER_FIELDS
from gesam_engine.runtime.trigger_log import TriggerLog

SHM_PREFIX = "gesam-"
MESSAGE_BYTES = 2048  # room for a device list and advice

# control slots (int64)
STATE = 0  # audio process: idle, opening, running, failed, lost, stopped (engine sets opening)
STOP = 1  # engine: 1 = stop and exit
HEARTBEAT = 2  # audio process: counts up while it watches its stream
PID = 3  # audio process: its pid
PANIC_ASKED = 4  # engine: panics asked so far (written after PANIC_CUTOFF)
PANIC_CUTOFF = 5  # engine: plays with a sequence number below this are dropped by the panic
EPOCH = 6  # audio process: streams started so far (a new one means a new sample clock)
CPU_NS = 7  # audio process: its CPU time (process_time_ns), refreshed by its watch loop
WALL_NS = 8  # audio process: perf_counter_ns at that reading
EPOCH_BLOCK = 9  # audio process: the callback block number its stream started at
RT_PRIORITY = 10  # audio process: the callback thread's realtime priority (0 = none, -1 = refused)
N_CONTROL = 16
IDLE, OPENING, RUNNING, FAILED, LOST, STOPPED = range(6)
STATE_NAMES = ("idle", "opening", "running", "failed", "lost", "stopped")



@dataclasses.dataclass(frozen=True)
class AudioLayout:
    """The sizes both processes agree on (sent to the audio process as JSON)."""

    sample_rate: int
    blocksize: int
    channels: int
    voice_slots: int
    sound_slots: int
    slot_len: int
    ring_capacity: int = 4096
    log_blocks: int = 4096
    trigger_records: int = 4096

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "AudioLayout":
        return cls(**json.loads(text))


def _create_segment(size: int) -> shared_memory.SharedMemory:
    """A new segment named ``gesam-<pid>-<random>`` (in /dev/shm on Linux), so a leak is easy to
    tell apart and to pin on the process that made it."""
    while True:
        try:
            return shared_memory.SharedMemory(name=f"{SHM_PREFIX}{os.getpid()}-{secrets.token_hex(4)}",
                                              create=True, size=size)
        except FileExistsError:  # 2**-32 per try: take another name
            continue


class _Attached:
    """Another process's segment, mapped without telling Python's resource tracker: the tracker
    would unlink the segment when this (audio) process exits, and the engine owns it."""

    def __init__(self, name: str) -> None:
        self.name = name
        path = Path("/dev/shm", name.lstrip("/"))
        self._shm: shared_memory.SharedMemory | None = None
        if path.exists():  # Linux: map the file directly
            fd = os.open(path, os.O_RDWR)
            try:
                self._mmap: mmap.mmap | None = mmap.mmap(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            self.buf: Any = memoryview(self._mmap)
        else:  # elsewhere: attach, then take it back from the tracker
            self._mmap = None
            self._shm = shared_memory.SharedMemory(name=name)
            resource_tracker.unregister(self._shm._name, "shared_memory")  # type: ignore[attr-defined]
            self.buf = self._shm.buf



class SharedAudio:
    """Views of every part of the segment. ``name=None`` creates it (the engine), else attaches."""

    def __init__(self, layout: AudioLayout, name: str | None = None) -> None:
        self.layout = lay = layout
        parts: list[tuple[str, Any, tuple[int, ...]]] = [
            ("ring_data", np.float64, (lay.ring_capacity, FIELDS)),
            ("ring_indices", np.int64, (2,)),
            ("pool", np.float32, (lay.sound_slots, lay.slot_len)),
            ("holders", np.int64, (lay.voice_slots,)),
            ("counters", np.int64, (len(COUNTER_NAMES),)),
            ("log_time", np.float64, (lay.log_blocks,)),
            ("log_frame", np.int64, (lay.log_blocks,)),
            ("log_render", np.float64, (lay.log_blocks,)),
            ("render_counters", np.int64, (len(RENDER_COUNTERS),)),
            ("trigger_data", np.float64, (lay.trigger_records, TRIGGER_FIELDS)),
            ("trigger_written", np.int64, (1,)),
            ("control", np.int64, (N_CONTROL,)),
            ("values", np.float64, (N_VALUES,)),
            ("message", np.uint8, (MESSAGE_BYTES,)),
        ]
        total = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for _, dtype, shape in parts)
        self.owner = name is None
        self.shm: Any = _create_segment(total) if name is None else _Attached(name)
        buf = self.shm.buf
        assert buf is not None  # None only once the segment is closed
        # a new segment reads as zeros (POSIX shm is zero-filled): writing them would make the whole
        # sound pool resident at once instead of slot by slot as sounds are played
        off = 0
        self._views: dict[str, np.ndarray] = {}
        for key, dtype, shape in parts:
            view = np.ndarray(shape, dtype=dtype, buffer=buf, offset=off)
            off += view.nbytes
            self._views[key] = view
        v = self._views
        self.ring = CommandRing(lay.ring_capacity, v["ring_data"], v["ring_indices"])
        self.pool, self.holders = v["pool"], v["holders"]
        self.arrays = CallbackArrays(v["counters"], v["log_time"], v["log_frame"], v["log_render"])
        self.render_counters = v["render_counters"]
        self.control, self.values, self.message = v["control"], v["values"], v["message"]
        if self.owner:
            self.holders.fill(-1)

    @property
    def name(self) -> str:
        """The segment's name, for the audio process to attach to."""
        return str(self.shm.name)

    def trigger_log(self) -> TriggerLog:
        """A trigger log over the shared records (the mixer writes, one metrics reader reads)."""
        v = self._views
        return TriggerLog(self.layout.trigger_records, v["trigger_data"], v["trigger_written"])

    @property
    def state(self) -> str:
        return STATE_NAMES[int(self.control[STATE])]

    def set_message(self, text: str) -> None:
        data = text.encode("utf-8", "replace")[: MESSAGE_BYTES - 1]
        self.message[:] = 0
        self.message[: len(data)] = np.frombuffer(data, dtype=np.uint8)

    def get_message(self) -> str:
        raw = bytes(self.message)
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace")

    def close(self) -> None:
        """Unlink the segment when this side created it. The mapping stays until the last view is
        gone, so counters and logs can still be read after the audio process has stopped."""
        if self.owner:
            self.shm.unlink()
            self.owner = False
