"""ServeConfig from TOML: defaults, unknown names refused with the valid ones, ranges, effects."""

from pathlib import Path

import pytest

from gesam_engine.errors import ConfigError
from gesam_engine.runtime.effects import EffectSpec
from gesam_engine.runtime.engine_config import (
    SECTIONS, CacheConfig, EngineSettings, OutputConfig, ServeConfig, load_serve_config, serve_config_from_dict,
)
from gesam_engine.runtime.generator import GeneratorConfig
from gesam_engine.runtime.voices import VoiceConfig


def test_defaults_are_valid() -> None:
    for data in (None, {}):
        cfg = serve_config_from_dict(data)
        assert cfg == ServeConfig()
    cfg = ServeConfig()
    assert cfg.output == OutputConfig() and cfg.output.sample_rate == 48000 and cfg.output.channels == 2
    assert cfg.voices == VoiceConfig() and cfg.generator == GeneratorConfig()
    assert cfg.cache == CacheConfig() and cfg.engine == EngineSettings() and cfg.effects == ()
    assert cfg.engine.first_pad_note == 36 and cfg.engine.pads == 16 and cfg.engine.root_note == 60
    # every section can be given empty
    assert serve_config_from_dict({s: ([] if s == "effects" else {}) for s in SECTIONS}) == ServeConfig()


def test_values_are_taken_per_section() -> None:
    cfg = serve_config_from_dict({
        "output": {"blocksize": 64, "channels": 1, "device": "hw:1"},
        "voices": {"voices": 8},
        "generator": {"griffin_lim_iters": 4, "prefetch": False},
        "cache": {"bake_grid": 3, "max_mb": 16},
        "engine": {"gain": 0.5, "pads": 8},
    })
    assert (cfg.output.blocksize, cfg.output.channels, cfg.output.device) == (64, 1, "hw:1")
    assert cfg.voices.voices == 8 and cfg.generator.griffin_lim_iters == 4 and cfg.generator.prefetch is False
    assert cfg.cache.bake_grid == 3 and cfg.cache.max_mb == 16.0 and isinstance(cfg.cache.max_mb, float)
    assert cfg.engine.gain == 0.5 and cfg.engine.pads == 8


def test_unknown_section_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['outptu'\]") as info:
        serve_config_from_dict({"outptu": {"blocksize": 64}})
    for section in SECTIONS:
        assert f"'{section}'" in str(info.value)


@pytest.mark.parametrize(("section", "key"), [
    ("output", "block_size"), ("voices", "polyphony"), ("generator", "iters"), ("cache", "dir"), ("engine", "volume"),
    ("cache", "directory"),  # never read (serve --cache says where the bake goes), so no longer a key
])
def test_unknown_key_is_refused_with_the_valid_ones(section: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"unknown key\(s\) \['{key}'\] in \[{section}\]; valid keys are") as info:
        serve_config_from_dict({section: {key: 1}})
    if section == "output":
        assert "'blocksize'" in str(info.value) and "'timed_latency_ms'" in str(info.value)


@pytest.mark.parametrize(("data", "match"), [
    ({"output": {"blocksize": 3}}, r"output\.blocksize must be in 16\.\.8192, got 3"),
    ({"output": {"blocksize": 8193}}, r"output\.blocksize"),
    ({"output": {"channels": 5}}, r"output\.channels must be 1 or 2, got 5"),
    ({"output": {"timed_latency_ms": -1.0}}, r"output\.timed_latency_ms must be in 0\.\.1000 \(0 = auto\), got -1"),
    ({"output": {"sample_rate": 4000}}, r"output\.sample_rate"),
    ({"output": {"sound_slots": 8}}, r"output\.sound_slots must be in 16\.\.4096"),
    ({"output": {"reopen_interval_s": 0.0}}, r"output\.reopen_interval_s"),
    ({"cache": {"bake_grid": 1}}, r"cache\.bake_grid must be in 2\.\.64"),
    ({"cache": {"max_mb": 1}}, r"cache\.max_mb"),
    ({"engine": {"gain": 5}}, r"engine\.gain must be in 0\.\.4"),
    ({"engine": {"pads": 0}}, r"engine\.pads"),
    ({"engine": {"root_note": 128}}, r"engine\.root_note"),
    ({"engine": {"first_pad_note": 120}}, r"first_pad_note \+ pads"),
    ({"generator": {"max_batch": 0}}, r"generator\.max_batch"),
    ({"voices": {"voices": 0}}, r"voices\.voices"),
])
def test_range_errors_name_the_key_and_range(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        serve_config_from_dict(data)


def test_types_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"output\.blocksize must be an integer"):
        serve_config_from_dict({"output": {"blocksize": 256.0}})
    with pytest.raises(ConfigError, match=r"generator\.prefetch must be true or false"):
        serve_config_from_dict({"generator": {"prefetch": 1}})
    with pytest.raises(ConfigError, match="effects must be an array of tables"):
        serve_config_from_dict({"effects": {"type": "Gain"}})


def test_effects_array_is_parsed() -> None:
    cfg = serve_config_from_dict({"effects": [
        {"type": "Gain", "name": "g", "params": {"gain_db": -6}},
        {"type": "Reverb", "enabled": False},
    ]})
    assert cfg.effects == (
        EffectSpec("g", "Gain", params={"gain_db": -6.0}),
        EffectSpec("reverb_1", "Reverb", enabled=False),
    )
    with pytest.raises(ConfigError, match="unknown type 'Reverbb'"):
        serve_config_from_dict({"effects": [{"type": "Reverbb"}]})
    with pytest.raises(ConfigError, match="duplicate effect name 'g'"):
        serve_config_from_dict({"effects": [{"type": "Gain", "name": "g"}, {"type": "Reverb", "name": "g"}]})


def test_load_serve_config_reads_toml_and_applies_overrides(tmp_path: Path) -> None:
    assert load_serve_config(None) == ServeConfig()
    assert load_serve_config(None, {"output": {"blocksize": 128}}).output.blocksize == 128
    path = tmp_path / "serve.toml"
    path.write_text(
        '[output]\nblocksize = 64\nchannels = 1\n\n[cache]\nbake_grid = 4\n\n'
        '[[effects]]\ntype = "Gain"\nname = "g"\nparams = { gain_db = -3.0 }\n'
    )
    cfg = load_serve_config(path)
    assert (cfg.output.blocksize, cfg.output.channels, cfg.cache.bake_grid) == (64, 1, 4)
    assert cfg.effects[0].params == {"gain_db": -3.0}
    cfg = load_serve_config(path, {"output": {"blocksize": 512}, "engine": {"gain": 2.0}})
    assert cfg.output.blocksize == 512 and cfg.output.channels == 1  # merged, not replaced
    assert cfg.engine.gain == 2.0 and cfg.cache.bake_grid == 4
    with pytest.raises(ConfigError, match="blocksize"):
        load_serve_config(path, {"output": {"blocksize": 3}})
    with pytest.raises(ConfigError, match="unknown section"):
        load_serve_config(path, {"midi": {"port": 1}})
    with pytest.raises(ConfigError, match="does not exist"):
        load_serve_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[output\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_serve_config(tmp_path / "bad.toml")


def test_timed_latency_is_two_blocks_or_a_block_and_5_ms_unless_set() -> None:
    out = serve_config_from_dict({"output": {"blocksize": 256, "sample_rate": 48000}}).output
    assert out.timed_latency_frames() == 512
    out = serve_config_from_dict({"output": {"blocksize": 128, "sample_rate": 48000}}).output
    assert out.timed_latency_frames() == 128 + 240
    out = serve_config_from_dict({"output": {"timed_latency_ms": 20.0}}).output
    assert out.timed_latency_frames() == 960
