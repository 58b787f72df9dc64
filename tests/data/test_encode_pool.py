"""Scanning and encoding in a process pool: the same corpus as in-process, in the same order, byte
for byte, with the same skips; a file that breaks or kills a worker is skipped, the rest go on."""

import shutil
from pathlib import Path

import pytest

from gesam_engine.codec import make_codec
from gesam_engine.data.corpus import Corpus, build_corpus
from gesam_engine.data.encode_pool import CRASHED, AUTO_MIN_FILES, default_workers, resolve_workers
from gesam_engine.data.labels import LabelConfig
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.errors import ConfigError
from tests.data import pool_tasks

CODEC = make_codec({"n_mels": 32})
PREP = PreprocessConfig(duration_s=0.5)


def _build(root: Path, workers: int, cache: Path | None = None, task: object = None) -> Corpus:
    return build_corpus([root], CODEC, PREP, LabelConfig(), cache, progress=False, workers=workers,
                        task=task)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def library(synth_kit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synth kit (30 sounds, 4 broken files) plus a duplicate of a good and of a broken file."""
    root = tmp_path_factory.mktemp("pool") / "lib"
    shutil.copytree(synth_kit, root)
    shutil.copy(root / "kicks" / "kick_1.wav", root / "snares" / "zz_kick_copy.wav")
    shutil.copy(root / "broken" / "garbage.wav", root / "toms" / "zz_garbage_copy.wav")
    return root


def _same(a: Corpus, b: Corpus) -> None:
    assert a.items == b.items
    assert a.skipped == b.skipped
    assert a.frames.shape == b.frames.shape and a.frames.tobytes() == b.frames.tobytes()


@pytest.mark.slow
def test_pool_gives_the_in_process_corpus_byte_for_byte(library: Path, tmp_path: Path) -> None:
    alone = _build(library, 1)
    pooled = _build(library, 2)
    _same(alone, pooled)
    assert len(alone.items) == 30 and len(alone.skipped) == 6
    reasons = dict(pooled.skipped)
    assert reasons[str(library / "snares" / "zz_kick_copy.wav")] == f"duplicate of {library / 'kicks' / 'kick_1.wav'}"
    assert reasons[str(library / "toms" / "zz_garbage_copy.wav")].startswith(
        f"duplicate of {library / 'broken' / 'garbage.wav'} (skipped: cannot decode")

    # half the files cached, half encoded by the workers: still the same corpus, hits counted
    first = _build(library, 1, tmp_path / "cache")
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    for entry in entries[::2]:
        entry.unlink()
    mixed = _build(library, 2, tmp_path / "cache")
    _same(alone, mixed)
    assert mixed.cache_hits == len(entries) - len(entries[::2])
    assert mixed.frames_path == first.frames_path


@pytest.mark.slow
@pytest.mark.reliability
def test_a_file_that_kills_its_worker_is_skipped_and_the_rest_go_on(library: Path) -> None:
    alone = _build(library, 1)
    pooled = _build(library, 2, task=pool_tasks.die_on_one_file)
    deadly = str(library / "kicks" / pool_tasks.DEADLY)
    assert dict(pooled.skipped)[deadly] == CRASHED
    assert [i for i in alone.items if i.path != deadly] == pooled.items
    keep = [n for n, item in enumerate(alone.items) if item.path != deadly]
    assert pooled.frames.tobytes() == alone.frames[keep].tobytes()
    assert [s for s in pooled.skipped if s[0] != deadly] == alone.skipped

    raised = _build(library, 2, task=pool_tasks.raise_on_one_file)
    assert dict(raised.skipped)[deadly] == "MemoryError: pretend"
    assert raised.items == pooled.items


def test_workers_setting() -> None:
    assert resolve_workers(1, 10_000) == 1 and resolve_workers(3, 1) == 3
    assert resolve_workers(None, AUTO_MIN_FILES - 1) == 1  # tiny corpora: in-process
    assert resolve_workers(None, AUTO_MIN_FILES) == default_workers() >= 1
    for bad in (0, -2, 257, 1.5, True):
        with pytest.raises(ConfigError, match=r"workers must be an integer in 1\.\.256"):
            resolve_workers(bad, 10)  # type: ignore[arg-type]
