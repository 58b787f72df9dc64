from pathlib import Path

import pytest

from gesam_engine.data.sources import packages
from gesam_engine.data.sources.packages import dep5_licence, dep5_stanzas, licence_for, parse_sources, require
from gesam_engine.errors import ConfigError

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: something

Files: *
Copyright: 2013 Someone
License: GPL-2+

Files:
 drumkits/Gimme?A?Hand?1.0.h2drumkit
 drumkits/Other.h2drumkit
Copyright: Glen
License: GPL-2
Comment:
 a comment
 .
 more

Files: sf2/*
Copyright: 2015 Glen MacArthur
License: CC-BY-SA-3.0

License: GPL-2+
 The text of the licence.
"""


def test_dep5_stanzas_and_the_last_match_wins() -> None:
    stanzas = dep5_stanzas(COPYRIGHT)
    assert stanzas == [
        (["*"], "GPL-2+"),
        (["drumkits/Gimme?A?Hand?1.0.h2drumkit", "drumkits/Other.h2drumkit"], "GPL-2"),
        (["sf2/*"], "CC-BY-SA-3.0"),
    ]
    assert dep5_licence(COPYRIGHT, ["sf2/Black_Pearl_4_LV2.sf2"]) == "CC-BY-SA-3.0"
    assert dep5_licence(COPYRIGHT, ["drumkits/Gimme A Hand 1.0.h2drumkit"]) == "GPL-2"
    assert dep5_licence(COPYRIGHT, ["README"]) == "GPL-2+"
    assert dep5_licence("Files: a\nLicense: MIT\n", ["b"]) is None


def test_licence_for_reads_the_package_copyright_or_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packages, "DOC_ROOT", tmp_path)
    (tmp_path / "avldrums.lv2-soundfont").mkdir()
    (tmp_path / "avldrums.lv2-soundfont" / "copyright").write_text(COPYRIGHT)
    assert licence_for("avldrums", ["sf2/Red_Zeppelin_4_LV2.sf2"]) == "CC-BY-SA-3.0"
    (tmp_path / "fluid-soundfont-gm").mkdir()
    (tmp_path / "fluid-soundfont-gm" / "copyright").write_text("This package was debianized by ...\nLicense: MIT\n")
    assert licence_for("fluid", ["FluidR3_GM.sf2"]) == "MIT"  # not DEP-5: the recorded licence
    assert licence_for("csound", ["samples/sf_GMbank.sf2"]) == "public-domain"  # no file at all


def test_sources_are_parsed_and_unknown_names_list_the_valid_ones() -> None:
    assert parse_sources("fluid, hydrogen,fluid") == ("fluid", "hydrogen")
    with pytest.raises(ConfigError, match=r"valid sources are \['hydrogen', 'avldrums', 'fluid', 'csound', 'synth'\]"):
        parse_sources("hydrogen,musescore")
    with pytest.raises(ConfigError, match="valid sources"):
        parse_sources(" , ")


def test_a_missing_package_names_the_apt_get_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = packages.Source("fluid", ("fluid-soundfont-gm", "fluid-soundfont-gs"), (str(tmp_path / "nope.sf2"),), "MIT")
    monkeypatch.setitem(packages.SOURCES, "fluid", fake)
    with pytest.raises(ConfigError,
                       match=r"install it \(apt-get install --no-install-recommends fluid-soundfont-gm fluid-soundfont-gs\)"):
        require("fluid")
    (tmp_path / "nope.sf2").write_bytes(b"x")
    assert require("fluid") == [tmp_path / "nope.sf2"]
    assert require("synth") == []  # needs no package
