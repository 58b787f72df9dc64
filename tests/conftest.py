"""Shared fixtures: a procedural drum kit written once per test session.

The CI skip rule (a skip fails under CI=true) is the plugin ``tests.part_required``, loaded by
``addopts`` in pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from gesam_engine.data.synth import write_synth_kit


@pytest.fixture(scope="session")
def synth_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with kicks/ snares/ hihats/ toms/ claps/ (6 each) and broken/ (bad files)."""
    directory = tmp_path_factory.mktemp("synth_kit")
    write_synth_kit(directory, per_class=6, seed=0)
    return directory
