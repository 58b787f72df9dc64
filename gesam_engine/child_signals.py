"""Run a child process that must hear Ctrl-C and SIGTERM exactly once, from us (torchrun under ``--nproc``).

``subprocess.call`` would SIGKILL the child on Ctrl-C, leaving torchrun's workers (each in a
session of its own) running on unseen; and a SIGTERM to us would leave the child alone. Here the
child gets a session of its own (a terminal's Ctrl-C reaches it only through us, once) and every
SIGINT or SIGTERM we get is passed on; torchrun passes it to its workers (a training run stops
at the end of its epoch after a checkpoint) and SIGKILLs those still running after its shutdown
timeout (TORCH_ELASTIC_SHUTDOWN_TIMEOUT seconds)."""

from __future__ import annotations

import signal
import subprocess
import threading
from typing import Mapping, Sequence

INTERRUPTED = 130  # a run stopped by a signal, as a shell reports Ctrl-C
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: the terminal or SSH session closed


def run_forwarding_signals(cmd: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``cmd`` to its end, passing SIGINT, SIGTERM and SIGHUP on to it; its exit code, or 130
    when a forwarded signal stopped it (torchrun itself exits 1 with a traceback then). The
    handlers are in place before the child starts; if we end any other way (an exception), the
    child is sent SIGTERM and waited for, so it never runs on orphaned. Off the main thread (no
    handlers can be installed) the child stays in our session and hears the terminal itself."""
    if threading.current_thread() is not threading.main_thread():
        return subprocess.call(list(cmd), env=dict(env))
    got: list[int] = []
    proc: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: object) -> None:
        got.append(signum)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        proc = subprocess.Popen(list(cmd), env=dict(env), start_new_session=True)
        if got:  # a signal came while it started
            proc.send_signal(got[-1])
        code = proc.wait()
    except BaseException:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait()
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return INTERRUPTED if got and code != 0 else code
