"""``gesam serve``: keep the model warm and play, on an audio device or into a WAV file."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from gesam_engine.cli.console_session import Printer
    from gesam_engine.cli.stop_signals import StopSignals
    from gesam_engine.runtime.engine import Engine
    from osc_bridge.controller import Controller, Reply
    from osc_bridge.engine_like import EngineLike
    from osc_bridge.osc.server import OscServer
    from osc_bridge.sound_files import SoundFiles, SoundSource
    from osc_bridge.webmap.server import WebMap

from gesam_engine.cli.control_setup import add_midi_arguments, program_loader, start_midi
from gesam_engine.model_paths import MODEL_HELP, default_cache_dir, find_model

__all__ = ["add_serve_parser", "run_serve", "make_osc_server", "make_web_map", "make_sound_files", "osc_push"]


def add_serve_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam serve``."""
    p.add_argument("--model", type=Path, metavar="DIR", help=MODEL_HELP)
    p.add_argument("--models", type=Path, metavar="DIR",
                   help="folder of model directories /gesam/model NAME picks from (default: the one the model lies in)")
    p.add_argument("--config", type=Path, metavar="TOML",
                   help="engine settings ([output] [voices] [generator] [cache] [engine] [[effects]]; "
                        "default: the packaged default_serve.toml, a gentle reverb and compressor)")
    p.add_argument("--device", help="audio output device (name or index, see `gesam devices`)")
    p.add_argument("--rate", type=int, help="output sample rate (default 48000)")
    p.add_argument("--blocksize", type=int, help="frames per audio block (default 256)")
    p.add_argument("--model-device", default="auto", help="where the model runs: auto (CUDA if present), cpu, cuda")
    p.add_argument("--output", type=Path, metavar="WAV", help="render into a WAV file instead of a device (bounce)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds; until then the end of "
                   "piped input does not stop serve (for scripted bounces)")
    p.add_argument("--daemon", action="store_true",
                   help="serve without a console (OSC/MIDI/web only) until SIGTERM or Ctrl-C; without it, "
                        "Ctrl-D or the end of piped input stops serve")
    p.add_argument("--cache", type=Path, metavar="DIR", help="cache directory for the built-in bake")
    p.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    osc = p.add_argument_group("OSC control (addresses in docs/design.md; /gesam/ping answers /gesam/pong)")
    osc.add_argument("--osc-host", default="127.0.0.1", metavar="HOST",
                     help="address to listen on (default 127.0.0.1; 0.0.0.0 lets the whole network play)")
    osc.add_argument("--osc-port", type=int, default=9000, metavar="PORT",
                     help="UDP port (default 9000; 0 picks a free one)")
    osc.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    osc.add_argument("--feedback", metavar="HOST:PORT", nargs="+",
                     help="send every OSC reply there instead of to each sender; several, e.g. the XY patch's "
                          "127.0.0.1:9001 and the sampler device's 127.0.0.1:9002")
    osc.add_argument("--render-dir", type=Path, default=Path("renders"), metavar="DIR",
                     help="the only folder /gesam/render may write into (default ./renders)")
    osc.add_argument("--sound-files", type=Path, metavar="DIR",
                     help="where the DAW sampler devices' WAVs of the cursor's and each pad's sound are written, "
                          "once one asks with /gesam/sounds (default <render-dir>/live; the folder is the engine's)")
    osc.add_argument("--no-sound-files", action="store_true", help="write no sound files (/gesam/sounds is refused)")
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
    p.add_argument("-q", "--quiet", action="store_true", help="print only what console commands answer")


def parse_host_port(text: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[v6]:PORT') as (host, port); GesamError if it is not one."""
    from gesam_engine.errors import GesamError

    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise GesamError(f"--feedback must be HOST:PORT with a port in 1..65535, e.g. 127.0.0.1:9001; got {text!r}")
    return host, int(port)


def make_osc_server(args: argparse.Namespace, engine: EngineLike,
                    controller: Controller | None = None) -> OscServer | None:
    """The OSC server for ``gesam serve`` (bound, not started), or None with --no-osc.

    ``controller`` defaults to one writing renders into --render-dir (pass a shared one to give
    OSC the MIDI-learn and kit callbacks). Binding here, before the engine starts, makes a port
    in use a one-line error at once."""
    if args.no_osc:
        return None
    from gesam_engine.errors import GesamError
    from osc_bridge.controller import Controller
    from osc_bridge.osc.server import OscServer

    if not 0 <= args.osc_port < 65536:
        raise GesamError(f"--osc-port must be in 0..65535, got {args.osc_port}")
    feedback = [parse_host_port(text) for text in args.feedback or []]
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
    from osc_bridge.webmap.server import WebMap

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


def default_config() -> Path:
    """The engine settings used without --config: the defaults plus a gentle reverb and compressor.

    Found through the package's spec, not ``importlib.resources.files``: that imports
    ``gesam_engine.data``, whose loudness code brings scipy.signal (~0.5 s of every start)."""
    from importlib.util import find_spec

    spec = find_spec("gesam_engine.data")  # locates the package without running its __init__
    assert spec is not None and spec.submodule_search_locations is not None  # part of this package
    return Path(next(iter(spec.submodule_search_locations))) / "default_serve.toml"


def _effects_line(engine: Engine) -> str:
    specs = engine.config.effects
    if not specs:
        return ("effects: none (add [[effects]] tables to a --config TOML; "
                f"{default_config()} is an example)")
    first = specs[0]
    hint = "fx reverb room_size 0.9" if any(e.name == "reverb" for e in specs) else f"fx {first.name} PARAM VALUE"
    return "effects: " + ", ".join(f"{e.name} ({e.type})" for e in specs) + f"; `{hint}` changes one"


def make_sound_files(args: argparse.Namespace, engine: SoundSource) -> SoundFiles | None:
    """The DAW sampler devices' sound files (``osc_bridge.sound_files``), or None with --no-sound-files
    or --no-osc (only OSC clients learn their paths)."""
    from gesam_engine.errors import GesamError
    from osc_bridge.sound_files import SoundFiles

    if args.no_sound_files and args.sound_files is not None:
        raise GesamError("--sound-files DIR and --no-sound-files contradict each other; give one")
    if args.no_sound_files or args.no_osc:
        return None
    return SoundFiles(engine, args.sound_files if args.sound_files is not None else args.render_dir / "live")


def osc_push(osc: OscServer) -> Callable[[list[Reply]], None]:
    """Send replies nobody asked for (a changed sound file) where the server sends its engine events:
    the --feedback addresses, else the last client."""

    def push(replies: list[Reply]) -> None:
        for address, arguments in replies:
            osc.push(address, arguments)

    return push


def model_reporter(say: Callable[[str], None], osc: OscServer | None) -> Callable[[str, dict[str, Any]], None]:
    """An engine listener turning "model" events (``Engine.switch_model``) into a console line and, for
    OSC clients (the last one, or --feedback), /gesam/state/model s name or /gesam/error s reason."""

    def on_event(event: str, data: dict[str, Any]) -> None:
        if event != "model":
            return
        if "error" in data:
            reason = f"model {data.get('name')} not loaded, the old one plays on: {data['error']}"
            say(f"[model] {reason}")
            if osc is not None:
                osc.push_error(reason)
            return
        say(f"[model] now playing {data.get('name')} ({data.get('path')}), loaded in {data.get('ms', 0) / 1000:.1f} s")
        if osc is not None:
            osc.push("/gesam/state/model", [str(data.get("name"))])

    return on_event


def run_serve(args: argparse.Namespace) -> int:
    """Start the engine, say in a few lines where it plays, then take console commands until
    quit or Ctrl-D (with --daemon: until SIGTERM or Ctrl-C), or until --duration ends.

    The stop signals are handled before anything is loaded, and everything started is closed
    on every way out (the output child and its shared memory included)."""
    from gesam_engine.cli.console_session import Printer
    from gesam_engine.cli.stop_signals import StopSignals, Stopped

    signals = StopSignals.install()
    printer = Printer(quiet=args.quiet)
    summary: str | None = None
    try:
        with contextlib.ExitStack() as cleanup:
            summary = _serve(args, signals, printer, cleanup)
    except Stopped as stop:
        printer.say(f"stopped by {stop} during start-up")
        return 0
    finally:
        signals.restore()
    printer.say(summary)
    return 0


def _serve(args: argparse.Namespace, signals: StopSignals, printer: Printer, cleanup: contextlib.ExitStack) -> str:
    """Start everything (each part registered in ``cleanup`` as it starts), serve, and return
    the closing line."""
    from gesam_engine.cli.console_session import console_lines, report_underruns, run_console
    from gesam_engine.cli.stop_signals import Stopped
    from gesam_engine.errors import GesamError
    from gesam_engine.gesam_model import GesamModel, resolve_device
    from gesam_engine.runtime.engine import Engine
    from gesam_engine.runtime.engine_config import load_serve_config
    from osc_bridge.controller import Controller

    if args.output is not None and args.output.exists() and not args.force:
        raise GesamError(f"{args.output} already exists; pass --force to overwrite it")
    if args.duration is not None and not 0 < args.duration < 86400:
        raise GesamError(f"--duration must be in (0, 86400) seconds, got {args.duration}")
    given = (("device", args.device), ("sample_rate", args.rate), ("blocksize", args.blocksize))
    output = {k: v for k, v in given if v is not None}
    config = load_serve_config(args.config or default_config(), {"output": output} if output else None)
    model_dir = find_model(args.model)
    check_maps_dir(args.maps)
    if args.models is not None and not args.models.is_dir():
        raise GesamError(f"--models {args.models} is not a folder; give the folder that holds the model directories")
    model = GesamModel.load(model_dir, resolve_device(args.model_device))
    say = printer.say
    with signals.held():  # the engine holds shared memory from here: it must reach the cleanup
        engine = Engine(model, config, output_file=args.output, cache_dir=args.cache or default_cache_dir(),
                        progress=not args.quiet and sys.stderr.isatty(), maps_dir=args.maps,
                        models_dir=args.models)
        cleanup.callback(engine.stop)
    engine.add_listener(lambda event, data: say(f"[{event}] {data.get('message', '')}")
                        if event in ("output", "bake", "maps") else None)
    midi = None

    def learn(target: str) -> None:
        if midi is None:
            raise GesamError("MIDI learn needs MIDI: start gesam serve with --midi (or --midi-connect PORT)")
        midi.learn(target)

    # one Controller for the console, OSC, MIDI and the web map (mypy checks here that Engine is an EngineLike)
    sound_files = make_sound_files(args, engine)
    controller = Controller(engine, args.render_dir.resolve(), on_learn=learn, on_program=program_loader(engine, args.kits),
                            on_sounds=sound_files.replies if sound_files is not None else None)
    with signals.held():
        osc = make_osc_server(args, engine, controller)
        if osc is not None:
            cleanup.callback(osc.stop)
    with signals.held():
        web = make_web_map(args, controller)
        if web is not None:
            cleanup.callback(web.stop)
    engine.add_listener(model_reporter(say, osc))
    if sound_files is not None and osc is not None:  # written once a sampler device asks (/gesam/sounds)
        sound_files.push = osc_push(osc)
        cleanup.callback(sound_files.start().stop)
    engine.start()
    stop_report = threading.Event()
    cleanup.callback(stop_report.set)
    threading.Thread(target=report_underruns, args=(engine, printer, stop_report),
                     name="gesam-underrun-report", daemon=True).start()
    lat = engine.latency()  # what a DAW should compensate, on the start line (`latency` or /gesam/latency: the parts)
    latency = (f"; latency to the device {lat['trigger_ms']:.1f} ms a trigger, {lat['timed_trigger_ms']:.1f} ms timed "
               "(OSC time tags, MIDI)" if engine.output.state == "running" else "")
    say(f"gesam: model {model_dir} on {model.device}; {engine.output.message}{latency}")
    with signals.held():
        midi = start_midi(args, controller.execute, say)
        if midi is not None:
            cleanup.callback(midi.close)
    if osc is not None:
        host, port = osc.start().address
        say(f"listening for OSC on udp://{host}:{port}" + ("" if host in ("127.0.0.1", "::1") else
            "  (reachable from the network: anyone who can reach it can play and write renders)"))
    if web is not None:
        from osc_bridge.webmap.app import is_loopback

        say(f"web map on {web.start().url}" + ("" if is_loopback(web.address[0]) else
            "  (reachable from the network: anyone who can reach it can play and write renders)"))
    say(_effects_line(engine))
    if args.duration is not None:
        signals.alarm(args.duration)
    try:
        if args.daemon:
            say("serving without a console (--daemon); SIGTERM or Ctrl-C stops it"
                + (f", or --duration after {args.duration:g} s" if args.duration else ""))
            _wait_forever()
        say("type `help` for the commands, e.g. `play 0.3 0.7`; Ctrl-D or `quit` stops")
        ended = run_console(controller, printer, console_lines(printer))
        if ended == "eof" and args.duration is not None:
            _wait_forever()  # a script piped in for a bounce: play on until --duration ends
        why = "quit" if ended == "quit" else "end of console input: Ctrl-D; --daemon serves without a console"
    except Stopped as stop:
        why = str(stop)
    m = engine.metrics()
    lat = m["trigger_latency_blocks"]
    latency = ("no triggers heard" if lat["median"] is None else
               f"trigger latency median {lat['median']:.2f} blocks (p99 {lat['p99']:.2f})")
    return (f"stopped ({why}): {m['output']['underruns']} underruns, {latency}, "
            f"{m['generated']} points generated")


def _wait_forever() -> None:
    """Wait for a stop signal (SIGTERM, Ctrl-C or the --duration alarm raise Stopped)."""
    while True:
        time.sleep(3600)
