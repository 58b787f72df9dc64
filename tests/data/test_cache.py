from pathlib import Path

import numpy as np
import pytest

from gesam_engine.codec import make_codec
from gesam_engine.data import corpus as corpus_module
from gesam_engine.data.cache import FeatureCache, file_hash
from gesam_engine.data.corpus import build_corpus
from gesam_engine.data.labels import LabelConfig
from gesam_engine.data.preprocess import PreprocessConfig

HASH = "ab" + "0" * 62


def test_put_get_roundtrip_float32(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, {"a": 1})
    frames = np.random.default_rng(0).random((7, 5)).astype(np.float64)
    assert cache.get(HASH) is None
    cache.put(HASH, frames)
    path = tmp_path / cache.key / "ab" / f"{HASH}.npy"
    assert path.is_file()
    got = cache.get(HASH)
    assert got is not None and got.dtype == np.float32
    np.testing.assert_array_equal(got, frames.astype(np.float32))
    assert not list(path.parent.glob("*.tmp"))  # atomic write leaves no temporary files
    assert (tmp_path / cache.key / "config.json").is_file()


def test_key_config_changes_the_folder(tmp_path: Path) -> None:
    a = FeatureCache(tmp_path, {"x": 1, "y": 2})
    b = FeatureCache(tmp_path, {"y": 2, "x": 1})
    c = FeatureCache(tmp_path, {"x": 1, "y": 3})
    assert a.key == b.key != c.key
    a.put(HASH, np.ones((2, 2)))
    assert c.get(HASH) is None and b.get(HASH) is not None


@pytest.mark.parametrize(
    "content",
    [b"", b"not a numpy file", None],  # None: a pickled object array
)
def test_corrupt_entry_is_a_miss_and_deleted(tmp_path: Path, content: bytes | None) -> None:
    cache = FeatureCache(tmp_path, {})
    cache.put(HASH, np.ones((3, 4)))
    path = cache.path_for(HASH)
    if content is None:
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(content)
    assert cache.get(HASH) is None
    assert not path.exists()


def test_file_hash_is_sha256_of_bytes(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "f.bin"
    data = np.random.default_rng(0).bytes(3 * 1024 * 1024 + 5)
    path.write_bytes(data)
    assert file_hash(path) == hashlib.sha256(data).hexdigest()
    assert FeatureCache.file_hash(path) == file_hash(path)


def test_bad_hash_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FeatureCache(tmp_path, {}).get("../../etc/passwd")


def _counting_read(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = corpus_module.read_audio

    def counting(path: Path, max_seconds: float):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path, max_seconds)

    monkeypatch.setattr(corpus_module, "read_audio", counting)
    return calls


def test_second_build_decodes_nothing(synth_kit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    codec = make_codec({"n_mels": 32})
    calls = _counting_read(monkeypatch)
    args = (codec, PreprocessConfig(), LabelConfig(), tmp_path / "cache")
    first = build_corpus([synth_kit], *args, progress=False)
    n = len(first.items)
    assert first.cache_hits == 0 and len(calls) == n + len(first.skipped)

    calls.clear()
    second = build_corpus([synth_kit], *args, progress=False)
    assert second.cache_hits == n == len(second.items)
    # good files come from the cache; only the broken ones (never cached) are decoded again
    good = {Path(i.path) for i in second.items}
    assert not good & set(calls)
    assert len(calls) == len(second.skipped)
    np.testing.assert_array_equal(second.frames, first.frames)
    assert [i.path for i in second.items] == [i.path for i in first.items]

    calls.clear()
    changed = build_corpus([synth_kit], codec, PreprocessConfig(target_lufs=-20.0), LabelConfig(), tmp_path / "cache",
                           progress=False)
    assert changed.cache_hits == 0 and len(calls) == n + len(changed.skipped)


def test_corrupt_cache_file_is_rebuilt(synth_kit: Path, tmp_path: Path) -> None:
    codec = make_codec({"n_mels": 32})
    args = (codec, PreprocessConfig(), LabelConfig(), tmp_path / "cache")
    first = build_corpus([synth_kit / "kicks"], *args, progress=False)
    entries = sorted((tmp_path / "cache").rglob("*.npy"))
    assert len(entries) == len(first.items)
    entries[0].write_bytes(b"\x93NUMPY garbage")
    second = build_corpus([synth_kit / "kicks"], *args, progress=False)
    assert second.cache_hits == len(first.items) - 1
    np.testing.assert_array_equal(second.frames, first.frames)
