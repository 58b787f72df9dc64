"""SIGTERM, SIGINT and the --duration alarm as one orderly stop for ``gesam serve``.

Installed first thing, before the model loads, so a SIGTERM at any moment of start-up ends
serve through its cleanup (the output child stopped, its shared memory unlinked) instead of
killing it. The first signal raises ``Stopped`` in the main thread and ignores the rest, so
the shutdown itself is never interrupted. ``held()`` marks a few lines where an exception
would leave a resource with no owner to close it: a signal there is acted on at its end.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)
REASONS = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "Ctrl-C", signal.SIGALRM: "--duration"}


class Stopped(KeyboardInterrupt):
    """Serve was asked to stop; ``str()`` says by what (SIGTERM, Ctrl-C, --duration)."""


class StopSignals:
    """The handlers while serving; ``restore()`` puts back the ones found."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._held = 0
        self._pending = False
        self._previous: dict[int, Any] = {}

    @classmethod
    def install(cls) -> StopSignals:
        """Handle SIGTERM, SIGINT and SIGALRM from now on (only the main thread can; elsewhere a no-op)."""
        self = cls()
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.reason is None:
            self.reason = REASONS.get(signal.Signals(signum), signal.Signals(signum).name)
        for s in self._previous:  # one is enough: let the shutdown finish
            signal.signal(s, signal.SIG_IGN)
        if self._held:
            self._pending = True
            return
        raise Stopped(self.reason)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """A signal inside the block is acted on when the block ends (keep such blocks short)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if not self._held and self._pending:
            self._pending = False
            raise Stopped(self.reason)

    def alarm(self, seconds: float) -> None:
        """Stop after ``seconds`` (--duration), wherever the main thread is waiting."""
        if not self._previous:
            from gesam_engine.errors import GesamError

            raise GesamError("--duration needs gesam serve to run in the main thread (it stops by SIGALRM)")
        signal.setitimer(signal.ITIMER_REAL, seconds)

    def restore(self) -> None:
        """Cancel the alarm and put back the handlers found at ``install``."""
        if self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for s, handler in self._previous.items():
                signal.signal(s, handler)
            self._previous = {}
