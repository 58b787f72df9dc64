"""The console of ``gesam serve``: lines in (readline with history on a terminal, plain lines
from a pipe), replies and status lines out, whole, from any thread.

osc_bridge/console.py knows the commands (parsed into the bridge's typed commands and carried
out by its Controller, as OSC, MIDI and the web map are); this module knows the terminal. A
status line from another thread (the output's state, underruns) never splits a reply: every line
is written under one lock, and on a terminal the prompt and what was typed so far are drawn
again below it.
Underruns are coalesced into at most one line per ``UNDERRUN_EVERY_S``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from gesam_engine.errors import GesamError
from osc_bridge.console import COMMANDS, run_line
from osc_bridge.controller import Controller

PROMPT = "gesam> "
HISTORY_FILE = "console_history"
HISTORY_LENGTH = 1000
UNDERRUN_EVERY_S = 5.0


class Printer:
    """Writes whole lines to ``stream`` from any thread. ``quiet`` keeps only command replies."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.prompting = False  # a readline prompt is on screen: redraw it after a status line
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        with self._lock:
            if self.prompting:
                import readline

                self.stream.write(f"\r\x1b[K{text}\n{PROMPT}{readline.get_line_buffer()}")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def reply(self, text: str) -> None:
        """What a command answered (printed even with --quiet: it was asked for)."""
        self._write(text)

    def say(self, text: str) -> None:
        """A start-up, status or shutdown line (any thread; nothing with --quiet)."""
        if not self.quiet:
            self._write(text)


class UnderrunReport:
    """Coalesces the output's underrun count into at most one line per ``every_s`` seconds."""

    def __init__(self, every_s: float = UNDERRUN_EVERY_S, now: float = 0.0, seen: int = 0) -> None:
        self.every_s = every_s
        self.seen = seen
        self.since = now
        self.last_line = -math.inf

    def update(self, count: int, now: float, render_p99_ms: float | None = None) -> str | None:
        """The line to print for ``count`` underruns in all at time ``now`` (seconds), or None."""
        if count <= self.seen or now - self.last_line < self.every_s:
            return None
        n = count - self.seen
        line = f"[output] {n} underrun{'s' if n != 1 else ''} in the last {now - self.since:.0f} s (total {count})"
        if render_p99_ms is not None:
            line += f"; the audio process renders a block in {render_p99_ms:.2f} ms (p99)"
        self.seen, self.since, self.last_line = count, now, now
        return line


def report_underruns(engine: Any, printer: Printer, stop: threading.Event, every_s: float = UNDERRUN_EVERY_S,
                     poll_s: float = 0.5) -> None:
    """Thread body: print coalesced underrun lines until ``stop`` is set."""
    report = UnderrunReport(every_s, time.monotonic(), engine.output.underruns)
    while not stop.wait(poll_s):
        line = report.update(engine.output.underruns, time.monotonic(), engine.audio_state()["render_ms"]["p99"])
        if line:
            printer.say(line)


def history_path() -> Path:
    """Where the console keeps its history: ``<gesam cache dir>/console_history``."""
    from gesam_engine.model_paths import default_cache_dir

    return default_cache_dir() / HISTORY_FILE


def _complete(text: str, state: int) -> str | None:
    import readline

    if readline.get_begidx() != 0:
        return None
    matches = [name + " " for name in COMMANDS if name.startswith(text.lower())]
    return matches[state] if state < len(matches) else None


def _terminal_lines(printer: Printer, history: Path) -> Iterator[str]:
    """Lines typed at a terminal, with readline's editing, history (kept in ``history``) and
    Tab completion of command names; ends at Ctrl-D."""
    try:
        import readline
    except ImportError:  # a Python built without readline: plain input() still works
        readline = None  # type: ignore[assignment]
    if readline is not None:
        try:
            readline.read_history_file(history)
        except OSError:  # none yet, or unreadable: start a new one
            pass
        readline.set_history_length(HISTORY_LENGTH)
        readline.set_completer(_complete)
        readline.parse_and_bind("bind ^I rl_complete" if "libedit" in (readline.__doc__ or "") else "tab: complete")
    try:
        while True:
            printer.prompting = readline is not None  # only while input() shows the prompt
            try:
                line = input(PROMPT)
            except EOFError:
                printer.stream.write("\n")  # Ctrl-D leaves the cursor after the prompt
                return
            finally:
                printer.prompting = False
            yield line
    finally:
        if readline is not None:
            try:
                history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(history)
            except OSError as exc:
                printer.say(f"console history not saved in {history}: {exc}")


def console_lines(printer: Printer, stdin: TextIO | None = None, history: Path | None = None) -> Iterator[str]:
    """The console's lines: from a terminal with readline, else as they come down the pipe."""
    stdin = stdin or sys.stdin
    if hasattr(stdin, "reconfigure"):  # bytes that are not text become U+FFFD, never a UnicodeDecodeError
        stdin.reconfigure(errors="replace")
    if stdin.isatty() and sys.stdout.isatty():
        yield from _terminal_lines(printer, history or history_path())
    else:
        yield from stdin


def run_console(controller: Controller, printer: Printer, lines: Iterator[str],
                sleep: Callable[[float], None] = time.sleep) -> str:
    """Carry out ``lines`` through ``controller`` until `quit` ("quit") or their end ("eof"). A
    refused line is answered with ``error: ...``; no line ends the console but `quit` (a signal still does)."""
    for line in lines:
        try:
            reply = run_line(controller, line, sleep)
        except EOFError:
            return "quit"
        except GesamError as exc:
            reply = f"error: {exc}"
        except Exception as exc:  # noqa: BLE001  (a bug of ours must not stop the music: say it, go on)
            reply = f"error: {type(exc).__name__}: {exc} (a bug in gesam; please report this line)"
        if reply:
            printer.reply(reply)
    return "eof"
