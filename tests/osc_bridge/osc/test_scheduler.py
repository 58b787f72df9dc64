"""The OSC scheduler without sockets or threads: time tags against a fake clock, coalesced moves and
the render queue, by plain calls."""

from __future__ import annotations

from typing import Any

import pytest

from osc_bridge.commands import Command, Gain, Move, Ping, Render, Trigger
from osc_bridge.osc.parse import Incoming, OscError
from osc_bridge.osc.scheduler import Entry, Scheduler, plan, superseded_moves, waits

SENDER = ("127.0.0.1", 50000)


class Clock:
    """A wall clock that moves only when told."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entry(cmd: Command | OscError, timetag: float | None = None, address: str = "/gesam/x") -> Entry:
    return Entry(cmd, Incoming(address, (), timetag), (SENDER, 20), 0.0)


def actions(entries: list[Entry]) -> list[tuple[str, Any]]:
    return [(step.action, step.entry.cmd) for step in plan(entries)]


# ---- when a message runs --------------------------------------------------------------------------
def test_only_a_future_time_tag_waits_and_a_refusal_never_does() -> None:
    now = 100.0
    assert waits(entry(Ping(), 100.5), now)
    assert not waits(entry(Ping(), None), now)  # no bundle, or 'immediately'
    assert not waits(entry(Ping(), 100.0), now)  # due now
    assert not waits(entry(Ping(), 99.0), now)  # in the past: runs now
    assert not waits(entry(OscError("/gesam/xy: bad"), 200.0), now)  # answered at once, not in 100 s


def test_a_scheduled_message_is_due_at_its_time_tag_never_before() -> None:
    clock = Clock()
    s = Scheduler(clock=clock)
    t0 = clock.now
    assert s.next_time() is None and s.due() == []
    assert s.schedule(entry(Move(0.25, 0.75), t0 + 0.3)) == ""
    assert len(s) == 1 and s.next_time() == t0 + 0.3
    clock.now = t0 + 0.299
    assert s.due() == [] and len(s) == 1
    clock.now = t0 + 0.3
    (due,) = s.due()
    assert due.cmd == Move(0.25, 0.75) and due.scheduled and due.message.timetag == t0 + 0.3
    assert len(s) == 0 and s.next_time() is None and s.due() == []


def test_due_messages_come_by_time_tag_and_equal_tags_keep_their_order() -> None:
    clock = Clock()
    s = Scheduler(clock=clock)
    t = clock.now
    for velocity, when in ((0.1, t + 2), (0.2, t + 1), (0.3, t + 2), (0.4, t + 1), (0.5, t + 3)):
        assert s.schedule(entry(Trigger(velocity), when)) == ""
    assert s.next_time() == t + 1
    clock.now = t + 2.5
    assert [e.cmd for e in s.due()] == [Trigger(0.2), Trigger(0.4), Trigger(0.1), Trigger(0.3)]
    assert s.next_time() == t + 3 and len(s) == 1


def test_too_far_ahead_or_too_many_waiting_is_refused_with_the_reason() -> None:
    clock = Clock()
    s = Scheduler(max_ahead_s=300.0, max_scheduled=2, clock=clock)
    reason = s.schedule(entry(Trigger(), clock.now + 3600, "/gesam/trigger"))
    assert reason == ("/gesam/trigger: bundle time tag is 3600 s ahead; gesam schedules at most 300 s ahead "
                      "(check the sender's clock)")
    assert s.schedule(entry(Trigger(), clock.now + 300)) == ""  # exactly at the limit: kept
    assert s.schedule(entry(Trigger(), clock.now + 1)) == ""
    assert s.schedule(entry(Ping(), clock.now + 1, "/gesam/ping")) == ("/gesam/ping: 2 scheduled messages are "
                                                                       "already waiting; try later")
    assert len(s) == 2
    clock.now += 1
    assert len(s.due()) == 1
    assert s.schedule(entry(Ping(), clock.now + 1)) == ""  # room again


# ---- coalescing -------------------------------------------------------------------------------------
def test_a_burst_of_moves_runs_only_its_newest_point_and_nothing_else_is_dropped() -> None:
    bad = OscError("/gesam/xy: x must be a finite number")
    batch = [entry(Ping()), entry(Move(0.125, 0.125)), entry(Move(0.25, 0.25)), entry(Trigger()),
             entry(Move(0.375, 0.375)), entry(bad), entry(Move(0.5, 0.5)), entry(Ping())]
    assert actions(batch) == [("run", Ping()), ("coalesced", Move(0.125, 0.125)), ("run", Move(0.25, 0.25)),
                              ("run", Trigger()), ("coalesced", Move(0.375, 0.375)), ("refuse", bad),
                              ("run", Move(0.5, 0.5)), ("run", Ping())]


def test_superseded_moves_marks_a_move_only_when_the_next_command_is_a_move() -> None:
    bad = OscError("refused")
    assert superseded_moves([]) == []
    assert superseded_moves([Move(0, 0)]) == [False]
    assert superseded_moves([Move(0, 0), Move(1, 1), Move(0.5, 0.5)]) == [True, True, False]
    assert superseded_moves([Move(0, 0), bad, Move(1, 1)]) == [True, False, False]  # refusals do not count
    assert superseded_moves([Move(0, 0), Gain(1.0), Move(1, 1)]) == [False, False, False]
    assert superseded_moves([Move(0, 0), Move(1, 1), bad]) == [True, False, False]


def test_a_due_bundle_coalesces_with_the_moves_around_it() -> None:
    clock = Clock()
    s = Scheduler(clock=clock)
    s.schedule(entry(Move(0.1, 0.1), clock.now + 1))
    clock.now += 1
    batch = [entry(Move(0.0, 0.0)), *s.due(), entry(Move(0.9, 0.9))]
    assert [(step.action, step.entry.scheduled) for step in plan(batch)] == [("coalesced", False), ("coalesced", True),
                                                                            ("run", False)]


# ---- the render queue ---------------------------------------------------------------------------------
def test_renders_go_to_their_queue_and_at_most_max_renders_wait() -> None:
    render = Render(0.5, 0.5, "kick.wav")
    assert actions([entry(Move(0.5, 0.5)), entry(render), entry(Trigger())]) == [
        ("run", Move(0.5, 0.5)), ("render", render), ("run", Trigger())]
    s = Scheduler(max_renders=2)
    one = entry(render, address="/gesam/render")
    assert s.take_render(one) == "" and s.take_render(one) == "" and s.renders_waiting == 2
    assert s.take_render(one) == ("/gesam/render: 2 renders are already waiting; send it again after "
                                  "/gesam/state/render answers")
    assert s.renders_waiting == 2
    s.render_started()
    assert s.renders_waiting == 1 and s.take_render(one) == ""


@pytest.mark.parametrize("max_renders", [0, 1])
def test_no_more_renders_than_the_limit_ever_wait(max_renders: int) -> None:
    s = Scheduler(max_renders=max_renders)
    taken = sum(s.take_render(entry(Render(0.5, 0.5, "x.wav"))) == "" for _ in range(5))
    assert taken == max_renders == s.renders_waiting
