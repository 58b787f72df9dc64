"""What differs by platform: ru_maxrss is KiB on Linux but bytes on macOS, and Windows has no
`resource` module (no peak RSS, no file-descriptor limit to read)."""

from __future__ import annotations

import types

import pytest

from gesam_engine import peak_memory
from osc_bridge.webmap import http_pool


def _fake_resource(maxrss: int) -> types.SimpleNamespace:
    usage = types.SimpleNamespace(ru_maxrss=maxrss)
    return types.SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: usage)


@pytest.mark.parametrize(("platform", "maxrss"), [("linux", 300 * 1024), ("darwin", 300 * 2**20), ("freebsd14", 300 * 1024)])
def test_the_units_follow_the_platform(monkeypatch: pytest.MonkeyPatch, platform: str, maxrss: int) -> None:
    monkeypatch.setattr(peak_memory.sys, "platform", platform)
    monkeypatch.setattr(peak_memory, "resource", _fake_resource(maxrss))
    assert peak_memory.peak_rss_mb() == 300.0


def test_none_without_getrusage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peak_memory, "resource", None)
    assert peak_memory.peak_rss_mb() is None


def test_this_process() -> None:
    rss = peak_memory.peak_rss_mb()
    assert rss is not None and 10 < rss < 1e6  # a Python process with numpy loaded: tens of MiB at least


def test_the_web_maps_connection_limit_without_rlimits(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 8 <= http_pool.default_max_connections() <= 512
    monkeypatch.setattr(http_pool, "resource", None)
    assert http_pool.default_max_connections() == 512
