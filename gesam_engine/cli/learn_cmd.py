"""``gesam learn x|y``: arm MIDI learn on a running engine (over its OSC port)."""

from __future__ import annotations

import argparse


def add_learn_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam learn``."""
    p.add_argument("target", choices=["x", "y"], help="the axis the next MIDI controller moved becomes")
    p.add_argument("--osc-host", default="127.0.0.1", metavar="HOST", help="where the engine listens (default 127.0.0.1)")
    p.add_argument("--osc-port", type=int, default=9000, metavar="PORT", help="its OSC port (default 9000)")
    p.add_argument("--timeout", type=float, default=2.0, metavar="S", help="how long to wait for the answer")


def run_learn(args: argparse.Namespace) -> int:
    """Send /gesam/learn and print the engine's answer (or its error)."""
    import socket

    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    from gesam_engine.errors import GesamError

    builder = OscMessageBuilder("/gesam/learn")
    builder.add_arg(args.target)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(args.timeout)
        sock.sendto(builder.build().dgram, (args.osc_host, args.osc_port))
        try:
            data, _ = sock.recvfrom(65536)
        except (TimeoutError, ConnectionRefusedError):
            raise GesamError(f"no answer from an engine on udp://{args.osc_host}:{args.osc_port}; "
                             "is `gesam serve` running (with --midi)?") from None
    reply = OscMessage(data)
    if reply.address == "/gesam/error":
        raise GesamError(f"the engine refused: {reply.params[0] if reply.params else '?'}")
    print(f"MIDI learn armed for {args.target}: move a controller now")
    return 0
