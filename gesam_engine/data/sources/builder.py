"""Building the training corpus: load every hit, condition it, drop copies, split by kit, write it out.

Layout of the result (``out``)::

    out/manifest.json
    out/train/<source>/<kit>/<stem>.wav     gesam train --data out/train
    out/val/<source>/<kit>/<stem>.wav       gesam evaluate --val out/val

Steps: (1) every hit is trimmed, normalised and hashed (``oneshot``) and staged under
``out/.staging`` by content hash, so exact copies are stored once; (2) near copies are found
by fingerprint (``dedup``) and kits sharing many sounds become families (``split``);
(3) families are split; (4) walking validation first, then sources in the order given, a
sound is kept unless it copies a kept one; (5) kept sounds move to their final names.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import soundfile as sf
from tqdm import tqdm

from gesam_engine.config import check, to_dict
from gesam_engine.data.labels import LabelConfig, label_for_path
from gesam_engine.data.sources import packages
from gesam_engine.data.sources.dedup import CANDIDATE_DB, CORR_SAMPLES, MIN_CORR, NEAR_DB, keep_first, record_pairs, same_pairs
from gesam_engine.data.sources.hydrogen import hydrogen_jobs
from gesam_engine.data.sources.jobs import KitJob, SourceHit
from gesam_engine.data.sources.manifest import MANIFEST_NAME, Duplicate, ManifestItem, counts, write_manifest
from gesam_engine.data.sources.oneshot import OneShotConfig, make_oneshot
from gesam_engine.data.sources.soundfont import avl_kit_jobs, gm_kit_jobs
from gesam_engine.data.sources.split import assign_split, kit_families
from gesam_engine.data.sources.synth_source import synth_jobs
from gesam_engine.errors import AudioFileError, ConfigError

# The held-out kits of models/default (scripts/train_default_model.sh): always validation.
DEFAULT_VAL_KITS: tuple[str, ...] = ("ColomboAcousticDrumkit", "Millo_MultiLayered2", "HardElectro1")
SPLITS: tuple[str, ...] = ("train", "val")


@dataclasses.dataclass(frozen=True)
class CorpusBuildConfig:
    """Settings of ``gesam corpus build`` (all written into the manifest)."""

    sources: tuple[str, ...] = packages.DEFAULT_SOURCES
    seed: int = 0
    val_fraction: float = 0.15
    val_kits: tuple[str, ...] = DEFAULT_VAL_KITS
    near_db: float = NEAR_DB
    candidate_db: float = CANDIDATE_DB
    min_corr: float = MIN_CORR
    same_samples: bool = True  # a SoundFont hit playing the same samples as a kept one is a copy
    link_fraction: float = 0.1
    hold_s: float = 2.0  # how long each SoundFont note is held and recorded
    synth_kits: int = 4
    synth_per_class: int = 4
    oneshot: OneShotConfig = dataclasses.field(default_factory=OneShotConfig)

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in packages.SOURCES]
        check(not unknown and bool(self.sources), f"sources must be some of {list(packages.SOURCES)}, got {list(self.sources)}")
        check(0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}")
        check(0.0 <= self.near_db <= self.candidate_db <= 20.0,
              f"need 0 <= near_db <= candidate_db <= 20 dB, got {self.near_db} and {self.candidate_db}")
        check(0.0 < self.min_corr <= 1.0, f"min_corr must be in (0, 1], got {self.min_corr}")
        check(0.0 < self.link_fraction <= 1.0, f"link_fraction must be in (0, 1], got {self.link_fraction}")
        check(0.1 <= self.hold_s <= 10.0, f"hold_s must be in 0.1..10 s, got {self.hold_s}")


@dataclasses.dataclass
class _Record:
    hit: SourceHit
    licence: str
    sha256: str
    seconds: float


def source_jobs(config: CorpusBuildConfig) -> list[KitJob]:
    """Every kit of the configured sources; ConfigError naming the apt-get line for a missing one."""
    rate = config.oneshot.sample_rate
    jobs: list[KitJob] = []
    for name in config.sources:
        paths = packages.require(name)
        if name == "hydrogen":
            jobs += hydrogen_jobs(paths[0])
        elif name == "avldrums":
            for font in paths:
                jobs += avl_kit_jobs(name, font, packages.licence_for(name, [f"sf2/{font.name}"]), rate, config.hold_s)
        elif name in ("fluid", "csound"):
            for font in paths:
                licence = packages.licence_for(name, [f"samples/{font.name}", font.name])
                jobs += gm_kit_jobs(name, font, licence, rate, config.hold_s)
        elif name == "synth":
            jobs += synth_jobs(config.synth_kits, config.synth_per_class, config.seed, rate)
    return jobs


def _prepare(out: Path, force: bool) -> Path:
    """Make ``out`` ready; with ``force`` remove only what a previous build wrote there."""
    if (out / MANIFEST_NAME).exists() or any((out / s).exists() for s in SPLITS):
        if not force:
            raise ConfigError(f"{out} already holds a corpus; pass --force to rebuild it")
        for name in (*SPLITS, ".staging"):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / MANIFEST_NAME).unlink(missing_ok=True)
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _load_all(jobs: Sequence[KitJob], staging: Path, config: OneShotConfig, progress: bool
              ) -> tuple[list[_Record], list[np.ndarray], list[dict[str, str]]]:
    records: list[_Record] = []
    prints: list[np.ndarray] = []
    rejected: list[dict[str, str]] = []
    total = sum(len(job.hits) for job in jobs)
    with tqdm(total=total, desc="render+trim", unit="hit", disable=not progress) as bar:
        for job in jobs:
            bar.set_postfix_str(f"{job.source}/{job.kit}"[:40])
            for loaded in job.load():
                bar.update(1)
                try:
                    if loaded.wave is None:
                        raise AudioFileError(loaded.error)
                    shot = make_oneshot(loaded.wave, loaded.rate, config)
                except AudioFileError as exc:
                    rejected.append({"source": job.source, "kit": job.kit, "origin": loaded.hit.origin, "reason": str(exc)})
                    continue
                path = staging / f"{shot.sha256}.wav"
                if not path.exists():
                    path.write_bytes(shot.wav)
                records.append(_Record(loaded.hit, job.licence, shot.sha256, shot.seconds))
                prints.append(shot.fingerprint)
    return records, prints, rejected


def _source_info(names: Sequence[str]) -> dict[str, Any]:
    info = {}
    for name in names:
        source = packages.SOURCES[name]
        info[name] = {
            "packages": {p: packages.package_version(p) for p in source.packages},
            "copyright_files": [str(packages.copyright_file(p)) for p in source.packages],
            "licence": source.licence,
            "note": source.note,
        }
    return info


def build_from_jobs(jobs: Sequence[KitJob], out: Path, config: CorpusBuildConfig, labels: LabelConfig,
                    progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Build the corpus of ``jobs`` under ``out`` (see the module docstring); returns the manifest."""
    started = time.perf_counter()
    out = Path(out)
    staging = _prepare(out, force)
    records, prints, rejected = _load_all(jobs, staging, config.oneshot, progress)
    if not records:
        raise AudioFileError(f"no usable sound in {len(jobs)} kit(s); {len(rejected)} rejected")
    kit_id = [f"{r.hit.source}/{r.hit.kit}" for r in records]
    hashes = [r.sha256 for r in records]
    heads: dict[str, np.ndarray] = {}

    def head(i: int) -> np.ndarray:
        if hashes[i] not in heads:
            heads[hashes[i]], _ = sf.read(str(staging / f"{hashes[i]}.wav"), frames=CORR_SAMPLES, dtype="float32")
        return heads[hashes[i]]

    if progress:
        print(f"comparing {len(set(hashes))} distinct sounds for copies ...", file=sys.stderr, flush=True)
    identities = [r.hit.identity if config.same_samples else None for r in records]
    pairs = same_pairs(hashes, identities, np.stack(prints), head,
                       config.near_db, config.candidate_db, config.min_corr)
    heads.clear()
    families = kit_families(kit_id, record_pairs(hashes, pairs), config.link_fraction, hashes)
    # a kit's weight in the split: the sounds it keeps when copies are dropped in source order
    rank = {name: n for n, name in enumerate(config.sources)}
    neutral = keep_first(sorted(range(len(records)), key=lambda i: (rank.get(records[i].hit.source, 99), i)), hashes, pairs)
    sizes = {kit: 0 for kit in kit_id}
    for i, kit in enumerate(kit_id):
        sizes[kit] += i not in neutral
    split = assign_split(sizes, families, config.val_fraction, config.seed, config.val_kits)

    order = sorted(range(len(records)), key=lambda i: (split[kit_id[i]] != "val", rank.get(records[i].hit.source, 99), i))
    dropped = keep_first(order, hashes, pairs)

    items: list[ManifestItem] = []
    final_path: dict[int, str] = {}
    for i, r in enumerate(records):
        if i in dropped:
            continue
        rel = Path(split[kit_id[i]]) / r.hit.source / r.hit.kit / f"{r.hit.stem}.wav"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / f"{r.sha256}.wav").replace(out / rel)
        final_path[i] = rel.as_posix()
        label = label_for_path(Path(r.hit.source) / r.hit.kit / f"{r.hit.stem}.wav", None, labels)
        items.append(ManifestItem(
            rel.as_posix(), split[kit_id[i]], r.hit.source, r.hit.kit, r.hit.instrument, label, r.licence,
            r.sha256, round(r.seconds, 4), r.hit.origin, r.hit.key, r.hit.velocity,
        ))
    duplicates = []
    for i, tie in sorted(dropped.items()):
        j = tie.j if tie.i == i else tie.i
        duplicates.append(Duplicate(
            records[i].hit.source, records[i].hit.kit, records[i].hit.stem, records[i].hit.origin,
            final_path[j], tie.kind, round(tie.distance_db, 3), None if tie.corr is None else round(tie.corr, 4),
        ))
    shutil.rmtree(staging, ignore_errors=True)

    kits = []
    licences = {f"{j.source}/{j.kit}": j.licence for j in jobs}
    for kit in sorted(sizes):
        kept = sum(1 for i in final_path if kit_id[i] == kit)
        kits.append({"kit": kit, "split": split[kit], "family": families[kit], "licence": licences.get(kit, ""),
                     "usable": kit_id.count(kit), "kept": kept})
    manifest = {
        "tool": "gesam corpus build",
        "config": to_dict(config),
        "labels": to_dict(labels),
        "sources": _source_info(config.sources),
        "split": {
            "seed": config.seed, "val_fraction": config.val_fraction, "val_kits": list(config.val_kits),
            "train": [k["kit"] for k in kits if k["split"] == "train"],
            "val": [k["kit"] for k in kits if k["split"] == "val"],
        },
        "counts": {**counts(items), "hits": len(records) + len(rejected), "rejected": len(rejected),
                   "duplicates": {kind: sum(1 for d in duplicates if d.kind == kind) for kind in ("exact", "samples", "near")},
                   "seconds": round(time.perf_counter() - started, 1)},
        "kits": kits,
        "items": [dataclasses.asdict(item) for item in items],
        "duplicates": [dataclasses.asdict(d) for d in duplicates],
        "rejected": rejected,
    }
    write_manifest(out, manifest)
    return manifest


def build_corpus_folder(out: Path, config: CorpusBuildConfig, labels: LabelConfig,
                        progress: bool = True, force: bool = False) -> dict[str, Any]:
    """Build the corpus from the installed sources (``source_jobs``) under ``out``."""
    return build_from_jobs(source_jobs(config), out, config, labels, progress, force)
