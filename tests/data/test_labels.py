from pathlib import Path

import pytest

from gesam_engine.config import read_toml
from gesam_engine.data.labels import LabelConfig, label_for_path, load_label_config, tokenize
from gesam_engine.errors import ConfigError

CFG = LabelConfig()


@pytest.mark.parametrize(
    "name, expected",
    [
        ("HH2_07.aiff", "hihat"),
        ("RD_05.aiff", "hihat"),
        ("TM_01.wav", "tom"),
        ("Kick-Soft.wav", "kick"),
        ("snare_rim.wav", "snare"),
        ("crash.wav", "hihat"),
        ("101450__menegass__tomh.wav", "tom"),
        ("Kicks/001.wav", "kick"),
        ("bongo.wav", "other"),
        ("chair.wav", "other"),
        ("HiHatClosed-Soft.wav", "hihat"),
        ("Hi_Hat_Open.wav", "hihat"),
        ("hi-hat 3.flac", "hihat"),
        ("BD_01.aiff", "kick"),
        ("bd1.flac", "kick"),
        ("bassdrum-4mics.flac", "kick"),
        ("Bass Drum 2.wav", "kick"),
        ("PearlSideStick-Hard.wav", "snare"),
        ("SN3_01.aiff", "snare"),
        ("HandClap-Med.wav", "clap"),
        ("Fingersnap-Soft.wav", "clap"),
        ("floortom_3.flac", "tom"),
        ("hhclosed_2.flac", "hihat"),  # short keyword glued to an articulation word
        ("openhat2.flac", "hihat"),
        ("cra_Rock_a.flac", "hihat"),  # short keyword plus one letter
        ("CHH_1.flac", "hihat"),
        ("ZildjianSplash-Hard.wav", "hihat"),
        ("stomachache.wav", "other"),  # "tom" inside a word is not a tom
        ("cherry.wav", "other"),  # nor is "ch" inside a word a closed hat
        ("sdfx.wav", "other"),
        ("Csharp minor_UP_1.flac", "other"),
    ],
)
def test_label_examples(name: str, expected: str) -> None:
    assert label_for_path(Path(name), Path("."), CFG) == expected


def test_earliest_match_wins_within_a_name() -> None:
    assert label_for_path(Path("garage-snare-snappy.wav"), None, CFG) == "snare"
    assert label_for_path(Path("snappy-snare.wav"), None, CFG) == "clap"
    assert label_for_path(Path("kick_and_snare.wav"), None, CFG) == "kick"
    assert label_for_path(Path("snare_and_kick.wav"), None, CFG) == "snare"


def test_file_name_beats_folders_and_nearest_folder_wins(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    assert label_for_path(root / "Kicks" / "snare.wav", root, CFG) == "snare"
    assert label_for_path(root / "Toms" / "Kicks" / "001.wav", root, CFG) == "kick"
    assert label_for_path(root / "Toms" / "misc" / "001.wav", root, CFG) == "tom"


def test_root_and_folders_above_it_are_not_used() -> None:
    root = Path("/samples/Kicks")
    assert label_for_path(root / "001.wav", root, CFG) == "other"
    assert label_for_path(root / "001.wav", None, CFG) == "kick"


def test_tokenize_splits_case_digits_and_separators() -> None:
    assert tokenize("HiHatClosed_02") == ["hi", "hat", "closed", "02"]
    assert tokenize("HHOpen-3b") == ["hh", "open", "3", "b"]
    assert tokenize("PowR_SN_04") == ["pow", "r", "sn", "04"]


def test_custom_classes_and_unlabelled_name() -> None:
    cfg = load_label_config(
        {
            "classes": {"perc": ["bongo", "conga"], "kick": ["kick"]},
            "colors": {"perc": "#112233", "kick": "#445566", "misc": "#000000"},
            "unlabelled": "misc",
        }
    )
    assert list(cfg.classes) == ["perc", "kick"]
    assert cfg.classes["perc"] == ("bongo", "conga")
    assert label_for_path(Path("BongoHi.wav"), None, cfg) == "perc"
    assert label_for_path(Path("snare.wav"), None, cfg) == "misc"


def test_defaults_have_five_classes_with_distinct_colours() -> None:
    assert list(CFG.classes) == ["kick", "snare", "hihat", "tom", "clap"]
    colours = [CFG.colors[c] for c in CFG.names]
    assert len(set(colours)) == len(colours)


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"colour": {}}, "unknown key"),
        ({"classes": {"kick": []}, "colors": {"kick": "#ffffff", "other": "#000000"}}, "at least one keyword"),
        ({"classes": {"perc": ["bongo"]}}, "labels.colors.perc"),
        ({"colors": {**LabelConfig().colors, "kick": "red"}}, "#rrggbb"),
        ({"unlabelled": "kick"}, "must not also be a class"),
        ({"classes": {"kick": "kick"}}, "must be a list"),
    ],
)
def test_bad_config_is_refused(data: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_label_config(data)


def test_toml_section_with_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gesam.toml"
    path.write_text('[labels]\nunlabelled = "other"\nkeywords = ["kick"]\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['keywords'\]"):
        load_label_config(read_toml(path)["labels"])


def test_toml_section_loads(tmp_path: Path) -> None:
    path = tmp_path / "gesam.toml"
    path.write_text(
        '[labels]\nunlabelled = "rest"\n'
        '[labels.classes]\nkick = ["kick", "bd"]\n'
        '[labels.colors]\nkick = "#e6194b"\nrest = "#808080"\n'
    )
    cfg = load_label_config(read_toml(path)["labels"])
    assert label_for_path(Path("BD_01.wav"), None, cfg) == "kick"
    assert label_for_path(Path("snare.wav"), None, cfg) == "rest"
    assert load_label_config(None) == LabelConfig()
