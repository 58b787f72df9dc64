"""``gesam serve``: keep the model warm and play, on an audio device or into a WAV file."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from osc_bridge.controller import Controller
    from osc_bridge.osc_server import OscServer
    from osc_bridge.web_map import WebMap

from gesam_engine.cli.control_setup import add_midi_arguments, program_loader, start_midi

DEFAULT_MODELS = (Path("models/default"), Path("build/demo/model"))


def add_serve_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam serve``."""
    p.add_argument("--model", type=Path, metavar="DIR", help="model directory (default: models/default, then build/demo/model)")
    p.add_argument("--config", type=Path, metavar="TOML", help="engine settings ([output] [voices] [generator] [cache] [engine] [[effects]])")
    p.add_argument("--device", help="audio output device (name or index, see `gesam devices`)")
    p.add_argument("--rate", type=int, help="output sample rate (default 48000)")
    p.add_argument("--blocksize", type=int, help="frames per audio block (default 256)")
    p.add_argument("--model-device", default="auto", help="where the model runs: auto (CUDA if present), cpu, cuda")
    p.add_argument("--output", type=Path, metavar="WAV", help="render into a WAV file instead of a device (bounce)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--cache", type=Path, metavar="DIR", help="cache directory for the built-in bake")
    p.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    osc = p.add_argument_group("OSC control (addresses in docs/design.md; /gesam/ping answers /gesam/pong)")
    osc.add_argument("--osc-host", default="127.0.0.1", metavar="HOST",
                     help="address to listen on (default 127.0.0.1; 0.0.0.0 lets the whole network play)")
    osc.add_argument("--osc-port", type=int, default=9000, metavar="PORT",
                     help="UDP port (default 9000; 0 picks a free one)")
    osc.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    osc.add_argument("--feedback", metavar="HOST:PORT", help="send every OSC reply there instead of to each sender")
    osc.add_argument("--render-dir", type=Path, default=Path("renders"), metavar="DIR",
                     help="the only folder /gesam/render may write into (default ./renders)")
    web = p.add_argument_group("web map (a page to see the maps and play them by clicking)")
    web.add_argument("--web", action="store_true", help="serve the web map (default http://127.0.0.1:8765/)")
    web.add_argument("--web-host", default="127.0.0.1", metavar="HOST",
                     help="address to serve it on (default 127.0.0.1; 0.0.0.0 lets the whole network play)")
    web.add_argument("--web-port", type=int, default=8765, metavar="PORT",
                     help="TCP port (default 8765; 0 picks a free one)")
    web.add_argument("--maps", type=Path, metavar="DIR",
                     help="maps folder made by `gesam maps` (default <model>/map/maps): class and feature "
                          "reports and the web map's pictures")
    add_midi_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true")


def find_model(given: Path | None) -> Path:
    """The model to serve: --model, else the shipped default, else the demo model."""
    from gesam_engine.errors import CheckpointError

    if given is not None:
        return given
    for path in DEFAULT_MODELS:
        if (path / "model.json").is_file():
            return path
    raise CheckpointError(
        "no model found (looked in " + ", ".join(str(p) for p in DEFAULT_MODELS) + "); train one with "
        "`gesam train --data DIR -o models/mine` and pass --model, or run `make run` to build a demo model"
    )


def parse_host_port(text: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[v6]:PORT') as (host, port); GesamError if it is not one."""
    from gesam_engine.errors import GesamError

    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise GesamError(f"--feedback must be HOST:PORT with a port in 1..65535, e.g. 127.0.0.1:9001; got {text!r}")
    return host, int(port)


def make_osc_server(args: argparse.Namespace, engine: object,
                    controller: Controller | None = None) -> OscServer | None:
    """The OSC server for ``gesam serve`` (bound, not started), or None with --no-osc.

    ``controller`` defaults to one writing renders into --render-dir (pass a shared one to give
    OSC the MIDI-learn and kit callbacks). Binding here, before the engine starts, makes a port
    in use a one-line error at once."""
    if args.no_osc:
        return None
    from gesam_engine.errors import GesamError
    from osc_bridge.controller import Controller
    from osc_bridge.osc_server import OscServer

    if not 0 <= args.osc_port < 65536:
        raise GesamError(f"--osc-port must be in 0..65535, got {args.osc_port}")
    feedback = parse_host_port(args.feedback) if args.feedback else None
    controller = controller or Controller(engine, args.render_dir.resolve())
    server = OscServer(controller, args.osc_host, args.osc_port, feedback)
    server.bind()
    return server


def make_web_map(args: argparse.Namespace, controller: Controller) -> WebMap | None:
    """The web map for ``gesam serve`` (bound, not started), or None without --web. Binding here,
    before the engine starts, makes a port in use a one-line error at once."""
    if not args.web:
        return None
    from gesam_engine.errors import GesamError
    from osc_bridge.web_map import WebMap

    if not 0 <= args.web_port < 65536:
        raise GesamError(f"--web-port must be in 0..65535, got {args.web_port}")
    web = WebMap(controller, args.web_host, args.web_port)
    web.bind()
    return web


def check_maps_dir(maps: Path | None) -> None:
    """An explicit --maps must hold a maps.json (the default folder may simply not exist yet)."""
    from gesam_engine.errors import GesamError

    if maps is not None and not (maps / "maps.json").is_file():
        raise GesamError(f"--maps {maps} has no maps.json; make it with `gesam maps --model DIR -o {maps}` "
                         "or leave --maps out")


def _report_underruns(engine: object, say: Callable[..., None], every_s: float = 2.0) -> None:
    """Print a line whenever the output counted new underruns (at most one line per ``every_s``)."""
    seen = 0
    while getattr(engine, "started", False):
        time.sleep(every_s)
        count = engine.output.underruns  # type: ignore[attr-defined]
        if count > seen:
            margin = engine.renderer.margin_s * 1000  # type: ignore[attr-defined]
            say(f"[output] {count - seen} underrun(s) (total {count}); render margin now {margin:.2f} ms")
            seen = count


def _wait_for_signal(say: Callable[..., None]) -> None:
    """Serve until Ctrl-C or SIGTERM (used when stdin is closed, e.g. run by a service manager)."""
    import signal

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: let the shutdown finish
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    say("console closed; serving OSC/MIDI/web until Ctrl-C or SIGTERM")
    while True:
        time.sleep(3600)


def run_serve(args: argparse.Namespace) -> int:
    """Start the engine, print where it plays, then take console commands until quit or --duration."""
    from gesam_engine.errors import GesamError
    from gesam_engine.gesam_model import GesamModel, resolve_device
    from gesam_engine.runtime.console import HELP, run_line
    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import load_serve_config
    from gesam_engine.training import default_cache_dir

    if args.output is not None and args.output.exists() and not args.force:
        raise GesamError(f"{args.output} already exists; pass --force to overwrite it")
    if args.duration is not None and not 0 < args.duration < 86400:
        raise GesamError(f"--duration must be in (0, 86400) seconds, got {args.duration}")
    output = {k: v for k, v in (("device", args.device), ("sample_rate", args.rate), ("blocksize", args.blocksize)) if v is not None}
    config = load_serve_config(args.config, {"output": output} if output else None)
    model_dir = find_model(args.model)
    check_maps_dir(args.maps)
    model = GesamModel.load(model_dir, resolve_device(args.model_device))
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    engine = Engine(model, config, output_file=args.output, cache_dir=args.cache or default_cache_dir(),
                    progress=not args.quiet, maps_dir=args.maps)
    engine.add_listener(lambda event, data: say(f"[{event}] {data.get('message', '')}")
                        if event in ("output", "bake", "maps") else None)
    from osc_bridge.controller import Controller

    midi = None

    def learn(target: str) -> None:
        if midi is None:
            raise GesamError("MIDI learn needs MIDI: start gesam serve with --midi (or --midi-connect PORT)")
        midi.learn(target)

    controller = Controller(engine, args.render_dir.resolve(), on_learn=learn, on_program=program_loader(engine, args.kits))
    osc: OscServer | None = None
    try:
        osc = make_osc_server(args, engine, controller)
        web = make_web_map(args, controller)
    except BaseException:
        if osc is not None:
            osc.stop()
        engine.output.close()  # never opened, but an audio output already holds shared memory
        raise
    try:
        engine.start()
    except BaseException:
        if osc is not None:
            osc.stop()
        if web is not None:
            web.stop()
        raise
    threading.Thread(target=_report_underruns, args=(engine, say), name="gesam-underrun-report", daemon=True).start()
    say(f"gesam engine: model {model_dir} on {model.device}; {engine.output.message}")
    midi = start_midi(args, controller.execute, say)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        if osc is not None:
            host, port = osc.start().address
            say(f"listening for OSC on udp://{host}:{port}" + ("" if host in ("127.0.0.1", "::1") else
                "  (reachable from the network: anyone who can reach it can play and write renders)"))
        if web is not None:
            from osc_bridge.web_map import is_loopback

            say(f"web map on {web.start().url}" + ("" if is_loopback(web.address[0]) else
                "  (reachable from the network: anyone who can reach it can play and write renders)"))
        say(f"type commands ({HELP}); Ctrl-D or quit to stop")
        if deadline is not None and sys.stdin.isatty():
            time.sleep(max(0.0, deadline - time.monotonic()))
        else:
            quit_asked = False
            for line in sys.stdin:
                try:
                    reply = run_line(engine, line)
                except EOFError:
                    quit_asked = True
                    break
                except GesamError as exc:
                    reply = f"error: {exc}"
                if reply:
                    say(reply)
                if deadline is not None and time.monotonic() >= deadline:
                    break
            if deadline is not None:
                time.sleep(max(0.0, deadline - time.monotonic()))
            elif not quit_asked and args.output is None and (osc is not None or midi is not None or web is not None):
                _wait_for_signal(say)  # stdin closed without `quit`: OSC and MIDI keep playing
    except KeyboardInterrupt:
        pass
    finally:
        if midi is not None:
            midi.close()
        if osc is not None:
            osc.stop()
        if web is not None:
            web.stop()
        m = engine.metrics()
        engine.stop()
    lat = m["trigger_latency_blocks"]
    say(f"stopped: {m['output']['underruns']} underruns, trigger latency median {lat['median']:.2f} blocks "
        f"(p99 {lat['p99']:.2f}), {m['generated']} points generated")
    return 0
