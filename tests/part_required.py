"""Tests that need a real part (JACK, a VST3, Pure Data, Chromium) skip locally without it and fail in CI.

CI installs every part in ``.ci/run``; a part missing there is a broken install step, so a
skip would hide it. This module is also a pytest plugin (``-p tests.part_required`` in
pyproject's addopts): it turns every skip into a failure when ``CI=true``, except for tests
marked ``gpu`` (CI has no GPU).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether we run under CI (``CI=true``, as CI services and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_part(reason: str) -> NoReturn:
    """Skip the test (locally) or fail it (in CI) because a real part is missing."""
    if in_ci():
        pytest.fail(f"CI=true and a real part is missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI a skipped test fails: CI installs every real part, so a skip means a missing install.

    Tests marked ``gpu`` may skip (CI has no GPU); expected failures (xfail) are left alone.
    """
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail") or item.get_closest_marker("gpu"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"CI=true: this test would have been skipped, but CI must run it ({reason})"
