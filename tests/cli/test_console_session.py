"""The serve console's terminal side: whole lines from many threads, coalesced underrun lines,
and a console loop that no line ends but `quit`."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gesam_engine.cli.console_session import Printer, UnderrunReport, run_console
from gesam_engine.errors import GesamError
from osc_bridge.controller import Controller


class Chunks:
    """A text stream that records every write() separately (as a terminal receives them)."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def lines(self) -> list[str]:
        return "".join(self.writes).splitlines()


def test_lines_from_many_threads_are_written_whole() -> None:
    stream = Chunks()
    printer = Printer(stream=stream)  # type: ignore[arg-type]
    start = threading.Barrier(8)

    def talk(k: int) -> None:
        start.wait()
        for i in range(200):
            (printer.say if k % 2 else printer.reply)(f"thread {k} line {i} " + "x" * 50)

    threads = [threading.Thread(target=talk, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stream.writes) == 1600
    assert all(w.endswith("x" * 50 + "\n") and w.count("\n") == 1 for w in stream.writes)  # one write per line


def test_quiet_keeps_only_what_commands_answer() -> None:
    stream = Chunks()
    printer = Printer(quiet=True, stream=stream)  # type: ignore[arg-type]
    printer.say("[output] 3 underruns")
    printer.reply("cursor (0.5, 0.5)")
    assert stream.lines() == ["cursor (0.5, 0.5)"]


def test_underruns_are_coalesced_into_at_most_one_line_per_interval() -> None:
    """An underrun every 100 ms for 20 s (the busy-CPU case) gives 4-5 lines, not 200, and the
    lines account for every underrun."""
    report = UnderrunReport(every_s=5.0, now=0.0)
    lines = []
    count = 0
    for step in range(1, 201):
        now = step * 0.1
        count += 1
        line = report.update(count, now, render_p99_ms=1.0)
        if line:
            lines.append((now, line))
    assert 4 <= len(lines) <= 5
    assert all(b[0] - a[0] >= 5.0 for a, b in zip(lines, lines[1:]))
    assert lines[0][1] == "[output] 1 underrun in the last 0 s (total 1); the audio process renders a block in 1.00 ms (p99)"
    t_last = lines[-1][0]
    assert report.update(count, t_last + 1.0) is None  # the rest waits for the interval...
    last = report.update(count, t_last + 5.0)  # ...and is said then, once
    assert last is not None
    lines.append((t_last + 5.0, last))
    assert sum(int(line.split()[1]) for _, line in lines) == 200 == report.seen
    assert last.endswith("(total 200)")
    assert report.update(count, 100.0) is None  # nothing new: nothing said


class Boom:
    """An engine whose every method fails in a way a console line must survive."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise {"move": ZeroDivisionError("x"), "gain": GesamError("gain refused")}.get(name, OverflowError("y"))
        return fail


def test_no_line_ends_the_console_but_quit() -> None:
    stream = Chunks()
    printer = Printer(stream=stream)  # type: ignore[arg-type]
    lines = iter(["move 0.5 0.5", "gain 1", "panic", "jump", "sleep -1", "quit", "never read"])
    assert run_console(Controller(Boom()), printer, lines) == "quit"
    assert next(lines) == "never read"
    out = stream.lines()
    assert out[0] == "error: ZeroDivisionError: x (a bug in gesam; please report this line)"
    assert out[1] == "error: gain refused"
    assert out[2].startswith("error: OverflowError: y")
    assert out[3].startswith("error: unknown command 'jump'")
    assert out[4].startswith("error: usage: sleep SECONDS")
    assert run_console(Controller(Boom()), printer, iter(["# only a comment"])) == "eof"


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_stop_request_is_not_swallowed(stop: type[BaseException]) -> None:
    class Stopping:
        def panic(self) -> None:
            raise stop()

    with pytest.raises(stop):
        run_console(Controller(Stopping()), Printer(stream=Chunks()), iter(["panic"]))  # type: ignore[arg-type]
