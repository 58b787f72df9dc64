"""The corpus builder end to end on sounds the test makes: copies dropped, kits split, files named."""

import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.data.cache import file_hash
from gesam_engine.data.labels import LabelConfig, label_for_path
from gesam_engine.data.sources import packages
from gesam_engine.data.sources.builder import CorpusBuildConfig, build_from_jobs
from gesam_engine.data.sources.hydrogen import hydrogen_jobs
from gesam_engine.data.sources.jobs import KitJob, Loaded, SourceHit
from gesam_engine.data.sources.manifest import items_of, read_manifest
from gesam_engine.data.sources.synth_source import synth_jobs
from gesam_engine.errors import ConfigError

RATE = 44100


def _hit(seed: int, decay: float = 0.08, f0: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.5 * RATE)) / RATE
    body = rng.standard_normal(t.size) + (3 * np.sin(2 * np.pi * f0 * t) if f0 else 0)
    return (0.4 * body * np.exp(-t / decay)).astype(np.float32)


def _write(path: Path, wave: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, RATE, subtype="FLOAT")


def _sf2_job() -> KitJob:
    """A stand-in for a rendered SoundFont kit: two hits that play the same samples, one that does not."""
    hits = tuple(
        SourceHit("fluid", "Font-000-Std", name, stem, f"font key {key} velocity {vel}", key, vel, ident)
        for name, stem, key, vel, ident in [
            ("Acoustic Snare", "038_Acoustic_Snare_v127", 38, 127, "font key 38: snr"),
            ("Acoustic Snare", "038_Acoustic_Snare_v064", 38, 64, "font key 38: snr"),
            ("Low Floor Tom", "041_Low_Floor_Tom_v127", 41, 127, "font key 41: tom"),
        ]
    )
    waves = [_hit(40), _hit(41, 0.03), _hit(42, f0=90)]

    def load() -> Iterator[Loaded]:
        for hit, wave in zip(hits, waves):
            yield Loaded(hit, wave, RATE)

    return KitJob("fluid", "Font-000-Std", "MIT", hits, load)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("src") / "drumkits"
    a = {f"kick_{i}.wav": _hit(i, 0.1, f0=55) for i in range(3)} | {"snare_1.wav": _hit(10), "hat_1.wav": _hit(11, 0.01)}
    for name, wave in a.items():
        _write(root / "KitA" / name, wave)
    _write(root / "KitB" / "kick_copy.wav", 0.5 * a["kick_0.wav"])  # exact copy once conditioned
    _write(root / "KitB" / "kick_filtered.wav", np.convolve(a["kick_1.wav"], [1.0, 0.3], mode="same").astype(np.float32))
    _write(root / "KitB" / "tom_1.wav", _hit(20, f0=120))
    _write(root / "KitB" / "tom_2.wav", _hit(21, f0=150))
    (root / "KitB" / "broken.wav").write_bytes(b"not audio")
    for i in range(4):
        _write(root / "ColomboAcousticDrumkit" / f"snare_{i}.wav", _hit(30 + i))
    _write(root / "ColomboAcousticDrumkit" / "hat_copy.wav", a["hat_1.wav"])  # a copy across the split
    for i in range(4):
        _write(root / "KitC" / f"clap_{i}.wav", _hit(50 + i, 0.02))
    doc = packages.DOC_ROOT
    packages.DOC_ROOT = root.parent / "no-doc"  # licences from the (absent) drumkit.xml, install-independent
    try:
        jobs = hydrogen_jobs(root) + [_sf2_job()] + synth_jobs(kits=2, per_class=1, seed=0)
    finally:
        packages.DOC_ROOT = doc
    out = tmp_path_factory.mktemp("corpus")
    config = CorpusBuildConfig(sources=("hydrogen", "fluid", "synth"), val_fraction=0.3, seed=0)
    manifest = build_from_jobs(jobs, out, config, LabelConfig(), progress=False)
    return out, manifest


def test_every_kept_sound_is_a_file_with_its_hash_and_label(built: tuple[Path, dict]) -> None:
    out, manifest = built
    items = items_of(manifest)
    assert len(items) == manifest["counts"]["total"] > 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    assert files == sorted(i.path for i in items)
    for item in items:
        path = out / item.path
        assert file_hash(path) == item.sha256
        split, source, kit, _ = Path(item.path).parts
        assert (split, source, kit) == (item.split, item.source, item.kit)
        assert item.label == label_for_path(path, out / split, LabelConfig())  # what gesam train will read
        wave, rate = sf.read(path)
        assert rate == RATE and wave.ndim == 1
    assert not (out / ".staging").exists()


def test_copies_are_dropped_for_a_kept_sound(built: tuple[Path, dict]) -> None:
    out, manifest = built
    dups = {d["stem"]: d for d in manifest["duplicates"]}
    assert dups["kick_copy"]["kind"] == "exact" and dups["kick_copy"]["duplicate_of"].endswith("KitA/kick_0.wav")
    assert dups["kick_filtered"]["kind"] == "near" and dups["kick_filtered"]["duplicate_of"].endswith("KitA/kick_1.wav")
    assert dups["038_Acoustic_Snare_v064"]["kind"] == "samples"
    # the copy across the split stays in validation; the training kit loses it
    assert dups["hat_1"]["duplicate_of"] == "val/hydrogen/ColomboAcousticDrumkit/hat_copy.wav"
    assert dups["hat_1"]["kind"] == "exact"
    assert all((out / d["duplicate_of"]).exists() for d in manifest["duplicates"])
    counts = manifest["counts"]
    assert counts["duplicates"] == {"exact": 2, "samples": 1, "near": 1}
    assert counts["hits"] == counts["total"] + counts["rejected"] + sum(counts["duplicates"].values())
    assert [r["origin"].endswith("broken.wav") for r in manifest["rejected"]] == [True]


def test_kits_are_split_whole_and_families_stay_together(built: tuple[Path, dict]) -> None:
    _, manifest = built
    kits = {k["kit"]: k for k in manifest["kits"]}
    assert kits["hydrogen/ColomboAcousticDrumkit"]["split"] == "val"
    assert kits["hydrogen/KitA"]["family"] == kits["hydrogen/KitB"]["family"]
    assert kits["hydrogen/KitA"]["split"] == kits["hydrogen/KitB"]["split"]
    by_kit = {}
    for item in items_of(manifest):
        by_kit.setdefault(item.kit, set()).add(item.split)
    assert all(len(s) == 1 for s in by_kit.values())
    assert set(manifest["split"]["val"]).isdisjoint(manifest["split"]["train"])
    assert sorted(manifest["split"]["val"] + manifest["split"]["train"]) == sorted(kits)
    per_split = manifest["counts"]["per_split"]
    assert sum(per_split.values()) == manifest["counts"]["total"]


def test_manifest_records_licences_config_and_origins(built: tuple[Path, dict]) -> None:
    out, manifest = built
    again = read_manifest(out)
    assert again == json.loads((out / "manifest.json").read_text()) and again["format"] == 1
    assert again["config"]["sources"] == ["hydrogen", "fluid", "synth"]
    assert again["config"]["oneshot"]["sample_rate"] == RATE
    assert {i.licence for i in items_of(again) if i.source == "synth"} == {"MIT"}
    assert {i.licence for i in items_of(again) if i.source == "fluid"} == {"MIT"}
    assert set(again["sources"]) == {"hydrogen", "fluid", "synth"}
    tom = next(i for i in items_of(again) if i.instrument == "Low Floor Tom")
    assert (tom.key, tom.velocity, tom.label) == (41, 127, "tom")


def test_an_existing_corpus_needs_force_and_a_rebuild_is_identical(built: tuple[Path, dict], tmp_path: Path) -> None:
    out, manifest = built
    jobs = synth_jobs(kits=3, per_class=1, seed=5)
    config = CorpusBuildConfig(sources=("synth",), val_fraction=0.4)
    with pytest.raises(ConfigError, match="--force"):
        build_from_jobs(jobs, out, config, LabelConfig(), progress=False)
    first = build_from_jobs(jobs, tmp_path, config, LabelConfig(), progress=False)
    second = build_from_jobs(jobs, tmp_path, config, LabelConfig(), progress=False, force=True)
    assert first["items"] == second["items"] and first["split"] == second["split"]
    (tmp_path / "keep.txt").write_text("mine")  # --force removes only what a build wrote
    build_from_jobs(jobs, tmp_path, config, LabelConfig(), progress=False, force=True)
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.reliability
def test_damaged_or_missing_manifests_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gesam corpus build"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": 99}')
    with pytest.raises(ConfigError, match="format 99"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ConfigError, match="cannot read"):
        read_manifest(tmp_path / "manifest.json")
