"""A live MIDI input: a mido port (virtual, or connected to existing ports) feeding the engine.

The backend is chosen by name (``backend=``, else ``MIDO_BACKEND``, else mido's default):
short names ``alsa``, ``jack``, ``coremidi``, ``windows`` or any mido backend module such as
``mido.backends.rtmidi/UNIX_JACK``. A backend that cannot start raises ``MidiUnavailable``
with one sentence saying which backend, why, and what to choose instead, so the engine can
print it and play on without MIDI.

Threads: the backend's callback (rtmidi calls it from its own thread; with JACK that is the
JACK process thread) only stamps the time and puts the message in a ``MidiMailbox``: bounded,
and a burst of one controller (or pitch bend) collapses to its newest value, so a fast knob
never fills it and its final position is never lost; notes are never coalesced, and one that
cannot wait is counted. One worker thread maps messages to commands and calls ``execute`` for
each, counting every exception, so a bad message or a refused command never stops MIDI.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Iterator, Sequence

from gesam_engine.errors import ConfigError, GesamError
from gesam_engine.latency_stats import LatencyStats
from osc_bridge.commands import TIMED, Command
from osc_bridge.midi.mailbox import MidiMailbox
from osc_bridge.midi.map import MidiMapper, MidiMapping

log = logging.getLogger(__name__)

BACKENDS = {
    "alsa": "mido.backends.rtmidi/LINUX_ALSA",
    "jack": "mido.backends.rtmidi/UNIX_JACK",
    "coremidi": "mido.backends.rtmidi/MACOSX_CORE",
    "windows": "mido.backends.rtmidi/WINDOWS_MM",
}
"""Short backend names and the mido backend each one means."""

CHOOSE_HINT = "--midi-backend"
"""The command-line flag named in MidiUnavailable messages (MIDO_BACKEND is named beside it)."""


class MidiUnavailable(GesamError):
    """MIDI cannot start: unknown or missing backend, no MIDI system, no matching port.

    ``detail`` holds what the MIDI libraries printed while failing (kept off the terminal).
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def resolve_backend(name: str | None = None) -> str:
    """The mido backend to open: ``name``, else ``$MIDO_BACKEND``, else mido's default.

    Short names (``alsa``, ``jack``, ``coremidi``, ``windows``) expand to their rtmidi API;
    names starting with ``mido.backends.`` pass through. Anything else raises MidiUnavailable
    listing the valid names.
    """
    raw = name if name is not None else os.environ.get("MIDO_BACKEND") or ""
    text = raw.strip()
    if not text:
        return "mido.backends.rtmidi"
    if text.lower() in BACKENDS:
        return BACKENDS[text.lower()]
    if text.startswith("mido.backends.") and len(text) > len("mido.backends."):
        return text
    source = "MIDO_BACKEND" if name is None else "MIDI backend"
    raise MidiUnavailable(
        f"unknown {source} {raw!r}: valid names are {', '.join(BACKENDS)} "
        f"or a mido backend module such as {BACKENDS['jack']}")


def _short(backend: str) -> str:
    for short, full in BACKENDS.items():
        if full == backend:
            return short
    return backend


def _alternative(backend: str) -> str:
    short = _short(backend)
    if sys.platform == "darwin":
        return "jack" if short == "coremidi" else "coremidi"
    if sys.platform.startswith("win"):
        return "windows"
    return "alsa" if short == "jack" else "jack"


def _reason(backend: str, exc: BaseException) -> str:
    """A plain-words reason for a backend failure."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ImportError):
        module = getattr(exc, "name", None) or text
        if "rtmidi" in str(module):
            return "python-rtmidi is not installed (pip install python-rtmidi)"
        return f"its module cannot be imported ({text})"
    if "ALSA" in text or (backend.endswith("LINUX_ALSA") and "sequencer" in text):
        if not os.path.exists("/dev/snd/seq"):
            return "there is no ALSA sequencer (/dev/snd/seq does not exist; load the snd-seq kernel module)"
        return f"the ALSA sequencer refused ({text})"
    if "JACK" in text and "not running" in text:
        server = os.environ.get("JACK_DEFAULT_SERVER", "default")
        return f"no JACK server is running (server {server!r}; start jackd first)"
    if "not compiled in" in text:
        return f"python-rtmidi was built without it ({text})"
    return text


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Collect what C libraries (alsa-lib, libjack) write on file descriptor 2 meanwhile.

    The text is handed back in the yielded list; the caller decides whether to show it.
    """
    out: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: nothing to capture
        yield out
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


class MidiInput:
    """MIDI in -> ``MidiMapper`` -> ``execute(command)`` for each command, on a worker thread.

    ``virtual_name``: a virtual input port others connect to ("gesam_in"; None for none).
    ``connect``: also open every existing input port whose name contains one of these strings.
    ``on_learned``: called (worker thread) with the new mapping after a MIDI learn assigns.
    Ports opened through ``connect`` are watched every ``rescan_s`` seconds: one that leaves the
    MIDI system (a controller unplugged, its program closed) is closed, and a matching port
    that (re)appears is opened, each told to ``on_port_change`` with a readable line.
    ``timed`` (default): a note lands on the sample of the moment its message arrived (stamped in
    the backend's thread) plus the engine's fixed timed latency, so notes keep their spacing
    whatever the worker thread's delays; False plays each at the next block as it is handled.
    Call ``start()`` to open the ports and ``close()`` to release them.
    """

    def __init__(self, execute: Callable[[Command], Any], mapping: MidiMapping | None = None,
                 backend: str | None = None, virtual_name: str | None = "gesam_in",
                 connect: Sequence[str] = (), *, client_name: str = "gesam", queue_size: int = 1024,
                 latency_log: int = 4096, on_learned: Callable[[MidiMapping], Any] | None = None,
                 rescan_s: float = 2.0, on_port_change: Callable[[str], Any] | None = None,
                 timed: bool = True) -> None:
        if not virtual_name and not connect:
            raise ConfigError("MidiInput needs a virtual port name or at least one port to connect to")
        if queue_size < 1 or latency_log < 1:
            raise ConfigError(f"queue_size and latency_log must be positive, got {queue_size}, {latency_log}")
        self.execute = execute
        self.mapper = MidiMapper(mapping)
        self.backend = resolve_backend(backend)
        self.virtual_name = virtual_name or None
        self.connect = [str(c) for c in connect]
        self.client_name = client_name
        self.on_learned = on_learned
        self.rescan_s = float(rescan_s)
        self.on_port_change = on_port_change
        self.timed = timed
        self._backend: Any = None
        self._connected: dict[str, Any] = {}  # ports opened through ``connect``, by name
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._mailbox = MidiMailbox(queue_size)
        self._latency: collections.deque[float] = collections.deque(maxlen=latency_log)
        self._ports: list[Any] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.received = self.ignored = self.commands = self.errors = 0
        self.last_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> MidiInput:
        """Open the backend and the ports and start the worker; raises MidiUnavailable."""
        with self._lock:
            if self._thread is not None:
                return self
            ports = self._open_ports()
            self._ports = ports
            self._mailbox.reopen()  # after a close()
            self._thread = threading.Thread(target=self._run, name="gesam-midi", daemon=True)
            self._thread.start()
            for port in ports:  # last: messages only flow once the worker is there
                port.callback = self._on_message
            if self._connected and self.rescan_s > 0:
                self._stop.clear()
                self._watcher = threading.Thread(target=self._watch, name="gesam-midi-ports", daemon=True)
                self._watcher.start()
        names = ", ".join(p.name for p in ports)
        log.info("MIDI in on %s through %s", names, self.backend)
        return self

    def close(self) -> None:
        """Close the ports (no more callbacks), then stop the worker. Safe to call twice."""
        self._stop.set()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.join(timeout=10.0)
        with self._lock:
            ports, self._ports = self._ports, []
            self._connected = {}
            thread, self._thread = self._thread, None
        for port in ports:
            try:
                port.close()
            except Exception as exc:  # closing one port must not keep the others open
                log.warning("closing MIDI port %s: %s", getattr(port, "name", port), exc)
        if thread is not None:
            self._mailbox.close()
            thread.join(timeout=5.0)

    def __enter__(self) -> MidiInput:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_ports(self) -> list[Any]:
        short = _short(self.backend)
        hint = (f"choose another backend with {CHOOSE_HINT} {_alternative(self.backend)} "
                f"(or MIDO_BACKEND), or play without MIDI")
        ports: list[Any] = []
        failure: Exception | None
        with _captured_stderr() as printed:
            try:
                import mido

                backend = mido.Backend(self.backend, load=True, use_environ=False)
                if self.virtual_name:
                    ports.append(backend.open_input(self.virtual_name, virtual=True, client_name=self.client_name))
                if self.connect:
                    available = backend.get_input_names()
                    chosen = [n for n in available if any(c in n for c in self.connect)]
                    if not chosen:
                        raise LookupError(f"no MIDI input port matches {self.connect}; available: {available}")
                    for port_name in chosen:
                        ports.append(backend.open_input(port_name))
                        self._connected[port_name] = ports[-1]
                self._backend = backend
            except Exception as exc:
                for port in ports:
                    with contextlib.suppress(Exception):
                        port.close()
                self._connected = {}
                failure = exc
            else:
                failure = None
        detail = "".join(printed)
        if failure is None:
            if detail.strip():
                sys.stderr.write(detail)  # whatever the libraries said on success stays visible
            return ports
        if isinstance(failure, LookupError):
            raise MidiUnavailable(f"MIDI backend {short!r}: {failure}; check the port names, "
                                  f"or play without MIDI.", detail) from failure
        raise MidiUnavailable(f"MIDI backend {short!r} ({self.backend}) cannot start: "
                              f"{_reason(self.backend, failure)}; {hint}.", detail) from failure

    def _watch(self) -> None:
        """Port watcher thread: rescan until ``close()``; a failed rescan is counted, never fatal."""
        while not self._stop.wait(self.rescan_s):
            try:
                self._rescan()
            except Exception as exc:
                self._error(exc, "MIDI port rescan")

    def _rescan(self) -> None:
        """Close connected ports that left the MIDI system; open matching ones that (re)appeared."""
        with _captured_stderr():
            available = set(self._backend.get_input_names())
        with self._lock:
            gone = [name for name in self._connected if name not in available]
            new = sorted(n for n in available if n not in self._connected and any(c in n for c in self.connect))
            for name in gone:
                port = self._connected.pop(name)
                self._ports.remove(port)
                with contextlib.suppress(Exception):
                    port.close()
            for name in new:
                with _captured_stderr():
                    port = self._backend.open_input(name)
                self._connected[name] = port
                self._ports.append(port)
                port.callback = self._on_message
        for name in gone:
            self._port_changed(f"MIDI port {name} went away; playing on, waiting for it to come back")
        for name in new:
            self._port_changed(f"MIDI port {name} is connected")

    def _port_changed(self, line: str) -> None:
        log.info("%s", line)
        if self.on_port_change is not None:
            try:
                self.on_port_change(line)
            except Exception as exc:
                self._error(exc, "on_port_change")

    # -- the MIDI side -------------------------------------------------------------------------

    def _on_message(self, msg: Any) -> None:
        """Backend callback (its thread): stamp and post, never block."""
        self._mailbox.put(time.perf_counter(), msg)

    def _run(self) -> None:
        """Worker: map each message and execute its commands; every exception is counted."""
        while True:
            item = self._mailbox.get()
            if item is None:
                return
            received_at, msg = item
            self.received += 1
            before = self.mapper.mapping
            try:
                commands = self.mapper.map(msg)
            except Exception as exc:
                self._error(exc, msg)
                continue
            if not commands:
                self.ignored += 1
            for cmd in commands:
                if self.timed and isinstance(cmd, TIMED):  # the note lands where it was played, not when we got to it
                    cmd = dataclasses.replace(cmd, at=received_at)
                try:
                    self.execute(cmd)
                    self.commands += 1
                except Exception as exc:
                    self._error(exc, cmd)
            if commands:
                self._latency.append(time.perf_counter() - received_at)
            if self.on_learned is not None and self.mapper.mapping is not before:
                try:
                    self.on_learned(self.mapper.mapping)
                except Exception as exc:
                    self._error(exc, "on_learned")

    def _error(self, exc: Exception, what: Any) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc} ({what})"
        (log.warning if self.errors <= 10 else log.debug)("MIDI: %s", self.last_error)

    # -- control and figures ---------------------------------------------------------------------

    def learn(self, target: str | None) -> None:
        """Arm MIDI learn for 'x' or 'y' (None disarms); any thread."""
        self.mapper.learn(target)

    @property
    def mapping(self) -> MidiMapping:
        """The current mapping (after any MIDI learn)."""
        return self.mapper.mapping

    @property
    def port_names(self) -> list[str]:
        """Names of the open ports."""
        return [p.name for p in self._ports]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def latencies(self) -> list[float]:
        """Seconds from the backend callback to the last command of a message executed (recent ones)."""
        return list(self._latency)

    @property
    def dropped(self) -> int:
        """Messages that could not wait (the mailbox was full): counted, never silent."""
        return self._mailbox.dropped

    def stats(self) -> dict[str, Any]:
        """Counters and the receipt-to-executed latency (ms: ``LatencyStats``, None until one). ``arrived``
        (from the backend) == ``received`` (taken by the worker) + ``coalesced`` + ``dropped`` + waiting."""
        figures = LatencyStats.of([1e3 * s for s in list(self._latency)]).to_dict()  # a snapshot: the worker appends
        return {"backend": self.backend, "ports": self.port_names, "running": self.running,
                **self._mailbox.stats(),
                "received": self.received, "commands": self.commands, "ignored": self.ignored,
                "errors": self.errors, "last_error": self.last_error,
                "learning": self.mapper.learning, "latency_ms": figures}
