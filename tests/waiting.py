"""Waiting for something another thread does, without fixed sleeps."""

from __future__ import annotations

import time
from typing import Callable


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.002) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Like ``wait_until``, but a timeout fails the test."""
    if not wait_until(condition, timeout):
        raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
