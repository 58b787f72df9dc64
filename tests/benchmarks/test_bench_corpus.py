"""The corpus bench runs to its end on a small corpus (a bench that crashes is only found at
`make bench` time otherwise): synth-kit, builds with 1 and 2 workers, training and its peak RSS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_corpus_bench_builds_with_one_and_two_workers_and_trains(tmp_path: Path) -> None:
    out = tmp_path / "corpus.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_corpus.py"), "--sounds", "50",
                          "--work", str(tmp_path / "work"), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:] + run.stdout[-2000:]
    result = json.loads(out.read_text())
    assert result["corpus"]["files"] == 50
    for w in (1, 2):
        build = result["build"][f"workers_{w}"]
        assert build["items"] == 50 and build["files_per_s"] > 0 and build["peak_rss_mb"] > 0
    assert result["train"]["n_files"] == 50 and 0 < result["train"]["peak_rss_mb"] < 4096
