"""A training corpus: every usable one-shot under some folders, labelled and encoded to frames.

One bad file never stops a build: it is counted in ``skipped`` with its reason, and only a
corpus with no usable file at all is an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TypeVar

import numpy as np
from tqdm import tqdm

from gesam_engine.codec.base import Codec
from gesam_engine.config import to_dict
from gesam_engine.data.audio_io import AUDIO_EXTENSIONS, read_audio
from gesam_engine.data.cache import FeatureCache, file_hash
from gesam_engine.data.encode_pool import EncodePool, Outcome, Task, cores, resolve_workers, run_task
from gesam_engine.data.frame_store import FrameWriter
from gesam_engine.data.labels import LabelConfig, label_for_path
from gesam_engine.data.preprocess import PreprocessConfig, prepare_wave
from gesam_engine.data.scan import find_audio_files
from gesam_engine.errors import AudioFileError, CodecError, ConfigError

Tag = TypeVar("Tag")


@dataclasses.dataclass(frozen=True)
class CorpusItem:
    """One usable file: where it is, the root it was found under, its label and content hash."""

    path: str
    root: str
    label: str
    content_hash: str


@dataclasses.dataclass
class Corpus:
    """Items and their frames [N, T, D] float32, plus what was skipped and why.

    ``build_corpus`` gives frames as a memory-mapped file (``frame_store``; ``frames_path`` names it
    when it lives in the cache): index it a batch at a time (``paging.rows``), never copy it whole."""

    items: list[CorpusItem]
    frames: np.ndarray  # (N, T, D) float32
    skipped: list[tuple[str, str]]  # (path, reason)
    class_names: list[str]
    cache_hits: int
    seconds: float
    frames_path: str | None = None  # the corpus file in the cache (``frame_store.open_frames``), None otherwise

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


def encode_outcome(path: Path, codec: Codec, preprocess: PreprocessConfig) -> np.ndarray | str:
    """``encode_file``'s frames, or the reason the file is skipped (never raises for a bad file):
    the same words in this process and in an encoding worker."""
    try:
        return encode_file(path, codec, preprocess)
    except AudioFileError as exc:
        return str(exc)
    except Exception as exc:  # one odd file must not stop the build: report it
        return f"{type(exc).__name__}: {exc}"


def _hash_files(paths: Sequence[Path], threads: int, progress: bool) -> list[str | OSError]:
    """Each file's content hash, or the OSError that stopped its reading, in order."""
    def one(path: Path) -> str | OSError:
        try:
            return file_hash(path)
        except OSError as exc:
            return exc

    bar = tqdm(total=len(paths), desc="hash", unit="file", disable=not progress)
    with bar, ThreadPoolExecutor(threads) as hashers:  # hashlib and file reads let go of the GIL
        out = []
        for digest in hashers.map(one, paths):
            out.append(digest)
            bar.update(1)
    return out


def _in_process(jobs: Iterable[tuple[Tag, Path, Outcome | None]], codec: Codec, preprocess: PreprocessConfig,
                task: Task | None) -> Iterator[tuple[Tag, Outcome]]:
    for tag, path, known in jobs:
        yield tag, known if known is not None else run_task(task or encode_outcome, path, codec, preprocess)


def build_corpus(
    roots: Sequence[Path],
    codec: Codec,
    preprocess: PreprocessConfig,
    labels: LabelConfig,
    cache_dir: Path | None,
    progress: bool = True,
    workers: int | None = None,
    task: Task | None = None,
) -> Corpus:
    """Scan ``roots``, label, decode, prepare and encode every audio file (cached per content).

    Files are hashed on threads; the files not in the cache are encoded by ``workers`` processes
    (``encode_pool``; 1: in this process; None: one per core but one, and in this process below
    ``AUTO_MIN_FILES`` files), always giving the same corpus in the same order. The frames go to a
    file row by row and come back memory-mapped (``frame_store``): beside the cache's entries
    with a cache, an unlinked temporary file without one. ``task`` replaces ``encode_outcome``
    (tests; a top-level function, for the workers). Raises ConfigError for a missing root, a
    sample-rate mismatch between ``preprocess`` and ``codec`` or bad ``workers``, and
    AudioFileError when no file is usable.
    """
    if preprocess.sample_rate != codec.sample_rate:
        raise ConfigError(
            f"preprocess.sample_rate ({preprocess.sample_rate}) must equal the codec's "
            f"sample_rate ({codec.sample_rate}); set them to the same value"
        )
    started = time.perf_counter()
    if workers is not None:
        resolve_workers(workers, 0)  # a bad value fails before any work
    files = find_audio_files(roots)
    cache = None
    if cache_dir is not None:
        key = {"preprocess": to_dict(preprocess), "codec": codec.to_config()}
        cache = FeatureCache(cache_dir, key)
    shape = _frame_shape(codec, preprocess)

    digests = _hash_files([path for path, _ in files], 1 if workers == 1 else min(8, cores()), progress)
    first_seen: dict[str, int] = {}  # content hash -> index of its first file
    for i, digest in enumerate(digests):
        if isinstance(digest, str):
            first_seen.setdefault(digest, i)
    unique = sorted(first_seen.values())
    failed: dict[str, str] = {}  # content hash -> reason, for the file and its duplicates
    hits = 0

    def jobs() -> Iterator[tuple[tuple[int, bool], Path, Outcome | None]]:
        for i in unique:
            cached = cache.get(str(digests[i])) if cache is not None else None
            if cached is not None and cached.shape == shape:
                yield (i, True), files[i][0], cached
            else:
                yield (i, False), files[i][0], None

    n_workers = resolve_workers(workers, len(unique))
    writer = FrameWriter(shape, cache.root if cache is not None else None)
    try:
        with EncodePool[tuple[int, bool]](codec.to_config(), preprocess, n_workers, task) if n_workers > 1 \
                else contextlib.nullcontext() as pool:
            stream = pool.outcomes(jobs()) if pool is not None else _in_process(jobs(), codec, preprocess, task)
            for (i, from_cache), outcome in tqdm(stream, total=len(unique), desc="scan+encode", unit="file",
                                                 disable=not progress):
                digest = str(digests[i])
                if not isinstance(outcome, str) and outcome.shape != shape:
                    outcome = f"CodecError: codec returned frames of shape {outcome.shape}, expected {shape}"
                if isinstance(outcome, str):
                    failed[digest] = outcome
                    continue
                if from_cache:
                    hits += 1
                elif cache is not None:
                    cache.put(digest, outcome)
                writer.append(outcome, digest)

        items: list[CorpusItem] = []
        skipped: list[tuple[str, str]] = []
        for i, (path, root) in enumerate(files):
            digest = digests[i]
            if not isinstance(digest, str):
                skipped.append((str(path), f"cannot read: {digest.strerror or digest}"))
            elif first_seen[digest] != i:
                note = f" (skipped: {failed[digest]})" if digest in failed else ""
                skipped.append((str(path), f"duplicate of {files[first_seen[digest]][0]}{note}"))
            elif digest in failed:
                skipped.append((str(path), failed[digest]))
            else:
                items.append(CorpusItem(str(path), str(root), label_for_path(path, root, labels), digest))

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
        frames, frames_path = writer.finish()  # (N, T, D)
    except BaseException:
        writer.discard()
        raise

    class_names = list(labels.classes)
    if any(item.label == labels.unlabelled for item in items):
        class_names.append(labels.unlabelled)
    return Corpus(
        items=items,
        frames=frames,
        skipped=skipped,
        class_names=class_names,
        cache_hits=hits,
        seconds=time.perf_counter() - started,
        frames_path=None if frames_path is None else str(frames_path),
    )
