"""The foundation bench runs to its end with today's defaults (a bench that crashes is only found at
`make bench` time otherwise): training both stages, generation in both modes, the codec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_foundation_bench_times_both_generator_modes(tmp_path: Path) -> None:
    out = tmp_path / "foundation.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_foundation.py"), "--quick", "--threads", "1",
                          "--kit", str(tmp_path / "no-kit"), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    gen = result["generation"]
    assert gen["parallel_batch_1"]["median_ms"] > 0 and gen["batch_1"]["kv_cache"]["median_ms"] > 0
    assert result["training_fixture"]["transformer_s_per_epoch"] > 0  # the default (refine) mode trained
