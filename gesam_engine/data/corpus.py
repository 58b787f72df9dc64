"""A training corpus: every usable one-shot under some folders, labelled and encoded to frames.

One bad file never stops a build: it is counted in ``skipped`` with its reason, and only a
corpus with no usable file at all is an error.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from gesam_engine.codec.base import Codec
from gesam_engine.config import to_dict
from gesam_engine.data.audio_io import AUDIO_EXTENSIONS, read_audio
from gesam_engine.data.cache import FeatureCache, file_hash
from gesam_engine.data.labels import LabelConfig, label_for_path
from gesam_engine.data.preprocess import PreprocessConfig, prepare_wave
from gesam_engine.data.scan import find_audio_files
from gesam_engine.errors import AudioFileError, CodecError, ConfigError


@dataclasses.dataclass(frozen=True)
class CorpusItem:
    """One usable file: where it is, the root it was found under, its label and content hash."""

    path: str
    root: str
    label: str
    content_hash: str


@dataclasses.dataclass
class Corpus:
    """Items and their frames [N, T, D] float32, plus what was skipped and why."""

    items: list[CorpusItem]
    frames: np.ndarray  # (N, T, D) float32
    skipped: list[tuple[str, str]]  # (path, reason)
    class_names: list[str]
    cache_hits: int
    seconds: float

    def label_ids(self) -> np.ndarray:
        """Index of each item's label in ``class_names``, int64 [N]."""
        index = {name: i for i, name in enumerate(self.class_names)}
        return np.array([index[item.label] for item in self.items], dtype=np.int64)

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts: n_files, n_skipped, class_counts, cache_hits, seconds."""
        counts = {name: 0 for name in self.class_names}
        for item in self.items:
            counts[item.label] += 1
        return {
            "n_files": len(self.items),
            "n_skipped": len(self.skipped),
            "class_counts": counts,
            "cache_hits": self.cache_hits,
            "seconds": round(self.seconds, 3),
        }


def format_skip_report(skipped: Sequence[tuple[str, str]], limit: int | None = None) -> str:
    """A readable multi-line report of skipped files, grouped by reason (at most ``limit`` lines each)."""
    if not skipped:
        return "no files skipped"
    groups: dict[str, list[str]] = {}
    for path, reason in skipped:
        key = "duplicate" if reason.startswith("duplicate of") else reason
        groups.setdefault(key, []).append(path if key == reason else f"{path} ({reason})")
    lines = [f"{len(skipped)} file(s) skipped:"]
    for reason, paths in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"  {reason} [{len(paths)}]:")
        shown = paths if limit is None else paths[:limit]
        lines.extend(f"    {p}" for p in shown)
        if len(shown) < len(paths):
            lines.append(f"    ... and {len(paths) - len(shown)} more")
    return "\n".join(lines)


def _frame_shape(codec: Codec, preprocess: PreprocessConfig) -> tuple[int, int]:
    """Shape [T, D] of every file's frames: all prepared waves have the same length."""
    return (codec.n_frames(preprocess.n_samples), codec.n_features)


def encode_file(path: Path, codec: Codec, preprocess: PreprocessConfig) -> np.ndarray:
    """Decode, condition and encode one file -> frames [T, D] float32, as training does (AudioFileError
    names what is wrong with a bad file)."""
    wave, rate = read_audio(path, preprocess.max_input_s)
    wave = prepare_wave(wave, rate, preprocess)
    frames = np.asarray(codec.encode(wave), dtype=np.float32)
    expected = _frame_shape(codec, preprocess)
    if frames.shape != expected:
        raise CodecError(f"codec returned frames of shape {frames.shape}, expected {expected}")
    return frames


def build_corpus(
    roots: Sequence[Path],
    codec: Codec,
    preprocess: PreprocessConfig,
    labels: LabelConfig,
    cache_dir: Path | None,
    progress: bool = True,
) -> Corpus:
    """Scan ``roots``, label, decode, prepare and encode every audio file (cached per content).

    Raises ConfigError for a missing root or a sample-rate mismatch between ``preprocess``
    and ``codec``, and AudioFileError when no file is usable.
    """
    if preprocess.sample_rate != codec.sample_rate:
        raise ConfigError(
            f"preprocess.sample_rate ({preprocess.sample_rate}) must equal the codec's "
            f"sample_rate ({codec.sample_rate}); set them to the same value"
        )
    started = time.perf_counter()
    files = find_audio_files(roots)
    cache = None
    if cache_dir is not None:
        key = {"preprocess": to_dict(preprocess), "codec": codec.to_config()}
        cache = FeatureCache(cache_dir, key)

    items: list[CorpusItem] = []
    frames: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    first_seen: dict[str, str] = {}  # content hash -> path of its first file
    failed: dict[str, str] = {}  # content hash -> reason, for duplicates of skipped files
    hits = 0
    shape = _frame_shape(codec, preprocess)
    for path, root in tqdm(files, desc="scan+encode", unit="file", disable=not progress):
        try:
            digest = file_hash(path)
        except OSError as exc:
            skipped.append((str(path), f"cannot read: {exc.strerror or exc}"))
            continue
        if digest in first_seen:
            note = f" (skipped: {failed[digest]})" if digest in failed else ""
            skipped.append((str(path), f"duplicate of {first_seen[digest]}{note}"))
            continue
        first_seen[digest] = str(path)
        cached = cache.get(digest) if cache is not None else None
        if cached is not None and cached.shape == shape:
            hits += 1
            encoded = cached
        else:
            try:
                encoded = encode_file(path, codec, preprocess)
            except AudioFileError as exc:
                failed[digest] = str(exc)
            except Exception as exc:  # one odd file must not stop the build: report it
                failed[digest] = f"{type(exc).__name__}: {exc}"
            if digest in failed:
                skipped.append((str(path), failed[digest]))
                continue
            if cache is not None:
                cache.put(digest, encoded)
        items.append(CorpusItem(str(path), str(root), label_for_path(path, root, labels), digest))
        frames.append(encoded)

    if not items:
        where = ", ".join(str(r) for r in roots)
        if not skipped:
            raise AudioFileError(
                f"no audio files found under {where} (looked for {', '.join(AUDIO_EXTENSIONS)})"
            )
        first = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:5])
        raise AudioFileError(
            f"no usable audio files under {where}: all {len(skipped)} were skipped "
            f"(first reasons: {first})"
        )

    class_names = list(labels.classes)
    if any(item.label == labels.unlabelled for item in items):
        class_names.append(labels.unlabelled)
    return Corpus(
        items=items,
        frames=np.stack(frames).astype(np.float32, copy=False),  # (N, T, D)
        skipped=skipped,
        class_names=class_names,
        cache_hits=hits,
        seconds=time.perf_counter() - started,
    )
