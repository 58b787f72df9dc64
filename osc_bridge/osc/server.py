"""The OSC transport: a UDP socket, the threads around it and the replies. What runs when (time
tags, coalesced moves, the render queue) is decided by ``osc_bridge.osc.scheduler``, without sockets.

Threads (all daemons, all started by ``start()`` and joined by ``stop()``):

- ``gesam-osc-recv`` only receives: it stamps each datagram with its arrival time and queues it.
- ``gesam-osc-exec`` decodes and parses (``osc_bridge.osc.parse``), hands what is for later to
  the scheduler, runs the rest on the ``Controller`` in arrival order (``scheduler.plan``) and
  sends the replies. It takes everything queued at once, so a burst of ``/gesam/xy`` collapses
  to its newest point (nothing else is ever dropped, and moves keep their order relative to
  triggers and everything else).
- ``gesam-osc-sched`` waits for the scheduler's next time tag and queues what is due (never early).
- ``gesam-osc-render`` writes ``/gesam/render`` files, so a render never holds up a trigger.

Every refused message and every malformed datagram is counted and answered on ``/gesam/error``
(to the sender, or the feedback address) within the size and rate limits of
``osc_bridge.osc.reply_policy``; an unexpected exception is counted, answered and logged, and the
loop goes on. A message on a reply address (``/gesam/state/*``, ``/gesam/error``, ``/gesam/pong``)
is only counted (``ignored``), never answered, and a feedback address that is this server's own
port is refused at start: either would make a reply loop. Engine 'ready' events for the cursor's
point are sent as ``/gesam/state/ready x y``, engine 'alert' events as ``/gesam/error``, and the
'audio' and 'latency' events as ``/gesam/state/audio`` and ``/gesam/state/latency``, to the last
client (or the feedback address). A message in a bundle with a time tag that starts a sound
carries the tag (as ``at``, on the engine's clock): its sound lands on the tag's sample plus the
engine's fixed timed latency, however late the scheduler thread woke.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import queue
import selectors
import socket
import threading
import time
from typing import Any, Callable, Sequence, cast

from gesam_engine.errors import GesamError
from gesam_engine.latency_stats import LatencyStats
from osc_bridge.addresses import DEFAULT_HOST, DEFAULT_PORT
from osc_bridge.commands import TIMED, Command
from osc_bridge.controller import audio_reply, latency_reply
from osc_bridge.osc.parse import DEFAULT_PADS, Incoming, OscError, decode_datagram, parse
from osc_bridge.osc.replies import Replies
from osc_bridge.osc.reply_policy import ERROR_BURST, ERROR_RATE, is_reply_address, looks_like_reply
from osc_bridge.osc.scheduler import Entry, Scheduler, Source, plan, waits
from osc_bridge.osc.udp_socket import OscServerError, feedback_address, kernel_drops, open_udp

log = logging.getLogger("gesam.osc")

__all__ = ["OscServer", "OscServerError"]

Address = tuple[str, int]
_STOP = object()
_MAX_BATCH = 512  # datagrams handed to the executor at once (it starts on a flood before the end)


def _addresses(feedback: Address | Sequence[Address] | None) -> list[Address]:
    """One (host, port) or several, as a list."""
    if not feedback:
        return []
    if isinstance(feedback[0], str):
        return [cast(Address, feedback)]
    return [cast(Address, a) for a in feedback]


class OscServer:
    """Serves the OSC address space for ``controller`` (an ``osc_bridge.controller.Controller``).

    ``port=0`` picks a free port (see ``address``). ``feedback`` (one address or several) sends
    every reply there instead of to each sender (never this server's own port). ``max_ahead_s`` and ``max_scheduled`` bound
    what future bundles may hold and ``max_renders`` the renders waiting (``scheduler``, an
    ``osc_bridge.osc.scheduler.Scheduler``); ``error_rate``/``error_burst`` the error replies a
    second to one destination. ``start``/``stop`` from the owner thread; ``stats`` and ``latencies_ms``
    from any thread.
    """

    def __init__(self, controller: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 feedback: Address | Sequence[Address] | None = None, *, pads: int | None = None, max_ahead_s: float = 300.0,
                 max_scheduled: int = 10_000, max_renders: int = 4, latency_window: int = 100_000,
                 error_rate: float = ERROR_RATE, error_burst: float = ERROR_BURST) -> None:
        self.controller = controller
        self.host, self.port = host, int(port)
        self.feedback_request = _addresses(feedback)
        engine = getattr(controller, "engine", None)
        self.pads = pads or int(getattr(getattr(getattr(engine, "config", None), "engine", None), "pads", DEFAULT_PADS))
        self.scheduler = Scheduler(max_ahead_s=max_ahead_s, max_scheduled=max_scheduled, max_renders=max_renders)
        # wall clock (time tags) minus perf_counter (the engine's clock), fixed once so that two tags
        # 10 ms apart stay exactly 10 ms apart when they become trigger times
        self.wall_offset = time.time() - time.perf_counter()
        self._sock: socket.socket | None = None
        self._replies = Replies(self._count, error_rate=error_rate, error_burst=error_burst)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._renders: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._wake = threading.Condition()  # the scheduler thread waits on it; a new time tag wakes it
        self._threads: list[threading.Thread] = []
        self._running = False
        self._exec_ident: int | None = None
        self._deferred: list[tuple[str, list[Any]]] = []
        self._lock = threading.Lock()
        self._latencies: collections.deque[float] = collections.deque(maxlen=latency_window)
        self._lateness: collections.deque[float] = collections.deque(maxlen=latency_window)
        self._counts = dict.fromkeys(("datagrams", "received", "handled", "errors", "malformed", "coalesced",
                                      "ignored", "internal_errors", "scheduled", "renders_waiting", "queued",
                                      "replies", "reply_failures", "errors_suppressed", "alerts"), 0)
        # (renders_waiting is the scheduler's figure; stats() reads it there, in this place among the keys)
        self._listening = False

    # ---- life cycle ------------------------------------------------------------------------
    def bind(self) -> Address:
        """Open and bind the socket now (``start`` does it otherwise); OscServerError if it cannot."""
        if self._sock is not None:
            return self.address
        sock = open_udp(self.host, self.port)
        try:
            self._replies.feedback = [feedback_address(sock, *request) for request in self.feedback_request]
        except OscServerError:
            sock.close()
            raise
        self._sock = self._replies.sock = sock
        return self.address

    def start(self) -> "OscServer":
        """Bind (if not yet), listen to engine events and start the threads."""
        if self._running:
            return self
        self.bind()
        self._running = True
        if not self._listening and hasattr(getattr(self.controller, "engine", None), "add_listener"):
            self.controller.engine.add_listener(self._on_engine_event)  # the engine has no remove: see _running
            self._listening = True
        for name, target in (("recv", self._recv_loop), ("exec", self._exec_loop), ("sched", self._sched_loop),
                             ("render", self._render_loop)):
            t = threading.Thread(target=target, name=f"gesam-osc-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        """Stop the threads (scheduled bundles not yet due are dropped) and close the socket."""
        self._running = False
        self._queue.put(_STOP)
        self._renders.put(_STOP)
        with self._wake:
            self._wake.notify_all()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if self._sock is not None:
            self._replies.sock = None
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "OscServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> Address:
        """The bound (host, port); port 0 asked for a free one and this says which."""
        if self._sock is None:
            raise OscServerError("the OSC server is not bound; call bind() or start() first")
        host, port = self._sock.getsockname()[:2]
        return host, port

    # ---- figures -----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters. Once idle: received == handled + errors + coalesced + ignored + pending_scheduled
        (+ renders_waiting); ``malformed`` counts datagrams that were not OSC, ``ignored`` messages
        on reply addresses, ``errors_suppressed`` error replies the rate limit kept back and
        ``alerts`` engine alerts."""
        with self._lock:
            out: dict[str, Any] = dict(self._counts)
        out["renders_waiting"] = self.scheduler.renders_waiting
        out["pending_scheduled"] = len(self.scheduler)
        out["latency_ms"] = LatencyStats.of(list(self._latencies)).to_dict()
        out["kernel_drops"] = kernel_drops(self._sock)
        return out

    def latencies_ms(self) -> list[float]:
        """Datagram received -> command executed, in ms, for the latest executed messages."""
        return list(self._latencies)

    def lateness_ms(self) -> list[float]:
        """Time tag -> executed, in ms, for scheduled messages (never negative)."""
        return list(self._lateness)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    # ---- threads -----------------------------------------------------------------------------
    def _recv_loop(self) -> None:
        """Wait for the socket, then take every datagram waiting and queue them as one batch: the
        executor is not woken per datagram, so a flood costs one hand-over per batch, not per packet."""
        sock, clock = self._sock, time.perf_counter
        assert sock is not None
        with selectors.DefaultSelector() as selector:  # epoll/kqueue/select: whatever the platform has
            selector.register(sock, selectors.EVENT_READ)
            while self._running:
                try:
                    if not selector.select(0.1):
                        continue
                except OSError:
                    continue
                self._take_batch(sock, clock)

    def _take_batch(self, sock: socket.socket, clock: Callable[[], float]) -> None:
        """Every datagram waiting (up to ``_MAX_BATCH``), queued as one batch for the executor."""
        batch: list[tuple[bytes, Any, float]] = []  # (datagram, sender address, arrival time)
        while len(batch) < _MAX_BATCH:
            try:
                data, sender = sock.recvfrom(65536)
            except BlockingIOError:
                break
            except OSError as exc:  # ICMP errors from an earlier reply, or the socket closed on stop
                log.debug("OSC receive: %s", exc)
                break
            batch.append((data, sender, clock()))
        if batch:
            self._count("queued", len(batch))
            self._queue.put(("datagrams", batch))

    def _exec_loop(self) -> None:
        self._exec_ident = threading.get_ident()
        get = self._queue.get
        while True:
            batch = [get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            try:
                self._process([item for item in batch if item is not _STOP])
            except Exception:  # noqa: BLE001 - a bug here must not end the server
                self._count("internal_errors")
                log.exception("OSC executor")
            if stop and not self._running:
                return

    def _sched_loop(self) -> None:
        """Sleep until the scheduler's next time tag (a new one wakes it), then queue what is due."""
        scheduler = self.scheduler
        with self._wake:
            while self._running:
                when = scheduler.next_time()
                if when is None:
                    self._wake.wait()
                    continue
                delay = when - scheduler.clock()
                if delay > 0:
                    self._wake.wait(min(delay, 1.0))
                    continue
                self._queue.put(("due", scheduler.due()))

    def _render_loop(self) -> None:
        while True:
            entry = self._renders.get()
            if entry is _STOP:
                return
            self.scheduler.render_started()
            self._run(entry, measured=False)  # not in the latency figures: a render takes the model's time

    # ---- the work ----------------------------------------------------------------------------
    def _process(self, batch: list[Any]) -> None:
        """Decode and parse, schedule what is for later, collapse runs of moves, execute and answer:
        in arrival order. Messages on reply addresses are counted and dropped, never answered."""
        entries: list[Entry] = []
        later: list[Entry] = []
        counts = dict.fromkeys(("datagrams", "malformed", "received", "queued", "ignored"), 0)
        malformed: list[tuple[Source, str]] = []
        for kind, items in batch:
            if kind == "due":  # from the scheduler, already parsed
                entries.extend(items)
                continue
            counts["datagrams"] += len(items)
            for data, sender, t_recv in items:
                src = (sender, len(data))
                try:
                    messages = decode_datagram(data)
                except OscError as exc:
                    if looks_like_reply(data):  # a broken reply: one message on a reply address, ignored
                        counts["received"] += 1
                        counts["ignored"] += 1
                    else:
                        malformed.append((src, str(exc)))
                    continue
                except Exception as exc:  # noqa: BLE001 - a decoder bug: counted and answered like the rest
                    log.exception("OSC decode of %d bytes", len(data))
                    self._count("internal_errors")
                    malformed.append((src, f"internal error while decoding the datagram ({type(exc).__name__})"))
                    continue
                counts["received"] += len(messages)
                now = self.scheduler.clock()
                for m in messages:
                    if is_reply_address(m.address):
                        counts["ignored"] += 1
                        continue
                    self._replies.last_client = sender
                    entry = Entry(self._parse(m), m, src, t_recv)
                    (later if waits(entry, now) else entries).append(entry)
        counts["queued"] = -counts["datagrams"]
        counts["malformed"] = len(malformed)
        with self._lock:  # counted before any answer goes out
            for name, n in counts.items():
                self._counts[name] += n
        for src, reason in malformed:
            self._error(src, reason)
        for entry in later:
            self._schedule(entry)
        for action, entry in plan(entries):
            if action == "coalesced":
                self._count("coalesced")
            elif action == "refuse":
                self._count("errors")
                self._error(entry.source, str(entry.cmd))
            elif action == "render":
                self._queue_render(entry)
            else:
                self._run(entry)

    def _parse(self, m: Incoming) -> Command | OscError:
        try:
            return parse(m.address, m.args, self.pads)
        except OscError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a parser bug: answered as a refusal, counted as internal
            log.exception("OSC parse %r", m.address)
            self._count("internal_errors")
            return OscError(f"{m.address}: internal error, nothing was done ({type(exc).__name__})")

    def _run(self, entry: Entry, measured: bool = True) -> None:
        """Execute one entry's command; answer its replies, or its refusal on /gesam/error. When
        ``measured``, the time it took since arrival (or since its time tag, when scheduled) is kept."""
        m, src = entry.message, entry.source
        cmd = entry.cmd
        if m.timetag is not None and isinstance(cmd, TIMED):  # the sound lands on the tag's sample
            cmd = dataclasses.replace(cmd, at=m.timetag - self.wall_offset)
        try:
            replies = self.controller.execute(cmd)
        except GesamError as exc:
            self._count("errors")
            self._error(src, f"{m.address}: {exc}")
        except Exception as exc:  # noqa: BLE001 - counted, answered and logged; the server goes on
            self._count("errors")
            self._count("internal_errors")
            log.exception("OSC %s %r", m.address, m.args)
            self._error(src, f"{m.address}: internal error, nothing was done ({type(exc).__name__}: {exc})")
        else:
            if measured and entry.scheduled:
                assert m.timetag is not None
                self._lateness.append(1000.0 * max(self.scheduler.clock() - m.timetag, 0.0))
            elif measured:
                self._latencies.append(1000.0 * (time.perf_counter() - entry.received))
            self._count("handled")
            for address, args in replies:
                self._replies.send(src[0], address, args)
        if self._deferred and threading.get_ident() == self._exec_ident:
            deferred, self._deferred = self._deferred, []
            for address, args in deferred:
                self._replies.push(address, args)

    def _schedule(self, entry: Entry) -> None:
        reason = self.scheduler.schedule(entry)
        if reason:
            self._count("errors")
            self._error(entry.source, reason)
            return
        with self._wake:
            self._wake.notify()
        self._count("scheduled")

    def _queue_render(self, entry: Entry) -> None:
        reason = self.scheduler.take_render(entry)
        if reason:
            self._count("errors")
            self._error(entry.source, reason)
        else:
            self._renders.put(entry)

    # ---- replies -------------------------------------------------------------------------------
    def push(self, address: str, args: list[Any]) -> None:
        """Send a message nobody asked for (a changed sound file, a model switch) where engine events
        go: every feedback address, else the last client. Any thread."""
        self._replies.push(address, args)

    def push_error(self, reason: str) -> None:
        """A /gesam/error nobody asked for (a model that could not load), under the error limits."""
        self._replies.error(self._replies.last_client, reason, 0)

    def _on_engine_event(self, event: str, data: dict[str, Any]) -> None:
        """Engine listener (generator, executor or effects thread): the cursor's exact point is
        ready, or an alert (e.g. the effects chain made a non-finite block) to pass on."""
        if not self._running:
            return
        if event == "alert":
            self._replies.alert(str(data.get("source", "engine")), str(data.get("message", "")))
            return
        if event in ("audio", "latency"):  # the audio process's health; what to compensate
            reply = audio_reply(data) if event == "audio" else latency_reply(data)
            self._replies.push(*reply)
            return
        if event != "ready" or data.get("slot") != "cursor":
            return
        xy = tuple(data.get("xy", ()))
        if xy != tuple(self.controller.engine.cursor):
            return  # a point the cursor has already left
        reply = ("/gesam/state/ready", [float(xy[0]), float(xy[1])])
        if threading.get_ident() == self._exec_ident:
            self._deferred.append(reply)  # sent after the move's own /gesam/state/xy
        else:
            self._replies.push(*reply)

    def _error(self, src: Source, reason: str) -> None:
        self._replies.error(src[0], reason, src[1])

