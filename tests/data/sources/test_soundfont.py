from pathlib import Path

import pytest

from gesam_engine.data.labels import LabelConfig, label_for_name
from gesam_engine.data.sources.gm_drums import GM_DRUM_NAMES, drum_note_name
from gesam_engine.data.sources.soundfont import AVL_NOTE_NAMES, avl_kit_jobs, gm_kit_jobs, sample_model
from tests.data.sources.tiny_sf2 import write_tiny_sf2


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_sf2(tmp_path_factory.mktemp("sf2") / "tiny.sf2")


def test_gm_kits_give_one_hit_per_drum_note_and_velocity_layer(font: Path) -> None:
    jobs = gm_kit_jobs("fluid", font, "MIT")
    assert [(j.kit, j.licence) for j in jobs] == [("tiny-000-Test_Kit", "MIT")]  # the melodic preset is no kit
    stems = [h.stem for h in jobs[0].hits]
    assert stems == [
        "031_Sticks_v127", "032_Square_Click_v127", "035_Acoustic_Bass_Drum_v127",
        "036_Bass_Drum_1_v063", "036_Bass_Drum_1_v127", "037_Side_Stick_v127",
        "038_Acoustic_Snare_v127", "039_Hand_Clap_v127", "040_Electric_Snare_v127",
    ]  # 30 (scratch), 33 and 34 (metronome) are not drums
    soft, hard = jobs[0].hits[3], jobs[0].hits[4]
    assert (soft.key, soft.velocity, hard.velocity) == (36, 63, 127)
    assert soft.identity == "tiny.sf2 key 36: kick soft + snare"
    assert hard.identity == "tiny.sf2 key 36: kick hard + snare"
    assert "bank 128 program 0 key 36 velocity 63" in soft.origin


def test_avl_kits_name_hits_by_the_avl_note_map_and_the_sample(font: Path) -> None:
    jobs = avl_kit_jobs("avldrums", font, "CC-BY-SA-3.0")
    assert [j.kit for j in jobs] == ["tiny-000-005", "tiny-128-000"]  # several presets: one kit each
    kit = {h.stem: h for h in jobs[1].hits}
    assert "036_Kick_kick_hard_v127" in kit and kit["036_Kick_kick_hard_v127"].instrument == "Kick"
    assert sample_model("36-Pearl22Kick-3") == "Pearl22Kick"
    assert sample_model("60-Paiste2002-22-1") == "Paiste2002-22"


def test_gm_and_avl_names_label_as_their_class() -> None:
    labels = LabelConfig()
    expect = {35: "kick", 36: "kick", 37: "snare", 38: "snare", 39: "clap", 40: "snare", 41: "tom", 42: "hihat",
              44: "hihat", 46: "hihat", 49: "hihat", 50: "tom", 51: "hihat", 52: "hihat", 53: "hihat", 57: "hihat"}
    for key, cls in expect.items():
        assert label_for_name(GM_DRUM_NAMES[key], labels) == cls, GM_DRUM_NAMES[key]
    for key, name in AVL_NOTE_NAMES.items():
        if key <= 53 or key in (55, 57, 58, 59, 60):
            assert label_for_name(name, labels) is not None, name
    assert drum_note_name(29) is None and drum_note_name(88) is None and drum_note_name(36) == "Bass Drum 1"
