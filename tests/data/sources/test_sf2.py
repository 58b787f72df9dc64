from pathlib import Path

import pytest

from gesam_engine.data.sources.sf2 import read_presets
from gesam_engine.errors import AudioFileError
from tests.data.sources.tiny_sf2 import write_tiny_sf2


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_sf2(tmp_path_factory.mktemp("sf2") / "tiny.sf2")


def test_presets_sorted_by_bank_and_program_with_names(font: Path) -> None:
    presets = read_presets(font)
    assert [(p.bank, p.program, p.name) for p in presets] == [(0, 5, "Test Tone"), (128, 0, "Test Kit")]


def test_zones_intersect_preset_and_instrument_ranges(font: Path) -> None:
    kit = read_presets(font)[1]
    zones = {(z.key_lo, z.key_hi, z.vel_lo, z.vel_hi, z.sample) for z in kit.zones}
    assert zones == {(36, 36, 0, 63, "kick soft"), (36, 36, 64, 127, "kick hard"), (30, 40, 0, 127, "snare")}
    assert all(z.instrument == "Kit" for z in kit.zones)  # the global zone gives no zone of its own
    tone = read_presets(font)[0]
    assert [(z.key_lo, z.key_hi, z.sample) for z in tone.zones] == [(60, 72, "tone")]


def test_keys_and_velocity_layers(font: Path) -> None:
    kit = read_presets(font)[1]
    assert kit.keys() == list(range(30, 41))
    assert kit.velocity_layers(36) == [(0, 63), (0, 127), (64, 127)]
    assert kit.velocity_layers(38) == [(0, 127)]
    assert kit.velocity_layers(50) == []


@pytest.mark.reliability
def test_not_a_soundfont_and_damaged_files_raise(tmp_path: Path, font: Path) -> None:
    wav = tmp_path / "x.sf2"
    wav.write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    with pytest.raises(AudioFileError, match="not a SoundFont 2"):
        read_presets(wav)
    cut = tmp_path / "cut.sf2"
    cut.write_bytes(font.read_bytes()[:2000])  # the pdta chunk is gone
    with pytest.raises(AudioFileError, match="damaged"):
        read_presets(cut)
    with pytest.raises(AudioFileError, match="cannot read"):
        read_presets(tmp_path / "missing.sf2")
