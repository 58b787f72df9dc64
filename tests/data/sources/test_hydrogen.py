from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.data.sources import packages
from gesam_engine.data.sources.hydrogen import hydrogen_jobs, read_drumkit_xml
from gesam_engine.errors import AudioFileError

NEW_XML = """<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
 <name>My Kit</name>
 <license>GPL</license>
 <instrumentList>
  <instrument><id>0</id><name>Pearl Kick</name>
   <layer><filename>kick_01.wav</filename><min>0</min><max>0.5</max></layer>
   <layer><filename>kick_02.wav</filename><min>0.5</min><max>1</max></layer>
  </instrument>
  <instrument><id>1</id><name>Snare</name>
   <layer><filename>Snare_hard.flac</filename></layer>
  </instrument>
  <instrument><id>2</id><name>Stick</name>
   <layer><filename>sub/rim.wav</filename></layer>
  </instrument>
 </instrumentList>
</drumkit_info>
"""

OLD_XML = """<?xml version="1.0"?>
<drumkit_info>
 <name>Old Kit</name>
 <instrumentList>
  <instrument><name>Ride</name><filename>cym.wav</filename></instrument>
 </instrumentList>
</drumkit_info>
"""


def _wave(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * rng.standard_normal(4410) * np.exp(-np.arange(4410) / 800)).astype(np.float32), 44100)


@pytest.fixture
def kits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(packages, "DOC_ROOT", tmp_path / "no-doc")  # licences from drumkit.xml only
    root = tmp_path / "drumkits"
    (root / "MyKit").mkdir(parents=True)
    (root / "MyKit" / "drumkit.xml").write_text(NEW_XML)
    for i, name in enumerate(["kick_01.wav", "kick_02.wav", "Snare_hard.flac", "sub/rim.wav", "extra_tom.wav"]):
        _wave(root / "MyKit" / name, i)
    (root / "OldKit").mkdir()
    (root / "OldKit" / "drumkit.xml").write_text(OLD_XML)
    _wave(root / "OldKit" / "cym.wav", 9)
    _wave(root / "rumpf_kit_z01_h2" / "beats_01.wav", 10)  # loops: left out
    (root / "Empty").mkdir()
    return root


def test_drumkit_xml_gives_kit_licence_and_instrument_per_file(kits: Path) -> None:
    name, licence, files = read_drumkit_xml(kits / "MyKit" / "drumkit.xml")
    assert (name, licence) == ("My Kit", "GPL")
    assert files == {"kick_01.wav": "Pearl Kick", "kick_02.wav": "Pearl Kick", "Snare_hard.flac": "Snare", "rim.wav": "Stick"}
    assert read_drumkit_xml(kits / "OldKit" / "drumkit.xml")[2] == {"cym.wav": "Ride"}


def test_jobs_name_each_file_by_its_instrument(kits: Path) -> None:
    jobs = hydrogen_jobs(kits)
    assert [j.kit for j in jobs] == ["MyKit", "OldKit"]  # loops and empty kits left out
    stems = {h.stem: h.instrument for h in jobs[0].hits}
    assert stems == {
        "Pearl_Kick__kick_01": "Pearl Kick", "Pearl_Kick__kick_02": "Pearl Kick",
        "Snare_hard": "Snare", "Stick__rim": "Stick", "extra_tom": "extra_tom",
    }
    assert jobs[0].licence == "GPL"
    assert jobs[1].licence.startswith("unknown")
    assert [h.stem for h in jobs[1].hits] == ["Ride__cym"]


def test_load_yields_waves_and_reasons(kits: Path) -> None:
    (kits / "OldKit" / "broken.wav").write_bytes(b"RIFF nonsense")
    job = hydrogen_jobs(kits)[1]
    loaded = {Path(x.hit.origin).name: x for x in job.load()}
    assert loaded["cym.wav"].wave is not None and loaded["cym.wav"].rate == 44100
    assert loaded["broken.wav"].wave is None and "cannot decode" in loaded["broken.wav"].error


def test_a_bad_drumkit_xml_is_a_readable_error(tmp_path: Path) -> None:
    (tmp_path / "drumkit.xml").write_text("<drumkit_info>")
    with pytest.raises(AudioFileError, match="cannot read"):
        read_drumkit_xml(tmp_path / "drumkit.xml")
