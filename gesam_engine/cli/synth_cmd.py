"""``gesam synth-kit``: write a procedural drum kit, so a demo or a test needs no recordings."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_synth_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam synth-kit``."""
    p.add_argument("directory", type=Path, help="folder to write the kit into")
    p.add_argument("--per-class", type=int, default=8, metavar="N", help="sounds per class (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--broken", action="store_true", help="also write broken files (to see them skipped)")


def run_synth(args: argparse.Namespace) -> int:
    """Write kicks, snares, hats, toms and claps under ``directory``."""
    from gesam_engine.errors import ConfigError
    from gesam_engine.data.synth import write_synth_kit

    if not 1 <= args.per_class <= 1000:
        raise ConfigError(f"--per-class must be in 1..1000, got {args.per_class}")
    paths = write_synth_kit(args.directory, per_class=args.per_class, seed=args.seed, broken=args.broken)
    print(f"wrote {len(paths)} sounds under {args.directory}")
    return 0
