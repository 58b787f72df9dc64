"""The corpus's frames on disk: written row by row, memory-mapped, equal to encoding every file in
memory, never written back, and a process's pages of it dropped as it reads."""

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gesam_engine.codec import make_codec
from gesam_engine.data import paging
from gesam_engine.data.corpus import Corpus, build_corpus, encode_file
from gesam_engine.data.frame_store import KEEP_CORPORA, FrameWriter, open_frames, prune, scratch_array
from gesam_engine.data.labels import LabelConfig
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.errors import AudioFileError, GesamError

CODEC = make_codec({"n_mels": 32})
PREP = PreprocessConfig(duration_s=0.5)


def _build(roots: list[Path], cache: Path | None) -> Corpus:
    return build_corpus(roots, CODEC, PREP, LabelConfig(), cache, progress=False, workers=1)


def _in_memory(corpus: Corpus) -> np.ndarray:
    """What build_corpus returned before it wrote to disk: every item encoded, stacked in RAM."""
    return np.stack([encode_file(Path(item.path), CODEC, PREP) for item in corpus.items])


def _mapped_rss_kb(array: np.ndarray) -> int:
    """Resident KiB of this process in the mapping that holds ``array`` (Linux /proc/self/smaps)."""
    start = array.ctypes.data
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= start < hi
        elif inside and head == "Rss:":
            return int(line.split()[1])
    raise AssertionError("mapping not found in /proc/self/smaps")


def test_mapped_corpus_equals_encoding_every_file_in_memory(synth_kit: Path, tmp_path: Path) -> None:
    corpus = _build([synth_kit], None)
    assert isinstance(corpus.frames, np.memmap) and corpus.frames_path is None
    assert corpus.frames.dtype == np.float32 and corpus.frames.shape[0] == len(corpus.items) == 30
    assert corpus.frames.tobytes() == _in_memory(corpus).tobytes()

    cached = _build([synth_kit], tmp_path / "cache")
    path = Path(str(cached.frames_path))
    assert path.parent.parent == tmp_path / "cache" and path.name.startswith("corpus-") and path.suffix == ".f32"
    assert cached.frames.tobytes() == corpus.frames.tobytes()
    assert open_frames(path).tobytes() == corpus.frames.tobytes()
    again = _build([synth_kit], tmp_path / "cache")  # all from the cache: the same file, the same bytes
    assert again.cache_hits == 30 and again.frames_path == str(path)
    assert again.frames.tobytes() == corpus.frames.tobytes()
    assert sorted(p.name for p in path.parent.glob("corpus-*")) == [path.name, path.with_suffix(".json").name]


def test_torch_wraps_the_mapping_without_a_copy_and_writes_never_reach_the_file(synth_kit: Path, tmp_path: Path) -> None:
    corpus = _build([synth_kit / "kicks"], tmp_path / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-writable array" warning from torch
        tensor = torch.from_numpy(corpus.frames)
    assert tensor.data_ptr() == corpus.frames.ctypes.data
    before = open_frames(Path(str(corpus.frames_path))).copy()
    tensor[0] += 1.0  # copy-on-write: this process's page only
    assert float(corpus.frames[0, 0, 0]) == float(before[0, 0, 0]) + 1.0
    np.testing.assert_array_equal(open_frames(Path(str(corpus.frames_path))), before)


def test_no_cache_leaves_no_file_and_a_failed_build_no_temporary(synth_kit: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    corpus = _build([synth_kit / "snares"], None)
    assert corpus.frames.shape[0] == 6 and not list(scratch.iterdir())  # unlinked from the start
    with pytest.raises(AudioFileError, match="all 4 were skipped"):
        _build([synth_kit / "broken"], tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("*") if "corpus" in p.name]


def test_writer_checks_rows_and_open_frames_refuses_a_damaged_file(tmp_path: Path) -> None:
    writer = FrameWriter((3, 2), tmp_path)
    with pytest.raises(ValueError, match=r"\[3, 2\]"):
        writer.append(np.zeros((2, 3)), "a" * 64)
    with pytest.raises(ValueError, match="at least one row"):
        writer.finish()
    writer.append(np.arange(6).reshape(3, 2), "a" * 64)
    writer.append(np.ones((3, 2)), "b" * 64)
    frames, path = writer.finish()
    assert path is not None and frames.shape == (2, 3, 2)
    np.testing.assert_array_equal(frames[0], np.arange(6).reshape(3, 2))
    assert not list(tmp_path.glob(".corpus-*"))
    with open(path, "r+b") as fh:
        fh.truncate(10)
    with pytest.raises(GesamError, match="does not match its header"):
        open_frames(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(GesamError, match="cannot read the corpus file"):
        open_frames(path)


def test_prune_keeps_the_newest_corpus_files(tmp_path: Path) -> None:
    for i in range(KEEP_CORPORA + 2):
        for suffix in (".f32", ".json"):
            (tmp_path / f"corpus-{i:016x}{suffix}").write_bytes(b"x")
            os.utime(tmp_path / f"corpus-{i:016x}{suffix}", (1000 + i, 1000 + i))
    stale, fresh = tmp_path / ".corpus-old.tmp", tmp_path / ".corpus-new.tmp"
    stale.write_bytes(b"x")
    os.utime(stale, (1, 1))
    fresh.write_bytes(b"x")
    (tmp_path / "ab").mkdir()  # the feature cache's own entries are not its business
    prune(tmp_path, KEEP_CORPORA)
    kept = sorted(p.name for p in tmp_path.glob("corpus-*.f32"))
    assert kept == [f"corpus-{i:016x}.f32" for i in range(2, KEEP_CORPORA + 2)]
    assert len(list(tmp_path.glob("corpus-*.json"))) == KEEP_CORPORA
    assert not stale.exists() and fresh.exists() and (tmp_path / "ab").is_dir()


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc/self/smaps")
def test_rows_gives_the_batch_and_drops_the_pages_it_read(synth_kit: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = _build([synth_kit], tmp_path / "cache")
    frames = torch.from_numpy(corpus.frames)
    paging.release(frames)
    assert _mapped_rss_kb(corpus.frames) == 0
    idx = torch.tensor([3, 0, 29, 7])
    np.testing.assert_array_equal(paging.rows(frames, idx, torch.device("cpu")).numpy(), corpus.frames[[3, 0, 29, 7]])
    assert _mapped_rss_kb(corpus.frames) > 0  # what was read is resident
    monkeypatch.setattr(paging, "RELEASE_BYTES", corpus.frames.nbytes // 2 + 1)
    for start in range(0, 30, 5):  # dropped after 20 rows, then 10 more read
        paging.rows(frames, torch.arange(start, start + 5), torch.device("cpu"))
    assert 0 < _mapped_rss_kb(corpus.frames) < corpus.frames.nbytes // 1024
    paging.release(frames)
    assert _mapped_rss_kb(corpus.frames) == 0
    assert corpus.frames.tobytes() == _in_memory(corpus).tobytes()  # dropped pages read back the same


def test_scratch_array_keeps_what_is_written_through_a_release(tmp_path: Path) -> None:
    assert scratch_array((4, 0, 3, 2), tmp_path).shape == (4, 0, 3, 2)
    array = scratch_array((5, 2, 3, 4), tmp_path / "new")
    assert isinstance(array, np.memmap) and not array.any()
    array[2, 1] = 7.0
    paging.release(array)  # a shared mapping: the written page is in the file, not lost
    assert float(array[2, 1].sum()) == 7.0 * 12 and float(array.sum()) == 7.0 * 12
    assert not list((tmp_path / "new").iterdir())


def test_cpu_batches_come_from_the_corpus_itself() -> None:
    frames = torch.arange(24, dtype=torch.float32).reshape(4, 3, 2)
    assert paging.on_device(frames, torch.device("cpu")) is frames
    np.testing.assert_array_equal(paging.rows(frames, torch.tensor([2, 0]), torch.device("cpu")).numpy(),
                                  frames.numpy()[[2, 0]])


def test_another_file_list_gets_its_own_corpus_file(synth_kit: Path, tmp_path: Path) -> None:
    shutil.copytree(synth_kit / "claps", tmp_path / "claps")
    a = _build([tmp_path / "claps"], tmp_path / "cache")
    (tmp_path / "claps" / "clap_0.wav").unlink()
    b = _build([tmp_path / "claps"], tmp_path / "cache")
    assert a.frames_path != b.frames_path and b.frames.shape[0] == a.frames.shape[0] - 1
    np.testing.assert_array_equal(b.frames, a.frames[1:])
