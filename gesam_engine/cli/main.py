"""The ``gesam`` command: one entry point, a subcommand per job, torch imported only when needed."""

from __future__ import annotations

import argparse
import gc
import sys
from typing import Callable, Sequence

from gesam_engine import __version__
from gesam_engine.cli import (
    bake_cmd, corpus_cmd, devices_cmd, evaluate_cmd, info_cmd, kit_cmd, learn_cmd, locate_cmd, maps_cmd, render_cmd, serve_cmd,
    synth_cmd, train_cmd,
)

# (name, help, add_parser, run) for each subcommand, in the order --help lists them.
COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = [
    ("train", "train a model (VAE map + transformer) on sample folders", train_cmd.add_train_parser, train_cmd.run_train),
    ("evaluate", "the GESAM paper's table on held-out folders (transformer vs VAE vs 5-NN: frame MAE, MR-STFT, "
                 "class match) plus realism and loudness",
     evaluate_cmd.add_evaluate_parser, evaluate_cmd.run_evaluate),
    ("render", "write the sound at a map point to a WAV file", render_cmd.add_render_parser, render_cmd.run_render),
    ("locate", "query by example: where sound files land on the map, their class and nearest training sounds",
     locate_cmd.add_locate_parser, locate_cmd.run_locate),
    ("bake", "bake an N x N grid of sounds over the map into the model's map/ (resumable)",
     bake_cmd.add_bake_parser, bake_cmd.run_bake),
    ("maps", "draw the class, audio-feature and t-SNE maps (PNG + maps.json) from the bake",
     maps_cmd.add_maps_parser, maps_cmd.run_maps),
    ("serve", "play: keep the model warm and answer triggers on an audio device or into a WAV file",
     serve_cmd.add_serve_parser, serve_cmd.run_serve),
    ("devices", "list audio outputs by name and host API (what --device takes)",
     devices_cmd.add_devices_parser, devices_cmd.run_devices),
    ("learn", "MIDI learn on a running engine: the next controller moved becomes x or y",
     learn_cmd.add_learn_parser, learn_cmd.run_learn),
    ("info", "print a model's card (--json: model.json as it is)", info_cmd.add_info_parser, info_cmd.run_info),
    ("kit", "kits: write a kit file to edit (new), export a kit as SFZ samples (export)",
     kit_cmd.add_kit_parser, kit_cmd.run_kit),
    ("synth-kit", "write a procedural drum kit (for demos and tests)", synth_cmd.add_synth_parser, synth_cmd.run_synth),
    ("corpus", "build the training corpus from the packaged drum sources (build), or print its counts (info)",
     corpus_cmd.add_corpus_parser, corpus_cmd.run_corpus),
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (cheap: no torch import)."""
    parser = argparse.ArgumentParser(
        prog="gesam",
        description="gesam: a playable 2D map of drum sounds (GESAM: VAE map + map-conditioned transformer).",
    )
    parser.add_argument("--version", action="version", version=f"gesam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, add, run in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; gesam errors print one clear line and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as given: `--nproc N` runs it again under torchrun
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    from gesam_engine.errors import GesamError

    try:
        return int(args.run(args))
    except GesamError as exc:
        print(f"gesam {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gesam {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `gesam info | head`: the reader left; not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if argv is None:  # the process's own command line: it exits next
            exit_without_collecting()


def exit_without_collecting() -> None:
    """Leave what is allocated out of the collector's passes at interpreter exit: over torch's
    objects they took 0.6 to 0.9 s of every command (`gesam render`: 2.7-3.1 s -> 2.1 s)."""
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
