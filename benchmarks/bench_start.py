"""Start-up benchmarks: how long `gesam serve` takes to its prompt and `gesam render` to its file.

Everything runs in fresh subprocesses of this checkout (PYTHONPATH is its root), warm: one run
first to fill the OS file cache and the gesam cache, then --runs measured runs, medians reported.

- imports: the modules the serve and the render command import (read from their ``run_*``
  functions), timed inside the process, and which heavy libraries they bring;
- serve: from launching ``gesam serve --model M --no-osc`` until its last start-up line (the
  console's "type `help`" line, the prompt on a terminal), then until the reply to a first
  ``play`` (it must not wait for the model). Output: a JACK dummy server when jackd is installed
  (a live output, as `make run` plays), else ``--output`` into a WAV file;
- render: wall time of ``gesam render --model M --xy 0.3 0.7`` (one point, written to a WAV).

Writes one JSON file and prints a short table.
Usage: python benchmarks/bench_start.py [--model DIR] [--out FILE] [--runs N] [--output auto|jack|file]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.import_scan import command_imports  # noqa: E402
from tests.runtime.jack_harness import JackServer, jack_available  # noqa: E402

HEAVY = ("torch", "numba", "scipy.signal", "pyloudnorm", "librosa", "matplotlib", "sklearn", "pedalboard", "sounddevice")
READY_LINE = "type `help`"  # serve's last start-up line, printed just before it reads commands
GESAM = [sys.executable, "-m", "gesam_engine.cli.main"]
T = TypeVar("T")


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # warm means compiled: let Python keep its .pyc files
    return env


def time_imports(modules: list[str]) -> dict[str, Any]:
    """Seconds to import ``modules`` (after gesam's CLI entry point) in a fresh interpreter, and the heavy libraries loaded."""
    code = (
        "import importlib, json, sys, time\n"
        "t0 = time.perf_counter()\n"
        "import gesam_engine.cli.main\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "s = time.perf_counter() - t0\n"
        f"print(json.dumps({{'s': s, 'heavy': [m for m in {list(HEAVY)!r} if m in sys.modules]}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def python_startup_s() -> float:
    """Wall seconds of an empty interpreter run (the floor under every figure here)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=_env(), check=True)
    return time.perf_counter() - t0


def _lines(stream: IO[str], into: queue.Queue[tuple[float, str | None]]) -> None:
    for line in stream:
        into.put((time.perf_counter(), line))
    into.put((time.perf_counter(), None))


def _until(lines: queue.Queue[tuple[float, str | None]], text: str, timeout: float, seen: list[str]) -> float:
    """perf_counter time of the first line containing ``text``; RuntimeError on end or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            at, line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise RuntimeError(f"no line with {text!r} within {timeout} s; serve said: {''.join(seen)[-2000:]}") from None
        if line is None:
            raise RuntimeError(f"serve ended before printing {text!r}: {''.join(seen)[-2000:]}")
        seen.append(line)
        if text in line:
            return at


def serve_once(model: Path, output_args: list[str], env: dict[str, str], timeout: float = 120.0) -> dict[str, float]:
    """One `gesam serve`: seconds from launch to its ready line, and to the reply to a first ``play``."""
    cmd = [*GESAM, "serve", "--model", str(model), "--no-osc", *output_args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdin is not None and proc.stdout is not None
    lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        ready = _until(lines, READY_LINE, timeout, seen)
        proc.stdin.write("play 0.3 0.7\n")
        proc.stdin.flush()
        played = _until(lines, "played", timeout, seen)
        proc.stdin.close()
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"serve exited with {proc.returncode}: {''.join(seen)[-2000:]}")
    return {"to_prompt_s": ready - t0, "to_first_play_reply_s": played - t0}


def render_once(model: Path, wav: Path) -> float:
    """Wall seconds of one `gesam render` of the point (0.3, 0.7)."""
    t0 = time.perf_counter()
    subprocess.run([*GESAM, "render", "--model", str(model), "--xy", "0.3", "0.7", "-o", str(wav), "--force"],
                   cwd=ROOT, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - t0


def _median(values: list[float], digits: int = 3) -> dict[str, Any]:
    return {"median": round(statistics.median(values), digits), "runs": [round(v, digits) for v in values]}


def warm_then_measure(run: Callable[[], T], runs: int) -> list[T]:
    """``run()`` once to warm the file cache and gesam's cache (not kept), then ``runs`` times."""
    run()
    return [run() for _ in range(runs)]


def bench_serve(model: Path, runs: int, output: str, tmp: Path) -> dict[str, Any]:
    """Warm serve start-up figures on a JACK dummy server (``output`` "jack") or into a WAV file."""
    env = _env()
    server: JackServer | None = None
    if output == "jack":
        server = JackServer(rate=48000, period=256)
        server.start()
        env.update(JACK_DEFAULT_SERVER=server.name, JACK_NO_START_SERVER="1")
        output_args: list[str] = []
    else:
        output_args = ["--output", str(tmp / "take.wav"), "--force"]
    try:
        figures = warm_then_measure(lambda: serve_once(model, output_args, env), runs)
    finally:
        if server is not None:
            server.stop()
    return {"output": output, "to_prompt_s": _median([f["to_prompt_s"] for f in figures]),
            "to_first_play_reply_s": _median([f["to_first_play_reply_s"] for f in figures])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/default", help="model directory (default models/default)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/start.json")
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each figure, after one warming run")
    parser.add_argument("--output", choices=("auto", "jack", "file"), default="auto",
                        help="serve's output: a JACK dummy server (auto: when jackd is installed) or a WAV file")
    args = parser.parse_args()
    model = args.model.resolve()
    output = args.output if args.output != "auto" else ("jack" if jack_available() else "file")
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": platform.python_version()},
        "model": str(args.model), "runs": args.runs,
        "python_startup_s": _median([python_startup_s() for _ in range(args.runs)]),
        "imports": {},
    }
    cli = ROOT / "gesam_engine" / "cli"
    paths = {"serve": command_imports(cli / "serve_cmd.py", ("run_serve", "_serve", "make_osc_server")),
             "render": command_imports(cli / "render_cmd.py", ("run_render",))}
    for name, modules in paths.items():
        timed = warm_then_measure(lambda: time_imports(modules), args.runs)
        result["imports"][name] = {**_median([t["s"] for t in timed]), "heavy_modules": timed[-1]["heavy"],
                                   "modules": modules}
    with tempfile.TemporaryDirectory(prefix="gesam-bench-start-") as tmp:
        result["serve"] = bench_serve(model, args.runs, output, Path(tmp))
        wav = Path(tmp) / "render.wav"
        result["render_wall_s"] = _median(warm_then_measure(lambda: render_once(model, wav), args.runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        ("python -c pass (s)", result["python_startup_s"]["median"]),
        ("import, serve command path (s)", result["imports"]["serve"]["median"]),
        ("import, render command path (s)", result["imports"]["render"]["median"]),
        (f"serve to prompt, warm, {output} (s)", result["serve"]["to_prompt_s"]["median"]),
        (f"serve to first play reply, warm, {output} (s)", result["serve"]["to_first_play_reply_s"]["median"]),
        ("render one point, wall (s)", result["render_wall_s"]["median"]),
    ]
    print(f"{'figure (median of ' + str(args.runs) + ' warm runs)':<52}{'value':>10}")
    for label, value in rows:
        print(f"{label:<52}{value:>10.3f}")
    for name in ("serve", "render"):
        print(f"  {name} imports: {', '.join(result['imports'][name]['heavy_modules']) or 'nothing heavy'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
