"""Kits: TOML round trip, refused keys and values, the program library, SFZ export, engine kits."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.errors import ConfigError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.runtime.kits import (
    Kit, KitError, KitLibrary, default_kit, export_sfz, kit_from_dict, load_kit, slug,
)
from gesam_engine.runtime.pads import Pad, default_pads
from tests.tiny import tiny_model

ODD = Kit("Rock \"kit\" \\ 2\n\tü", (
    Pad(0.0, 1.0, name="kick", pitch=-3.5, gain=0.25, choke=-1),
    Pad(0.1234567890123, 0.9, name="closed hat", pitch=0.0, gain=4.0, choke=0),
    Pad(0.5, 0.5, name="open hat", pitch=12.0, gain=1.0, choke=0),
    Pad(1.0, 0.0, name="", pitch=48.0, gain=0.0, choke=63),
    *default_pads(16)[4:],
))


# ---- TOML ------------------------------------------------------------------------------------
def test_toml_round_trip_is_exact(tmp_path: Path) -> None:
    for kit in (default_kit(), ODD):
        path = kit.save(tmp_path / "k.toml")
        assert load_kit(path) == kit
        assert tomllib.loads(kit.to_toml())["name"] == kit.name  # plain TOML any tool reads
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_long_and_odd_names_round_trip_as_one_table_per_pad(tmp_path: Path) -> None:
    long = "a very long pad name, " * 10 + "with \"quotes\", a tab\t, a DEL \x7f and \u00fc"
    kit = Kit(long, (dataclasses.replace(default_pads(16)[0], name=long), *default_pads(16)[1:]))
    text = kit.to_toml()
    assert text.startswith("# gesam kit: 16 pads on the map") and text.count("\n[[pads]]  # pad ") == 16
    assert load_kit(kit.save(tmp_path / "long.toml")) == kit


def test_default_kit_is_the_engines_default_layout() -> None:
    kit = default_kit()
    assert len(kit.pads) == 16 and kit.name == "default"
    assert kit.pads[0].xy == (0.125, 0.125) and kit.pads[15].xy == (0.875, 0.875)


def test_missing_pads_and_keys_take_defaults(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text('[[pads]]\nname = "kick"\ngain = 2\n\n[[pads]]\nx = 0.3\ny = 1\n')
    kit = load_kit(path)
    defaults = default_pads(16)
    assert kit.name == "short"  # no name: the file's stem
    assert kit.pads[0] == dataclasses.replace(defaults[0], name="kick", gain=2.0)
    assert kit.pads[1] == dataclasses.replace(defaults[1], x=0.3, y=1.0)
    assert kit.pads[2:] == tuple(defaults[2:])
    assert load_kit(_write(tmp_path, "")).pads == tuple(defaults)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kit.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "match"), [
    ('colour = "red"', r"unknown key\(s\) \['colour'\]; valid keys are \['name', 'pads'\]"),
    ("name = 3", "name must be a string"),
    ("pads = 3", r"pads must be \[\[pads\]\] tables"),
    ("[[pads]]\nvolume = 1", r"pad 0: unknown key\(s\) \['volume'\]; valid keys are \['x', 'y', 'name'"),
    ("[[pads]]\n[[pads]]\nx = 1.5", r"pad 1: x: pad x and y must be in \[0, 1\], got \(1.5"),
    ("[[pads]]\ny = -0.1", r"pad 0: y: pad x and y must be in \[0, 1\]"),
    ("[[pads]]\ngain = 5", r"pad 0: gain: pad gain must be in 0\.\.4, got 5"),
    ("[[pads]]\npitch = -49", r"pad 0: pitch: pad pitch must be in -48\.\.48"),
    ("[[pads]]\nchoke = 64", r"pad 0: choke: pad choke group must be in -1\.\.63"),
    ("[[pads]]\nchoke = 1.5", r"pad 0: choke must be an integer"),
    ("[[pads]]\ngain = true", r"pad 0: gain must be a number, got True"),
    ('[[pads]]\nx = "left"', r"pad 0: x must be a number, got 'left'"),
    ("[[pads]]\nname = 7", r"pad 0: name must be a string"),
    ("[[pads]]\ngain = nan", r"pad 0: gain: pad values must be finite"),
    ("[[pads]]\n" * 17, r"17 \[\[pads\]\] tables, but a kit holds 16 pads"),
    ("name = ", "not valid TOML"),
])
def test_bad_keys_and_values_name_the_pad_and_key(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_kit(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_kit(tmp_path / "nope.toml")


def test_kit_checks_its_pads() -> None:
    with pytest.raises(ConfigError, match=r"1\.\.64 pads, got 0"):
        Kit("empty", ())
    with pytest.raises(ConfigError, match="kit pad 1 must be a Pad"):
        Kit("x", (Pad(0.5, 0.5), (0.5, 0.5)))  # type: ignore[arg-type]
    assert kit_from_dict({}, pads=4).pads == tuple(default_pads(4))


# ---- library ---------------------------------------------------------------------------------
def test_library_saves_and_gets_programs(tmp_path: Path) -> None:
    lib = KitLibrary(tmp_path / "kits")
    assert lib.programs() == {}
    path = lib.save(5, ODD)
    assert path.name == "005-rock-kit-2.toml"
    lib.save(0, default_kit(name="Boom Bap"))
    assert lib.get(5) == ODD and lib.get(0).name == "Boom Bap"
    assert list(lib.programs()) == [0, 5]
    renamed = lib.save(5, dataclasses.replace(ODD, name="Jazz"))  # replaces program 5's old file
    assert renamed.name == "005-jazz.toml" and not path.exists() and lib.get(5).name == "Jazz"
    (tmp_path / "kits" / "notes.txt").write_text("ignored")
    (tmp_path / "kits" / "200-too-high.toml").write_text("")
    assert list(lib.programs()) == [0, 5]


def test_missing_program_lists_the_saved_ones(tmp_path: Path) -> None:
    lib = KitLibrary(tmp_path)
    with pytest.raises(KitError, match=r"no kit saved as program 3 in .*; saved programs: none"):
        lib.get(3)
    lib.save(1, default_kit(name="one"))
    lib.save(127, default_kit(name="last"))
    with pytest.raises(KitError, match=r"program 3 .*saved programs: 1 \(one\), 127 \(last\)"):
        lib.get(3)
    with pytest.raises(KitError) as info:
        KitLibrary(tmp_path / "missing").get(0)
    assert isinstance(info.value, GesamError)


@pytest.mark.parametrize("program", [-1, 128, 1.0, True, "1"])
def test_program_numbers_are_checked(tmp_path: Path, program: object) -> None:
    lib = KitLibrary(tmp_path)
    with pytest.raises(ConfigError, match=r"program must be an integer in 0\.\.127"):
        lib.get(program)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"program must be an integer in 0\.\.127"):
        lib.save(program, default_kit())  # type: ignore[arg-type]


def test_two_files_for_one_program_are_refused(tmp_path: Path) -> None:
    default_kit(name="a").save(tmp_path / "007-a.toml")
    default_kit(name="b").save(tmp_path / "007-b.toml")
    with pytest.raises(KitError, match="program 7 has 2 kit files .*007-a.toml, 007-b.toml"):
        KitLibrary(tmp_path).get(7)


def test_a_bad_kit_file_in_the_library_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "002-broken.toml").write_text("[[pads]]\ngain = 9\n")
    with pytest.raises(ConfigError, match=r"002-broken\.toml: pad 0: gain"):
        KitLibrary(tmp_path).get(2)


def test_slug() -> None:
    assert slug("Rock Kit #2!") == "rock-kit-2"
    assert slug("  ") == "kit" and slug("ü", "pad") == "pad"
    assert len(slug("a" * 100)) == 40


# ---- SFZ -------------------------------------------------------------------------------------
def parse_sfz(text: str) -> list[dict[str, str]]:
    """Every header's opcodes, in order: [{'<header>': 'region', 'key': '36', ...}, ...].

    A tiny SFZ reader: ``//`` comments, ``<header>`` tokens and ``opcode=value`` pairs; ``sample=``
    runs to the end of its line (file names may hold spaces in SFZ).
    """
    sections: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("//", 1)[0]
        tokens = re.findall(r"<\w+>|sample=.*$|\S+=\S+|\S+", line)
        for token in tokens:
            if token.startswith("<"):
                sections.append({"<header>": token[1:-1]})
            elif "=" in token:
                assert sections, f"opcode before any header: {raw!r}"
                k, v = token.split("=", 1)
                sections[-1][k] = v.strip()
            else:
                raise AssertionError(f"not SFZ: {token!r} in {raw!r}")
    return sections


def check_sfz(sfz: Path, kit: Kit, first_note: int = 36) -> list[dict[str, str]]:
    """Regions: one per pad, an existing non-silent 24-bit sample, keys in order, consistent chokes."""
    sections = parse_sfz(sfz.read_text())
    regions = [s for s in sections if s["<header>"] == "region"]
    assert len(regions) == len(kit.pads)
    assert {s["<header>"] for s in sections} <= {"global", "region"}
    for i, (r, pad) in enumerate(zip(regions, kit.pads)):
        sample = sfz.parent / r["sample"]
        assert sample.is_file(), sample
        info = sf.info(str(sample))
        assert info.subtype == "PCM_24" and info.channels == 1
        key = first_note + i
        assert int(r["key"]) == key == int(r["pitch_keycenter"])
        assert -144 <= float(r["volume"]) <= 6
        assert int(r["transpose"]) + int(r["tune"]) / 100 == pytest.approx(pad.pitch, abs=0.006)
        assert -50 <= int(r["tune"]) <= 50
        if pad.choke >= 0:
            assert r["group"] == r["off_by"] == str(pad.choke + 1)
        else:
            assert "group" not in r and "off_by" not in r
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(regions):
        if "group" in r:
            groups.setdefault(r["group"], []).append(i)
    for members in groups.values():  # every member of a group is cut off by every other
        assert {regions[i]["off_by"] for i in members} == {regions[members[0]]["group"]}
    return regions


@pytest.fixture(scope="module")
def tiny() -> GesamModel:
    return tiny_model(0.2)


def batch_render(model: GesamModel, kit: Kit) -> Callable[[float, float], np.ndarray]:
    """render(x, y) for the kit's points, made in one batch (as ``gesam kit export`` does)."""
    waves = model.render(np.array([p.xy for p in kit.pads]))
    table = {p.xy: waves[i] for i, p in enumerate(kit.pads)}
    return lambda x, y: table[(x, y)]


def test_export_sfz_with_a_tiny_model(tmp_path: Path, tiny: GesamModel) -> None:
    kit = Kit("hats", (
        Pad(0.2, 0.2, name="kick", gain=1.0),
        Pad(0.4, 0.6, name="closed hat", gain=0.5, choke=0, pitch=-2.25),
        Pad(0.6, 0.4, name="open hat", gain=1.6, choke=0, pitch=7),
        *default_pads(16)[3:],
    ))
    render, rate = batch_render(tiny, kit), tiny.sample_rate
    sfz = export_sfz(kit, render, rate, tmp_path / "out")
    assert sfz == tmp_path / "out" / "kit.sfz"
    regions = check_sfz(sfz, kit)
    assert regions[1]["sample"] == "samples/pad_01_closed-hat.wav"
    assert (regions[1]["transpose"], regions[1]["tune"]) == ("-2", "-25")
    text = sfz.read_text()
    assert text.startswith("// gesam kit 'hats': 16 pads on keys 36-51")
    assert "loop_mode=one_shot" in text
    for i, r in enumerate(regions):
        wave, sr = sf.read(str(sfz.parent / r["sample"]), dtype="float32")
        assert sr == rate and float(np.abs(wave).max()) > 0.01, f"pad {i} is silent"
        assert float(np.abs(wave).max()) <= 10 ** (-1 / 20) + 1e-3  # never clipped
    # gain: baked into the sample up to -1 dBFS, the rest as volume
    ref = render(0.2, 0.2)
    kick, _ = sf.read(str(sfz.parent / regions[0]["sample"]), dtype="float32")
    assert np.allclose(kick, ref, atol=2e-6) and float(regions[0]["volume"]) == 0
    hat, _ = sf.read(str(sfz.parent / regions[1]["sample"]), dtype="float32")
    assert np.allclose(hat, 0.5 * render(0.4, 0.6), atol=2e-6) and float(regions[1]["volume"]) == 0
    open_hat = float(np.abs(sf.read(str(sfz.parent / regions[2]["sample"]), dtype="float32")[0]).max())
    level = open_hat * 10 ** (float(regions[2]["volume"]) / 20)
    assert level == pytest.approx(1.6 * float(np.abs(render(0.6, 0.4)).max()), rel=1e-3)
    assert "quieter" not in text


def test_export_sfz_gain_split_and_silent_pads(tmp_path: Path) -> None:
    def render(x: float, y: float) -> np.ndarray:
        return np.sin(np.arange(4800) * x).astype(np.float32) * 0.5

    kit = Kit("levels", (Pad(0.5, 0.5, gain=0.0), Pad(0.5, 0.5, gain=3.0), Pad(0.5, 0.5, gain=1.5),
                         Pad(0.5, 0.5, gain=4.0), Pad(0.1, 0.5, gain=0.5)))
    sfz = export_sfz(kit, render, 48000, tmp_path)
    regions = check_sfz(sfz, kit)
    assert float(regions[0]["volume"]) == -144  # gain 0: the sound is kept, the region is silent
    peaks = [float(np.abs(sf.read(str(tmp_path / r["sample"]))[0]).max()) for r in regions]
    assert peaks[0] == pytest.approx(0.5, abs=1e-4)
    assert peaks[4] == pytest.approx(0.25, abs=1e-3) and float(regions[4]["volume"]) == 0  # all in the sample
    assert peaks[2] == pytest.approx(0.75, abs=1e-3) and float(regions[2]["volume"]) == 0  # gain 1.5 fits
    assert peaks[1] == pytest.approx(10 ** (-1 / 20), abs=1e-4)  # gain 3 does not: as loud as fits, ...
    assert peaks[1] * 10 ** (float(regions[1]["volume"]) / 20) == pytest.approx(1.5, rel=1e-3)  # ... + volume
    # gain 4 on a sound peaking at 0.5 needs +7.02 dB on top of -1 dBFS: SFZ stops at +6
    assert float(regions[3]["volume"]) == 6
    assert "// pad 3: its gain needs 1.0 dB more than SFZ's volume range" in sfz.read_text()


def test_export_sfz_writes_the_envelope_as_ampeg_opcodes(tmp_path: Path) -> None:
    def render(x: float, y: float) -> np.ndarray:
        return np.full(4800, 0.5, np.float32)

    kit = Kit("shapes", (Pad(0.5, 0.5), Pad(0.5, 0.5, attack=12.5, hold=30.0, decay=250.0),
                         Pad(0.5, 0.5, attack=3.0), Pad(0.5, 0.5, hold=40.0)))
    sfz = export_sfz(kit, render, 48000, tmp_path)
    regions = check_sfz(sfz, kit)
    shape = [{k: v for k, v in r.items() if k.startswith("ampeg_")} for r in regions]
    assert shape[0] == {} and shape[3] == {}  # hold without a decay changes nothing: nothing to say
    assert shape[1] == {"ampeg_attack": "0.0125", "ampeg_hold": "0.03", "ampeg_decay": "0.25", "ampeg_sustain": "0"}
    assert shape[2] == {"ampeg_attack": "0.003"}
    text = sfz.read_text()
    assert "// shape: ampeg_attack, ampeg_hold and ampeg_decay" in text
    assert "// pad 1 '' at (0.5000, 0.5000), gain 1, pitch 0, attack 12.5 hold 30 decay 250 length 0 ms, tilt 0" in text
    for r in regions:  # no length, no tilt: the WAVs are the sound itself
        np.testing.assert_allclose(sf.read(str(tmp_path / r["sample"]), dtype="float32")[0], 0.5, atol=1e-6)


def test_export_sfz_cuts_a_length_into_the_wav_with_the_release_fade_at_the_pads_pitch(tmp_path: Path) -> None:
    def render(x: float, y: float) -> np.ndarray:
        return np.full(48000, 0.5, np.float32)

    kit = Kit("cut", (Pad(0.5, 0.5, length=10.0), Pad(0.5, 0.5, length=10.0, pitch=12.0),
                      Pad(0.5, 0.5, length=2000.0)))
    sfz = export_sfz(kit, render, 48000, tmp_path, release_ms=5.0)
    regions = check_sfz(sfz, kit)
    waves = [sf.read(str(tmp_path / r["sample"]), dtype="float32")[0] for r in regions]
    # 10 ms = 480 frames, then 240 frames of fade; an octave up reads two samples per frame
    assert waves[0].shape == (720,) and waves[1].shape == (1440,) and waves[2].shape == (48000,)
    np.testing.assert_allclose(waves[0][:480], 0.5, atol=1e-6)
    np.testing.assert_allclose(waves[0][480:], 0.5 * (720 - np.arange(480, 720)) / 240, atol=1e-6)
    np.testing.assert_allclose(waves[1][::2], waves[0], atol=1e-6)  # the same fade in output time
    assert "end=" not in sfz.read_text()


def test_export_sfz_bakes_the_tilt_into_the_wav_as_the_engine_plays_it(tmp_path: Path) -> None:
    from gesam_engine.runtime.tilt import tilt_sound
    from tests.runtime.test_tilt import centroid

    noise = (0.1 * np.random.default_rng(4).standard_normal(24000)).astype(np.float32)  # peak under -1 dBFS
    kit = Kit("tilt", (Pad(0.5, 0.5), Pad(0.5, 0.5, tilt=-0.6), Pad(0.5, 0.5, tilt=0.6)))
    sfz = export_sfz(kit, lambda x, y: noise, 48000, tmp_path)
    regions = check_sfz(sfz, kit)
    flat, dark, bright = (sf.read(str(tmp_path / r["sample"]), dtype="float32")[0] for r in regions)
    assert centroid(dark) < 0.6 * centroid(flat) and centroid(bright) > 1.05 * centroid(flat)
    np.testing.assert_allclose(dark, tilt_sound(noise, -0.6, 48000), atol=2e-6)  # 24-bit of the engine's
    assert not any(k.startswith("ampeg_") for r in regions for k in r)


def test_export_sfz_refuses_to_overwrite_and_force_replaces(tmp_path: Path) -> None:
    def render(x: float, y: float) -> np.ndarray:
        return np.full(100, 0.1, np.float32)

    export_sfz(Kit("a", (Pad(0.5, 0.5, name="old"),)), render, 44100, tmp_path)
    with pytest.raises(GesamError, match="kit.sfz already exists; pass --force"):
        export_sfz(Kit("a", (Pad(0.5, 0.5, name="new"),)), render, 44100, tmp_path)
    export_sfz(Kit("a", (Pad(0.5, 0.5, name="new"),)), render, 44100, tmp_path, force=True)
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["pad_00_new.wav"]


def test_export_sfz_checks_its_arguments(tmp_path: Path) -> None:
    good = lambda x, y: np.zeros(10, np.float32)  # noqa: E731
    with pytest.raises(ConfigError, match=r"first_note must be an integer in 0\.\.112"):
        export_sfz(default_kit(), good, 48000, tmp_path, first_note=120)
    with pytest.raises(ConfigError, match="sample_rate"):
        export_sfz(default_kit(), good, 0, tmp_path)
    with pytest.raises(GesamError, match="render for pad 0 .* finite, non-empty"):
        export_sfz(default_kit(), lambda x, y: np.array([math.nan], np.float32), 48000, tmp_path)
    assert not (tmp_path / "kit.sfz").exists()


def test_parse_sfz_reads_what_samplers_read() -> None:
    text = "// c\n<global> loop_mode=one_shot\n<region> key=36 sample=samples/a b.wav // not a comment? \n"
    sections = parse_sfz(text)
    assert sections[1]["sample"] == "samples/a b.wav"
    assert sections[0] == {"<header>": "global", "loop_mode": "one_shot"}


# ---- engine ----------------------------------------------------------------------------------
def test_engine_kit_and_apply_kit(tmp_path: Path) -> None:
    from tests.runtime.test_engine import make_engine
    from tests.waiting import wait_for

    with make_engine(tmp_path) as e:
        assert e.kit("now") == Kit("now", tuple(default_pads(16)))
        e.set_pad(2, 0.3, 0.4, name="snare")
        assert e.kit().pads[2].name == "snare" and e.kit().name == ""
        e.apply_kit(ODD)
        assert e.kit(ODD.name) == ODD
        assert all(e.pad(n) == ODD.pads[n] for n in range(16))
        wait_for(lambda: all(e.is_ready(p.xy) for p in ODD.pads[:4]), timeout=60)
        assert e.trigger_pad(1).exact  # its sound was made when the kit was applied
        with pytest.raises(ConfigError, match="has 3 pads but the engine has 16"):
            e.apply_kit(Kit("small", tuple(default_pads(3))))
        assert e.kit(ODD.name) == ODD  # a refused kit changes nothing


def test_export_sfz_writes_round_robin_and_velocity_layers(tmp_path: Path) -> None:
    """A pad's variants and velocity layers become regions: lovel/hivel per layer as the engine
    splits velocity, seq_length/seq_position in turn (cycle) or lorand/hirand (random)."""
    from gesam_engine.runtime.variations import layer_of, variant_point

    cycle = Pad(0.4, 0.6, name="snare", variation=0.1, variants=3, soft_x=0.0, soft_y=-0.2, layers=2)
    rnd = Pad(0.2, 0.2, name="hat", variation=0.05, variants=2, variation_mode="random")
    kit = Kit("rr", (cycle, rnd, Pad(0.9, 0.9, name="kick")))
    asked: list[tuple[float, float]] = []

    def render(x: float, y: float) -> np.ndarray:
        asked.append((x, y))
        return np.full(480, 0.1 + 0.4 * x + 0.2 * y, np.float32)

    sfz = export_sfz(kit, render, 48000, tmp_path / "out")
    regions = [line for line in sfz.read_text().splitlines() if line.startswith("<region>")]
    snare = [r for r in regions if "key=36 " in r]
    assert len(snare) == 6 and len([r for r in regions if "key=37 " in r]) == 2 and len(regions) == 9
    assert sum("lovel=0 hivel=63" in r for r in snare) == 3 and sum("lovel=64 hivel=127" in r for r in snare) == 3
    assert [layer_of(cycle, v / 127) for v in (0, 63, 64, 127)] == [0, 0, 1, 1]
    assert {re.search(r"seq_position=(\d)", r).group(1) for r in snare} == {"1", "2", "3"}  # type: ignore[union-attr]
    assert all("seq_length=3" in r for r in snare)
    hat = [r for r in regions if "key=37 " in r]
    assert "lorand=0.0000 hirand=0.5000" in hat[0] and "lorand=0.5000 hirand=1.0000" in hat[1]
    assert "lovel" not in hat[0] and "seq_" not in regions[-1] and "rand" not in regions[-1]
    wanted = {variant_point(cycle, layer, k) for layer in (0, 1) for k in range(3)}
    assert wanted <= set(asked)
    for r in regions:
        sample = tmp_path / "out" / r.split("sample=")[1]
        assert sample.is_file()
    name = re.search(r"sample=(\S+_l0_v2\.wav)", snare[2] if "_l0_v2" in snare[2] else " ".join(snare))
    assert name is not None
    audio, _ = sf.read(tmp_path / "out" / name.group(1))
    x, y = variant_point(cycle, 0, 2)
    assert audio[0] == pytest.approx(0.1 + 0.4 * x + 0.2 * y, abs=1e-5)  # the region plays its own point's sound
