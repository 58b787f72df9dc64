import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gesam_engine.codec import make_codec
from gesam_engine.data.corpus import Corpus, build_corpus, format_skip_report
from gesam_engine.data.labels import LabelConfig
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.data.synth import KINDS
from gesam_engine.errors import AudioFileError, ConfigError

CODEC = make_codec({"n_mels": 32})


@pytest.fixture(scope="module")
def corpus(synth_kit: Path) -> Corpus:
    return build_corpus([synth_kit], CODEC, PreprocessConfig(), LabelConfig(), None, progress=False)


def test_every_good_file_is_in_with_its_label(corpus: Corpus, synth_kit: Path) -> None:
    by_path = {Path(i.path): i for i in corpus.items}
    for kind in KINDS:
        files = sorted((synth_kit / f"{kind}s").glob("*.wav"))
        assert len(files) == 6
        for f in files:
            assert by_path[f].label == kind
            assert by_path[f].root == str(synth_kit)
    assert len(corpus.items) == 30


@pytest.mark.reliability
def test_every_broken_file_is_skipped_with_a_reason(corpus: Corpus, synth_kit: Path) -> None:
    reasons = {Path(p).name: r for p, r in corpus.skipped}
    assert set(reasons) == {"empty.wav", "garbage.wav", "silent.wav", "truncated.flac"}
    assert "empty" in reasons["empty.wav"]
    assert "cannot decode" in reasons["garbage.wav"]
    assert "silent" in reasons["silent.wav"]
    assert "cannot decode" in reasons["truncated.flac"] or "truncated" in reasons["truncated.flac"]
    assert all(not p.endswith(".txt") for p, _ in corpus.skipped)
    assert all(not i.path.endswith(".txt") for i in corpus.items)


def test_frames_shape_matches_codec(corpus: Corpus) -> None:
    n_samples = PreprocessConfig().n_samples
    assert corpus.frames.shape == (30, CODEC.n_frames(n_samples), CODEC.n_features)
    assert corpus.frames.dtype == np.float32 and np.all(np.isfinite(corpus.frames))
    one = corpus.frames[0]
    assert np.std(one) > 0.01  # real content, not zeros


def test_label_ids_and_summary(corpus: Corpus) -> None:
    assert corpus.class_names == list(KINDS)  # no "other" in the synth kit
    ids = corpus.label_ids()
    assert ids.dtype == np.int64 and ids.shape == (30,)
    assert [corpus.class_names[i] for i in ids] == [i.label for i in corpus.items]
    summary = json.loads(json.dumps(corpus.summary()))
    assert summary["n_files"] == 30 and summary["n_skipped"] == 4
    assert summary["class_counts"] == {k: 6 for k in KINDS}
    assert summary["cache_hits"] == 0 and summary["seconds"] > 0


def test_other_gets_the_last_index_and_duplicates_are_kept_once(synth_kit: Path, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    shutil.copy(synth_kit / "kicks" / "kick_0.wav", root / "bongo.wav")
    shutil.copy(synth_kit / "kicks" / "kick_0.wav", root / "kick_copy.wav")
    shutil.copy(synth_kit / "snares" / "snare_0.wav", root / "snare.wav")
    c = build_corpus([root], CODEC, PreprocessConfig(), LabelConfig(), None, progress=False)
    assert [Path(i.path).name for i in c.items] == ["bongo.wav", "snare.wav"]
    assert c.skipped == [(str(root / "kick_copy.wav"), f"duplicate of {root / 'bongo.wav'}")]
    assert c.class_names == [*KINDS, "other"]
    assert list(c.label_ids()) == [5, 1]


def test_no_usable_files_raises_with_reasons(synth_kit: Path, tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match=r"all 4 were skipped.*(empty|silent|cannot decode)"):
        build_corpus([synth_kit / "broken"], CODEC, PreprocessConfig(), LabelConfig(), None, progress=False)
    (tmp_path / "void").mkdir()
    with pytest.raises(AudioFileError, match="no audio files found"):
        build_corpus([tmp_path / "void"], CODEC, PreprocessConfig(), LabelConfig(), None, progress=False)


def test_unexpected_decoder_exception_is_a_skip(synth_kit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gesam_engine.data import corpus as corpus_module

    real = corpus_module.prepare_wave

    def flaky(wave, rate, config):  # type: ignore[no-untyped-def]
        if rate == 48000:
            raise MemoryError("pretend")
        return real(wave, rate, config)

    monkeypatch.setattr(corpus_module, "prepare_wave", flaky)
    c = build_corpus([synth_kit / "toms"], CODEC, PreprocessConfig(), LabelConfig(), None, progress=False)
    assert len(c.items) == 4
    assert sorted(Path(p).name for p, _ in c.skipped) == ["tom_1.wav", "tom_5.wav"]
    assert all(r == "MemoryError: pretend" for _, r in c.skipped)


def test_rate_mismatch_and_missing_root_are_config_errors(synth_kit: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sample_rate"):
        build_corpus([synth_kit], CODEC, PreprocessConfig(sample_rate=48000), LabelConfig(), None, progress=False)
    with pytest.raises(ConfigError, match="missing"):
        build_corpus([tmp_path / "missing"], CODEC, PreprocessConfig(), LabelConfig(), None, progress=False)


def test_skip_report_is_readable() -> None:
    assert format_skip_report([]) == "no files skipped"
    report = format_skip_report(
        [("a.wav", "empty file"), ("b.wav", "empty file"), ("c.wav", "duplicate of a.wav")], limit=1
    )
    lines = report.splitlines()
    assert lines[0] == "3 file(s) skipped:"
    assert "  empty file [2]:" in lines and "    a.wav" in lines and "    ... and 1 more" in lines
    assert "    c.wav (duplicate of a.wav)" in lines
