"""MIDI messages between the backend's callback and the worker: continuous controls coalesce (the
newest wins, like OSC cursor moves), everything else keeps its order and is never lost uncounted.

A control change (per channel and controller) or pitch bend (per channel) that finds a waiting
one of the same key, with no other kind of message queued since, takes its place and moves to the
end of that run: a knob's whole sweep becomes its last position, and the last MSB and LSB of a
14-bit pair keep their order. Any other message (notes, program changes, ...) is a barrier: it
waits in order, and a control after it starts a new run, so a note plays at the controller
positions sent before it.

At most ``capacity`` messages wait. When full, a control replaces the newest waiting one of its
key even across a barrier (a knob's last position is never lost); one with no waiting key, and
any other message, is dropped and counted (``dropped``, ``dropped_notes``).

``put`` from the backend's thread (never blocks), ``get`` from one worker, ``stats`` from any.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Hashable, Union

Stamped = tuple[float, Any]  # (perf_counter at arrival, mido message)
_Run = collections.OrderedDict  # key -> Stamped: controls with no barrier between them
_Item = Union["_Run[Hashable, Stamped]", Stamped]


def control_key(msg: Any) -> Hashable | None:
    """What a message coalesces by: ('cc', channel, controller), ('bend', channel), or None."""
    kind = getattr(msg, "type", None)
    if kind == "control_change":
        return ("cc", msg.channel, msg.control)
    if kind == "pitchwheel":
        return ("bend", msg.channel)
    return None


class MidiMailbox:
    """A bounded, coalescing queue of stamped MIDI messages; see the module text."""

    def __init__(self, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._items: collections.deque[_Item] = collections.deque()
        self._size = 0
        self._closed = False
        self._cond = threading.Condition()
        self.arrived = self.coalesced = self.dropped = self.dropped_notes = 0

    def put(self, stamp: float, msg: Any) -> None:
        """Queue ``msg`` (or coalesce or count it); never blocks."""
        key = control_key(msg)
        with self._cond:
            self.arrived += 1
            tail = self._items[-1] if self._items else None
            if key is not None and isinstance(tail, _Run) and key in tail:
                tail.move_to_end(key)
                tail[key] = (stamp, msg)
                self.coalesced += 1
                return
            if self._size >= self.capacity:
                self._overflow(key, stamp, msg)
                return
            if key is None:
                self._items.append((stamp, msg))
            elif isinstance(tail, _Run):
                tail[key] = (stamp, msg)
            else:
                self._items.append(_Run({key: (stamp, msg)}))
            self._size += 1
            self._cond.notify()

    def _overflow(self, key: Hashable | None, stamp: float, msg: Any) -> None:
        """Full (under the lock): a control replaces its newest waiting value; the rest is dropped."""
        if key is not None:
            for item in reversed(self._items):
                if isinstance(item, _Run) and key in item:
                    item[key] = (stamp, msg)
                    self.coalesced += 1
                    return
        self.dropped += 1
        if getattr(msg, "type", None) in ("note_on", "note_off"):
            self.dropped_notes += 1

    def get(self, timeout: float | None = None) -> Stamped | None:
        """The oldest waiting message; None after ``close`` once all are taken (or on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout) or not self._items:
                return None
            head = self._items[0]
            if isinstance(head, _Run):
                _, item = head.popitem(last=False)
                if not head:
                    self._items.popleft()
            else:
                self._items.popleft()
                item = head  # narrowed: a plain stamped message, not a run
            self._size -= 1
            return item

    def close(self) -> None:
        """No more messages will come: ``get`` returns what waits, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Take messages again after ``close`` (a MidiInput started again)."""
        with self._cond:
            self._closed = False

    def stats(self) -> dict[str, int]:
        """arrived == taken + coalesced + dropped + waiting."""
        with self._cond:
            return {"arrived": self.arrived, "coalesced": self.coalesced, "dropped": self.dropped,
                    "dropped_notes": self.dropped_notes, "waiting": self._size}
