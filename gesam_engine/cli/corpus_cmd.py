"""``gesam corpus``: build the training corpus from the packaged drum sources (build), or summarise one (info).

``gesam corpus build --out build/corpus`` renders, trims, deduplicates and splits the Debian
drum sources into ``build/corpus/{train,val}/<source>/<kit>/*.wav`` with ``manifest.json``;
see docs/corpus.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# = gesam_engine.data.sources.packages.DEFAULT_SOURCES, spelled out: importing gesam_engine.data
# imports torch, and ``gesam --help`` must stay instant
DEFAULT_SOURCES: tuple[str, ...] = ("hydrogen", "avldrums", "fluid", "csound", "synth")


def add_corpus_parser(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gesam corpus build`` and ``gesam corpus info``."""
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="render, trim, deduplicate and split the packaged sources into a folder",
                       description="Build the training corpus from the Debian drum sources (see docs/corpus.md).")
    b.add_argument("--out", type=Path, default=Path("build/corpus"), help="corpus folder (default build/corpus)")
    b.add_argument("--sources", default=",".join(DEFAULT_SOURCES),
                   help=f"comma-separated sources (default {','.join(DEFAULT_SOURCES)})")
    b.add_argument("--config", type=Path, help="TOML file whose [labels] table labels the sounds (other tables are ignored)")
    b.add_argument("--seed", type=int, default=0, help="seed of the kit split (default 0)")
    b.add_argument("--val-fraction", type=float, default=0.15, help="share of sounds held out, by kit (default 0.15)")
    b.add_argument("--val-kits", help="comma-separated kits always held out (default: the validation kits of models/default)")
    b.add_argument("--synth-kits", type=int, default=4, help="procedural kits (default 4)")
    b.add_argument("--synth-per-class", type=int, default=4, help="sounds per class in each procedural kit (default 4)")
    b.add_argument("--near-db", type=float, default=0.5,
                   help="fingerprint distance (dB RMS) under which two sounds are copies (default 0.5)")
    b.add_argument("--min-corr", type=float, default=0.95,
                   help="waveform correlation from which two sounds within 3 dB are copies (default 0.95; 1 turns it off)")
    b.add_argument("--keep-variants", action="store_true",
                   help="keep SoundFont hits that replay a kept hit's samples at another velocity or in a preset "
                        "variant, unless they are near copies (more sounds, fewer of them distinct recordings)")
    b.add_argument("--link-fraction", type=float, default=0.1,
                   help="share of a kit's sounds copied in another kit that makes them one family for the split (default 0.1)")
    b.add_argument("--force", action="store_true", help="rebuild over an existing corpus in --out")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.add_argument("--json", type=Path, help="also write the counts as JSON here")
    i = sub.add_parser("info", help="print the counts of a built corpus", description="Print the counts of a built corpus.")
    i.add_argument("corpus", type=Path, help="corpus folder (or its manifest.json)")
    i.add_argument("--json", action="store_true", help="print the counts as JSON")


def _table(title: str, rows: dict[str, Any]) -> list[str]:
    return [f"{title}:"] + [f"  {k:<12} {v}" for k, v in rows.items()]


def format_counts(manifest: dict[str, Any]) -> str:
    """A readable summary of a manifest's counts."""
    c = manifest["counts"]
    lines = [f"{c['total']} sounds kept of {c['hits']} hits ({c['rejected']} unusable, duplicates: "
             + ", ".join(f"{n} {k}" for k, n in c["duplicates"].items()) + ")"]
    for split, per_source in c["per_split_source"].items():
        lines += _table(f"{split} by source", per_source)
    for split, per_label in c["per_split_label"].items():
        lines += _table(f"{split} by label", per_label)
    lines.append(f"val kits: {', '.join(manifest['split']['val'])}")
    return "\n".join(lines)


def run_corpus(args: argparse.Namespace) -> int:
    """Build a corpus or print a corpus's counts."""
    from gesam_engine.errors import ConfigError

    if args.corpus_command == "info":
        from gesam_engine.data.sources.manifest import read_manifest

        manifest = read_manifest(args.corpus)
        print(json.dumps(manifest["counts"], indent=1) if args.json else format_counts(manifest))
        return 0

    from gesam_engine.config import read_toml
    from gesam_engine.data.labels import LabelConfig, load_label_config
    from gesam_engine.data.sources.builder import DEFAULT_VAL_KITS, CorpusBuildConfig, build_corpus_folder
    from gesam_engine.data.sources.packages import parse_sources

    if not 0 <= args.synth_kits <= 100 or not 1 <= args.synth_per_class <= 1000:
        raise ConfigError("--synth-kits must be in 0..100 and --synth-per-class in 1..1000")
    labels = load_label_config(read_toml(args.config).get("labels")) if args.config else LabelConfig()
    val_kits = tuple(k.strip() for k in args.val_kits.split(",") if k.strip()) if args.val_kits else DEFAULT_VAL_KITS
    config = CorpusBuildConfig(
        sources=parse_sources(args.sources), seed=args.seed, val_fraction=args.val_fraction,
        val_kits=val_kits, synth_kits=args.synth_kits, synth_per_class=args.synth_per_class,
        near_db=args.near_db, min_corr=args.min_corr, link_fraction=args.link_fraction,
        same_samples=not args.keep_variants,
    )
    manifest = build_corpus_folder(args.out, config, labels, progress=not args.quiet, force=args.force)
    print(format_counts(manifest))
    print(f"wrote {args.out}/manifest.json in {manifest['counts']['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(manifest["counts"], indent=1) + "\n", encoding="utf-8")
    return 0
