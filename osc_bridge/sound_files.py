"""Sound files for the DAW sampler devices (``max_patches/gesam_sampler*``): per slot (the cursor
and each pad) a WAV of the sound a trigger of that slot plays now, for the DAW to play itself.

Each version gets a new name (``cursor-000123.wav``, 24-bit at the engine rate, written
atomically), so a sampler never reads a half-written file or a cached old one; a version is
removed ``keep_s`` after a newer one replaced it (a device may still be loading it). Nothing is
written until a client asks with ``/gesam/sounds`` (``replies``); from then on each engine
"ready" event for a slot writes that slot's new version on the writer thread (never on the
thread that moved the cursor or the pad) and pushes ``/gesam/state/sound slot path`` (an
absolute path with forward slashes, as Max and Pd read it on every system); a switch to another
model (its "model" event) rewrites every slot.

The file holds the point's sound: the pad's pitch, level, shape, variation and velocity layers
are not in it (the sampler plays the file with the note's velocity). Files left in the folder
by an earlier run are removed when the first client asks; the folder belongs to the engine.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Self

import numpy as np

from gesam_engine.atomic_io import atomic_write_with
from gesam_engine.errors import GesamError
from osc_bridge.controller import BridgeError, Reply
from osc_bridge.engine_like import KitLike

__all__ = ["SOUND_ADDRESS", "KEEP_S", "FILE_NAME", "SLOT_NAME", "SoundSource", "SoundFiles"]

log = logging.getLogger("gesam.sound_files")

SOUND_ADDRESS = "/gesam/state/sound"
KEEP_S = 10.0  # how long a replaced version stays on disk
FILE_NAME = re.compile(r"^(cursor|pad\d+)-(\d{6,})\.wav$")
SLOT_NAME = re.compile(r"^(?:cursor|pad(\d+))$")
PEAK = 1.0 - 2.0 ** -23  # the largest 24-bit sample: louder samples are clipped, never wrapped


class SoundSource(Protocol):
    """What ``SoundFiles`` needs of the engine (``gesam_engine.runtime.engine.Engine`` has it)."""

    @property
    def cursor(self) -> tuple[float, float]: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def model_name(self) -> str: ...

    def sound_for(self, xy: tuple[float, float] | None = None) -> tuple[np.ndarray, tuple[float, float]]: ...

    def kit(self, name: str = "") -> KitLike: ...

    def add_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None: ...


class _Version:
    """The file of a slot's current version and the sound it holds (kept to tell a change)."""

    __slots__ = ("path", "wave")

    def __init__(self, path: Path, wave: np.ndarray) -> None:
        self.path, self.wave = path, wave


class SoundFiles:
    """Writes and tracks the slots' WAV files in ``folder``; ``push`` sends the replies of a change
    (from the writer thread). ``replies`` from any thread; ``start``/``stop`` from the owner's.
    ``clock`` (seconds, monotonic) times the removal of replaced versions."""

    def __init__(self, engine: SoundSource, folder: Path, *, keep_s: float = KEEP_S,
                 push: Callable[[list[Reply]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not keep_s >= 0:
            raise BridgeError(f"keep_s must be a number of seconds >= 0, got {keep_s!r}")
        self.engine = engine
        self.folder = Path(folder).resolve()
        self.keep_s = float(keep_s)
        self.push = push
        self.clock = clock
        self.errors = 0  # writes that failed on the writer thread (disk full, folder gone)
        self.last_error = ""
        self._lock = threading.RLock()  # the files and the version counter
        self._current: dict[str, _Version] = {}
        self._replaced: list[tuple[float, Path]] = []  # (when it was replaced, the old file)
        self._counter: int | None = None  # None until the folder was scanned (the first write)
        self._armed = False  # a client asked: ready events write from now on
        self._cond = threading.Condition()  # the writer thread's queue of slots
        self._dirty: dict[str, None] = {}
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ---- slots ---------------------------------------------------------------------------------
    def slots(self) -> list[str]:
        """'cursor', then 'pad0' .. 'pad<n-1>' for the engine's n pads."""
        return ["cursor", *(f"pad{n}" for n in range(len(self.engine.kit().pads)))]

    def _point(self, slot: str) -> tuple[float, float]:
        """The map point a trigger of ``slot`` plays; BridgeError for a slot the engine has not."""
        m = SLOT_NAME.match(slot)
        if m is None:
            raise BridgeError(f"sound slot must be 'cursor' or 'pad<n>', e.g. pad3; got {slot!r}")
        if m.group(1) is None:
            return self.engine.cursor
        pads = self.engine.kit().pads
        n = int(m.group(1))
        if n >= len(pads):
            raise BridgeError(f"sound slot {slot!r}: the engine has pads 0..{len(pads) - 1}")
        return pads[n].xy

    def path(self, slot: str) -> Path | None:
        """The file of ``slot``'s current version (None before the first)."""
        with self._lock:
            version = self._current.get(slot)
            return None if version is None else version.path

    # ---- writing ---------------------------------------------------------------------------------
    def update(self, slot: str) -> Reply | None:
        """Write ``slot``'s sound when it changed since its file was written (or the file is gone);
        the ``/gesam/state/sound`` reply when a new version was written, else None (also when no
        sound is ready yet). BridgeError for an unknown slot or a file that cannot be written."""
        xy = self._point(slot)
        try:
            wave, _ = self.engine.sound_for(xy)
        except GesamError:  # nothing is ready yet: the ready event will come
            return None
        with self._lock:
            version = self._current.get(slot)
            if version is not None and version.wave is wave and version.path.is_file():
                return None
            path = self._write(slot, wave)
            if version is not None:
                self._replaced.append((self.clock(), version.path))
            self._current[slot] = _Version(path, wave)
        if version is not None:
            with self._cond:  # the writer may be waiting with no timeout: it must time this removal
                self._cond.notify()
        return (SOUND_ADDRESS, [slot, path.as_posix()])

    def _write(self, slot: str, wave: np.ndarray) -> Path:
        """A new version's file: 24-bit WAV at the engine rate, renamed into place when complete."""
        import soundfile as sf  # imported when a sampler first asks (soundfile loads libsndfile)

        if self._counter is None:
            self._counter = self._clear_folder()
        self._counter += 1
        path = self.folder / f"{slot}-{self._counter:06d}.wav"
        data = np.clip(np.asarray(wave, dtype=np.float32).reshape(-1), -PEAK, PEAK)
        rate = int(self.engine.sample_rate)
        try:
            atomic_write_with(path, lambda fh: sf.write(fh, data, rate, subtype="PCM_24", format="WAV"), sync=False)
        except (OSError, RuntimeError) as exc:  # soundfile's errors are RuntimeErrors
            raise BridgeError(f"cannot write the sound file {path}: {exc}") from None
        return path

    def _clear_folder(self) -> int:
        """Make the folder, remove the sound files an earlier run left there, and return the
        highest version number they had (new names never repeat an old one)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            old = [(p, FILE_NAME.match(p.name)) for p in self.folder.iterdir()]
        except OSError as exc:
            raise BridgeError(f"cannot use the sound file folder {self.folder}: {exc}") from None
        highest = 0
        for p, m in old:
            if m is not None:
                highest = max(highest, int(m.group(2)))
                p.unlink(missing_ok=True)
        return highest

    def prune(self) -> float | None:
        """Remove the versions replaced ``keep_s`` ago or more; seconds until the next is due (None: none left)."""
        now = self.clock()
        with self._lock:
            due = [p for t, p in self._replaced if now - t >= self.keep_s]
            self._replaced = [(t, p) for t, p in self._replaced if now - t < self.keep_s]
            left = min((t for t, _ in self._replaced), default=None)
        for p in due:
            try:
                p.unlink(missing_ok=True)
            except OSError as exc:
                log.debug("cannot remove %s: %s", p, exc)
        return None if left is None else max(left + self.keep_s - now, 0.0)

    # ---- what clients get ----------------------------------------------------------------------
    def replies(self) -> list[Reply]:
        """The answer to ``/gesam/sounds``: ``/gesam/state/model name``, then every slot's file
        (written first where missing or changed) as ``/gesam/state/sound slot path``. Slots with no
        sound ready yet are left out (their ready event pushes them). From now on changes are
        written and pushed."""
        self._armed = True
        out: list[Reply] = [("/gesam/state/model", [str(self.engine.model_name)])]
        for slot in self.slots():
            self.update(slot)
            path = self.path(slot)
            if path is not None:
                out.append((SOUND_ADDRESS, [slot, path.as_posix()]))
        return out

    def on_event(self, event: str, data: dict[str, Any]) -> None:
        """Engine listener: a "ready" event for a slot's current point queues that slot for the
        writer thread, a switch to another model every slot (once a client asked; stale points,
        failed switches and other slots, such as a pad's variants, are ignored)."""
        if not self._armed:
            return
        if event == "model" and "error" not in data:
            self._queue(self.slots())
            return
        if event != "ready":
            return
        slot = str(data.get("slot", ""))
        try:
            if tuple(data.get("xy", ())) != self._point(slot):
                return  # a point the slot has already left: its own ready event follows
        except BridgeError:
            return
        self._queue([slot])

    def _queue(self, slots: list[str]) -> None:
        with self._cond:
            self._dirty.update(dict.fromkeys(slots))
            self._cond.notify()

    # ---- the writer thread -----------------------------------------------------------------------
    def start(self) -> Self:
        """Listen to the engine and start the writer thread."""
        if self._thread is None:
            self._stopping = False
            self.engine.add_listener(self.on_event)
            self._thread = threading.Thread(target=self._run, name="gesam-sound-files", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the writer thread (the files stay: a DAW may still hold their paths)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        wait: float | None = None
        while True:
            with self._cond:
                if not self._dirty and not self._stopping:
                    self._cond.wait(wait)
                if self._stopping:
                    return
                dirty, self._dirty = list(self._dirty), {}
            replies = []
            for slot in dirty:
                try:
                    reply = self.update(slot)
                except Exception as exc:  # noqa: BLE001 - counted and logged; the thread goes on
                    self.errors += 1
                    self.last_error = str(exc)
                    log.warning("sound file for %s: %s", slot, exc)
                    continue
                if reply is not None:
                    replies.append(reply)
            if replies and self.push is not None:
                try:
                    self.push(replies)
                except Exception as exc:  # noqa: BLE001 - a broken sender must not end the writer
                    self.errors += 1
                    self.last_error = str(exc)
                    log.warning("sound file push: %s", exc)
            wait = self.prune()
