"""The instrument bench runs to its end on the shipped model (a bench that crashes is only found at
`make bench` time otherwise), and what it measures holds: no trigger refused during a model switch,
every variant made."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_instrument_bench_measures_locate_variants_kits_and_a_model_switch(tmp_path: Path) -> None:
    out = tmp_path / "instrument.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_instrument.py"), "--files", "3",
                          "--triggers", "20", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["variants"]["all_made"] and result["variants"]["sounds"] == 256
    assert result["pad_trigger"]["plain"]["median_ms"] > 0 and result["kit"]["maps"]
    switch = result["model_switch"]
    assert switch["trigger_errors"] == 0 and switch["triggers_during"] > 0 and "error" not in switch["event"]
    assert "skipped" in result["locate"] or result["locate"]["median_ms"] > 0
