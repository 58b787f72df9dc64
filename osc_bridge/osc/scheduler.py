"""What the OSC server runs, and when: no sockets and no threads here, so a test can drive it with
plain calls and a fake clock.

- ``waits``: a parsed message whose bundle time tag is in the future waits for it (a refusal
  never waits: it is answered at once). ``Scheduler.schedule`` keeps it, or refuses it when the
  tag is more than ``max_ahead_s`` ahead or ``max_scheduled`` messages already wait;
  ``Scheduler.due`` hands back everything whose time has come (never early), by time tag and
  then in the order scheduled.
- ``plan``: one batch of entries (in arrival order, due ones among them) becomes steps in the
  same order. A ``/gesam/xy`` followed by another with no other command between (refusals do not
  count) is coalesced: a burst of moves runs only its newest point, and moves keep their place
  relative to triggers and everything else. Nothing else is ever dropped.
- Renders and locates (``commands.SLOW``: the model works for them) go to a queue of their own
  (they never hold up a trigger): at most ``max_renders`` wait (``Scheduler.take_render``), the
  rest are refused.

The ``Scheduler`` is thread-safe (one lock, held only for its own bookkeeping); the server's
threads do the waiting.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any, Callable, Literal, NamedTuple, Sequence

from osc_bridge.commands import SLOW, Command, Move
from osc_bridge.osc.parse import Incoming, OscError

__all__ = ["Entry", "Scheduler", "Step", "plan", "superseded_moves", "waits"]

Source = tuple[Any, int]  # (sender's socket address, bytes of the datagram): whom to answer, and how much
Action = Literal["coalesced", "refuse", "render", "run"]


class Entry(NamedTuple):
    """One parsed message on its way to the controller.

    ``cmd`` is an OscError for a refusal; ``source`` says whom to answer; ``received`` is the
    arrival time (``perf_counter``); ``scheduled`` is True once it has waited for its time tag.
    """

    cmd: Command | OscError
    message: Incoming
    source: Source
    received: float
    scheduled: bool = False


class Step(NamedTuple):
    """What to do with one entry: ``coalesced`` (a newer move follows: count it, run nothing),
    ``refuse`` (answer its OscError), ``render`` (to the render queue) or ``run`` (now)."""

    action: Action
    entry: Entry


def waits(entry: Entry, now: float) -> bool:
    """Whether ``entry`` must wait for its time tag (in the future at ``now``; refusals never wait)."""
    timetag = entry.message.timetag
    return timetag is not None and timetag > now and not isinstance(entry.cmd, OscError)


def superseded_moves(parsed: Sequence[Any]) -> list[bool]:
    """True for each Move followed by another Move with no other command between (refusals do not count)."""
    out = [False] * len(parsed)
    next_is_move = False
    for i in range(len(parsed) - 1, -1, -1):
        cmd = parsed[i]
        if isinstance(cmd, OscError):
            continue
        is_move = isinstance(cmd, Move)
        out[i] = is_move and next_is_move
        next_is_move = is_move
    return out


def plan(entries: Sequence[Entry]) -> list[Step]:
    """The steps for one batch of entries that run now, in their order; see the module text."""
    superseded = superseded_moves([e.cmd for e in entries])
    steps: list[Step] = []
    for entry, skip in zip(entries, superseded):
        if skip:
            steps.append(Step("coalesced", entry))
        elif isinstance(entry.cmd, OscError):
            steps.append(Step("refuse", entry))
        elif isinstance(entry.cmd, SLOW):
            steps.append(Step("render", entry))
        else:
            steps.append(Step("run", entry))
    return steps


class Scheduler:
    """The messages waiting for their time tag, and the renders waiting for the render thread.

    ``clock`` is the wall clock time tags are read against (``time.time``; a test passes its own).
    Any thread may call every method.
    """

    def __init__(self, *, max_ahead_s: float = 300.0, max_scheduled: int = 10_000, max_renders: int = 4,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_ahead_s, self.max_scheduled, self.max_renders = max_ahead_s, max_scheduled, max_renders
        self.clock = clock
        self._heap: list[tuple[float, int, Entry]] = []  # (time tag, order scheduled, entry)
        self._seq = itertools.count()
        self._renders = 0
        self._lock = threading.Lock()

    # ---- time tags ---------------------------------------------------------------------------
    def schedule(self, entry: Entry) -> str:
        """Keep ``entry`` until its time tag; '' when kept, else the reason it is refused."""
        m = entry.message
        assert m.timetag is not None
        ahead = m.timetag - self.clock()
        with self._lock:
            if ahead > self.max_ahead_s:
                return (f"{m.address}: bundle time tag is {ahead:.0f} s ahead; gesam schedules at most "
                        f"{self.max_ahead_s:g} s ahead (check the sender's clock)")
            if len(self._heap) >= self.max_scheduled:
                return f"{m.address}: {len(self._heap)} scheduled messages are already waiting; try later"
            heapq.heappush(self._heap, (m.timetag, next(self._seq), entry))
            return ""

    def next_time(self) -> float | None:
        """The earliest time tag waiting (None: nothing waits)."""
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def due(self) -> list[Entry]:
        """Every entry whose time tag has come, taken out, by time tag then order scheduled; each
        marked ``scheduled``."""
        now = self.clock()
        out: list[Entry] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                out.append(heapq.heappop(self._heap)[2]._replace(scheduled=True))
        return out

    def __len__(self) -> int:
        """Entries waiting for their time tag."""
        with self._lock:
            return len(self._heap)

    # ---- renders -----------------------------------------------------------------------------
    def take_render(self, entry: Entry) -> str:
        """A place in the render queue for ``entry``: '' when it has one, else the reason it is refused."""
        with self._lock:
            if self._renders >= self.max_renders:
                return (f"{entry.message.address}: {self.max_renders} renders are already waiting; send it again "
                        "after /gesam/state/render answers")
            self._renders += 1
            return ""

    def render_started(self) -> None:
        """A render left the queue (the render thread took it): its place is free."""
        with self._lock:
            self._renders -= 1

    @property
    def renders_waiting(self) -> int:
        with self._lock:
            return self._renders
