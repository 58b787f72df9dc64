"""The packaged sources themselves (Debian): listed, rendered and labelled as the corpus expects.

Needs hydrogen-drumkits, avldrums.lv2-soundfont, fluid-soundfont-gm, fluid-soundfont-gs,
csound-soundfont and fluidsynth: it skips locally without them and fails under CI=true, where
``.ci/run`` installs them. Renders one kit per source (a few seconds), not the whole corpus.
"""

import shutil
from pathlib import Path

import pytest

from gesam_engine.data.labels import LabelConfig
from gesam_engine.data.sources import packages
from gesam_engine.data.sources.builder import CorpusBuildConfig, build_from_jobs, source_jobs
from gesam_engine.data.sources.manifest import items_of
from tests.part_required import missing_part

SOURCES = ("hydrogen", "avldrums", "fluid", "csound")


def _require_packages() -> None:
    missing = [p for name in SOURCES if not packages.existing_paths(packages.SOURCES[name])
               for p in packages.SOURCES[name].packages]
    if shutil.which("fluidsynth") is None:
        missing.append("fluidsynth")
    if missing:
        missing_part(f"the corpus sources are not installed: apt-get install {' '.join(missing)}")


@pytest.mark.slow
def test_packaged_sources_list_render_and_label(tmp_path: Path) -> None:
    _require_packages()
    config = CorpusBuildConfig(sources=SOURCES, val_fraction=0.0)
    jobs = source_jobs(config)
    kits = {(j.source, j.kit): j for j in jobs}
    assert ("hydrogen", "rumpf_kit_z01_h2") not in kits  # beat loops stay out
    assert ("avldrums", "Black_Pearl_4_LV2") in kits and len(kits["avldrums", "Black_Pearl_4_LV2"].hits) == 118
    assert ("fluid", "FluidR3_GM-000-Standard") in kits
    assert not any("SFX" in k or "Orchestra" in k for _, k in kits)
    assert sum(len(j.hits) for j in jobs if j.source == "hydrogen") >= 600

    subset = [kits[k] for k in [("hydrogen", "HardElectro1"), ("avldrums", "Black_Pearl_4_LV2"),
                                ("fluid", "FluidR3_GM-025-TR-808"), ("csound", "sf_GMbank-000-Standard")]]
    manifest = build_from_jobs(subset, tmp_path, config, LabelConfig(), progress=False)
    items = items_of(manifest)
    per_source = manifest["counts"]["per_source"]
    assert set(per_source) == set(SOURCES) and per_source["avldrums"] >= 80
    licences = {(i.source, i.kit.split("-")[0]): i.licence for i in items}
    assert licences["avldrums", "Black_Pearl_4_LV2"] == "CC-BY-SA-3.0"
    assert licences["fluid", "FluidR3_GM"] == "MIT"
    assert licences["csound", "sf_GMbank"] == "public-domain"
    assert licences["hydrogen", "HardElectro1"] == "GPL-2+"
    by_stem = {Path(i.path).stem: i for i in items}
    assert by_stem["036_Kick_Pearl22Kick_v127"].label == "kick"
    assert by_stem["038_Acoustic_Snare_v127"].label == "snare"
    kicks = [i for i in items if i.source == "avldrums" and i.key == 36]
    assert len(kicks) >= 4  # the velocity layers are separate recordings
    assert manifest["counts"]["duplicates"]["near"] > 0  # AVL reuses one recording for several layers
