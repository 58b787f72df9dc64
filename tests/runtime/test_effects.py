"""The effects chain with real parts: pedalboard built-ins and the zam-plugins VST3 bundles."""

import math
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from gesam_engine.errors import ConfigError
from gesam_engine.runtime.effects import EffectsChain, EffectSpec, from_toml, load_effect_specs

SR = 48000
ZAM_X2 = Path("/usr/lib/vst3/ZamCompX2.vst3")
ZAM_MONO = Path("/usr/lib/vst3/ZamComp.vst3")
needs_zam = pytest.mark.skipif(not ZAM_X2.exists(), reason=f"{ZAM_X2} missing: apt-get install zam-plugins")


def _drum(seconds: float = 0.5, level: float = 0.8, seed: int = 0) -> np.ndarray:
    """A stereo hit, float32 [frames, 2]: a decaying noise burst plus a decaying 60 Hz sine."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    hit = rng.standard_normal(t.size) * np.exp(-t * 40) + np.sin(2 * np.pi * 60 * t) * np.exp(-t * 6)
    hit = level * hit / np.abs(hit).max()
    right = 0.7 * hit + 0.1 * level * rng.standard_normal(t.size) * np.exp(-t * 40)
    return np.stack([hit, right], axis=1).astype(np.float32)  # (N, 2)


def _chunked(chain: EffectsChain, x: np.ndarray, block: int) -> np.ndarray:
    return np.concatenate([chain.process(x[i:i + block]).copy() for i in range(0, len(x), block)])  # process reuses its buffer


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


COMP_VERB = (
    EffectSpec("comp", "Compressor", params={"threshold_db": -30.0, "ratio": 8.0, "attack_ms": 1.0}),
    EffectSpec("verb", "Reverb", params={"room_size": 0.8, "wet_level": 0.5}),
)


def test_compressor_reverb_changes_the_sound():
    x = _drum()
    y = EffectsChain(COMP_VERB, SR).process(x)
    assert y.shape == x.shape and y.dtype == np.float32 and y.flags.c_contiguous
    assert np.abs(y - x).max() > 0.1
    tail = slice(int(0.3 * SR), None)  # the dry hit has died away; the reverb has not
    assert _rms(y[tail]) > 1.5 * _rms(x[tail])


@pytest.mark.parametrize("block", [2, 64, 512])
def test_chunked_processing_equals_one_shot(block: int):
    x = _drum(0.25)
    one_shot = EffectsChain(COMP_VERB, SR).process(x)
    chunked = _chunked(EffectsChain(COMP_VERB, SR), x, block)  # the last chunk is partial
    assert chunked.shape == x.shape
    np.testing.assert_allclose(chunked, one_shot, rtol=0, atol=1e-6)


def test_bad_blocks_are_refused():
    chain = EffectsChain(COMP_VERB, SR)
    with pytest.raises(ValueError, match="float32"):
        chain.process(np.zeros((64, 2)))  # float64
    with pytest.raises(ValueError, match=r"\[frames, 2\]"):
        chain.process(np.zeros((2, 64), np.float32))  # channels first: not our layout
    with pytest.raises(ValueError, match="at least 2 frames"):
        chain.process(np.zeros((1, 2), np.float32))


def test_empty_chain_is_identity():
    x = _drum(0.05)
    assert EffectsChain((), SR).process(x) is x
    assert load_effect_specs(None) == () and load_effect_specs([]) == ()


def test_disabled_effects_are_skipped():
    x = _drum(0.05)
    specs = (EffectSpec("half", "Gain", params={"gain_db": -6.0}),
             EffectSpec("mute", "Gain", params={"gain_db": -60.0}, enabled=False))
    y = EffectsChain(specs, SR).process(x)
    np.testing.assert_allclose(y, x * 10 ** (-6 / 20), atol=1e-6)
    assert EffectsChain(specs[1:], SR).process(x) is x


@needs_zam
def test_zamcompx2_loads_and_compresses():
    import pedalboard

    names = sorted(pedalboard.load_plugin(str(ZAM_X2)).parameters)
    print("ZamCompX2 parameters:", ", ".join(names))
    params = {"threshold_db": -40.0, "ratio": 20.0, "attack_ms": 0.1, "release_ms": 50.0, "makeup_db": 0.0}
    chain = EffectsChain((EffectSpec("zc", "vst3", path=str(ZAM_X2), params=params),), SR)
    assert sorted(chain.describe()["zc"]) == names  # validated against plugin.parameters
    assert chain.describe()["zc"]["threshold_db"] == pytest.approx(-40.0, abs=0.1)
    x = _drum(level=0.9)
    y = chain.process(x)
    assert 20 * math.log10(_rms(y) / _rms(x)) < -6.0
    body = slice(int(0.05 * SR), None)  # after the attack has had time to act
    assert np.abs(y[body]).max() < 0.5 * np.abs(x[body]).max()


@needs_zam
def test_mono_only_vst3_in_stereo_chain_is_a_config_error():
    spec = EffectSpec("mono", "vst3", path=str(ZAM_MONO))
    with pytest.raises(ConfigError, match="does not accept 2 channel"):
        EffectsChain((spec,), SR, channels=2)
    y = EffectsChain((spec,), SR, channels=1).process(np.zeros((64, 1), np.float32))  # fine in mono
    assert y.shape == (64, 1)


def test_misspelt_builtin_param_lists_valid_names():
    valid = "valid: attack_ms, ratio, release_ms, threshold_db"
    with pytest.raises(ConfigError, match=f"effect 'comp' \\(Compressor\\) has no parameter 'treshold_db'; {valid}"):
        EffectsChain((EffectSpec("comp", "Compressor", params={"treshold_db": -20.0}),), SR)
    chain = EffectsChain(COMP_VERB, SR)
    with pytest.raises(ConfigError, match=valid):
        chain.set_param("comp", "treshold_db", -20.0)


@needs_zam
def test_misspelt_vst3_param_lists_valid_names():
    with pytest.raises(ConfigError, match=r"has no parameter 'threshold'; valid: .*ratio.*threshold_db"):
        EffectsChain((EffectSpec("zc", "vst3", path=str(ZAM_X2), params={"threshold": -20.0}),), SR)
    chain = EffectsChain((EffectSpec("zc", "vst3", path=str(ZAM_X2)),), SR)
    with pytest.raises(ConfigError, match=r"has no parameter 'knee'; valid: .*knee_db"):
        chain.set_param("zc", "knee", 1.0)
    with pytest.raises(ConfigError, match=r"threshold_db' must be in -80.0..0.0, got 10.0"):
        chain.set_param("zc", "threshold_db", 10.0)
    with pytest.raises(ConfigError, match=r"'ratio' must be in 1.0..20.0, got 100.0"):  # the plug-in's range
        EffectsChain((EffectSpec("zc", "vst3", path=str(ZAM_X2), params={"ratio": 100.0}),), SR)


def test_value_out_of_range_is_a_config_error_naming_the_range():
    with pytest.raises(ConfigError, match=r"'ratio' must be in 1\.\.100, got 0\.5"):
        EffectsChain((EffectSpec("comp", "Compressor", params={"ratio": 0.5}),), SR)
    chain = EffectsChain(COMP_VERB, SR)
    with pytest.raises(ConfigError, match=r"'room_size' must be in 0\.\.1, got 2"):
        chain.set_param("verb", "room_size", 2.0)
    with pytest.raises(ConfigError, match="must be a float, got 'loud'"):
        chain.set_param("comp", "ratio", "loud")
    assert chain.describe()["verb"]["room_size"] == pytest.approx(0.8)


HOSTILE = [  # (type, param, value, the range the error names)
    ("Gain", "gain_db", 1e9, r"-100\.\.24 dB"),
    ("Gain", "gain_db", -1e9, r"-100\.\.24 dB"),
    ("Delay", "feedback", 1.0, r"0\.\.1 \(1 excluded\)"),
    ("Delay", "feedback", 1.5, r"0\.\.1 \(1 excluded\)"),
    ("Delay", "delay_seconds", 1e6, r"0\.\.30 s"),
    ("Chorus", "feedback", -1.0, r"-1\.\.1 \(-1 and 1 excluded\)"),
    ("Phaser", "rate_hz", 100.0, r"0\.\.100 Hz \(100 excluded\)"),
    ("LadderFilter", "cutoff_hz", 30000.0, r"1\.\.24000 Hz"),  # above Nyquist at 48 kHz
    ("LadderFilter", "drive", 1e9, r"1\.\.100"),
    ("LadderFilter", "resonance", 2.0, r"0\.\.1"),
    ("LowpassFilter", "cutoff_frequency_hz", 0.0, r"1\.\.24000 Hz"),
    ("PeakFilter", "q", 0.0, r"0\.01\.\.100"),
    ("PeakFilter", "gain_db", 1e9, r"-48\.\.48 dB"),
    ("Reverb", "wet_level", 1e9, r"0\.\.1"),
    ("Distortion", "drive_db", 1e9, r"-60\.\.60 dB"),
    ("Compressor", "attack_ms", -1.0, r"0\.\.1000 ms"),
    ("Bitcrush", "bit_depth", 64.0, r"0\.\.32 bits"),
]


@pytest.mark.reliability
@pytest.mark.parametrize(("kind", "param", "value", "allowed"), HOSTILE)
def test_hostile_values_are_refused_in_config_and_at_run_time(kind, param, value, allowed):
    with pytest.raises(ConfigError, match=f"'{param}' must be in {allowed}, got"):
        EffectsChain((EffectSpec("fx", kind, params={param: value}),), SR)
    chain = EffectsChain((EffectSpec("fx", kind),), SR)
    before = chain.describe()["fx"][param]
    with pytest.raises(ConfigError, match=f"'{param}' must be in {allowed}, got"):
        chain.set_param("fx", param, value)
    chain.process(np.zeros((64, 2), np.float32))
    assert chain.describe()["fx"][param] == before  # nothing was queued


def test_every_numeric_builtin_parameter_has_a_range():
    import pedalboard

    from gesam_engine.runtime.effect_ranges import RANGES
    from gesam_engine.runtime.effects import BUILTIN_TYPES, _writable_properties

    assert set(RANGES) == set(BUILTIN_TYPES)
    for kind in BUILTIN_TYPES:
        plugin = getattr(pedalboard, kind)()
        numeric = {p for p in _writable_properties(type(plugin)) if isinstance(getattr(plugin, p), float)}
        assert numeric == set(RANGES[kind]), kind
        for param, allowed in RANGES[kind].items():  # pedalboard's defaults are inside the ranges
            assert allowed.contains(getattr(plugin, param), SR), (kind, param)


@pytest.mark.reliability
def test_reset_silences_tails_and_clears_nan_held_in_a_filter():
    x = _drum(0.1)
    chain = EffectsChain((EffectSpec("echo", "Delay", params={"delay_seconds": 0.05, "feedback": 0.99}),), SR)
    chain.process(x)
    tail = chain.process(np.zeros((SR // 2, 2), np.float32))
    assert np.abs(tail[-SR // 10:]).max() > 0.05  # at feedback 0.99 it rings on
    chain.reset()
    assert np.all(chain.process(np.zeros((SR // 2, 2), np.float32)) == 0)
    assert chain.describe()["echo"]["feedback"] == pytest.approx(0.99)  # settings stay

    ladder = EffectsChain((EffectSpec("lad", "LadderFilter", params={"cutoff_hz": 1000.0}),), SR)
    ladder.process(np.full((64, 2), np.nan, np.float32))
    assert np.isnan(ladder.process(x[:256])).all()  # a filter that saw NaN holds it for good...
    ladder.reset()
    y = ladder.process(x[:2048])
    assert np.all(np.isfinite(y)) and np.abs(y).max() > 0.01  # ...until it is reset


def test_enum_params_by_name_or_number():
    chain = EffectsChain((EffectSpec("lad", "LadderFilter", params={"mode": "HPF24"}),), SR)
    assert chain.describe()["lad"]["mode"] == "HPF24"
    chain.set_param("lad", "mode", 2.0)
    chain.process(np.zeros((64, 2), np.float32))
    assert chain.describe()["lad"]["mode"] == "BPF12"
    with pytest.raises(ConfigError, match="must be one of LPF12, HPF12"):
        chain.set_param("lad", "mode", "notch")


def test_unknown_type_lists_valid_types():
    with pytest.raises(ConfigError, match=r"unknown type 'Compresor'; valid types are .*Compressor.*Reverb.*vst3"):
        load_effect_specs([{"type": "Compresor"}])


def test_nan_and_inf_are_refused():
    with pytest.raises(ConfigError, match="finite"):
        load_effect_specs([{"type": "Gain", "params": {"gain_db": math.nan}}])
    chain = EffectsChain(COMP_VERB, SR)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ConfigError, match="finite"):
            chain.set_param("comp", "threshold_db", bad)
    with pytest.raises(ConfigError, match="no effect named 'nope'; effects: comp, verb"):
        chain.set_param("nope", "gain_db", 0.0)
    chain.process(np.zeros((64, 2), np.float32))
    assert chain.describe()["comp"]["threshold_db"] == -30.0


def test_set_param_from_another_thread_applies_on_the_next_block():
    x = _drum(0.01)
    chain = EffectsChain((EffectSpec("gain", "Gain", params={"gain_db": 0.0}),), SR)
    np.testing.assert_array_equal(chain.process(x), x)
    errors: list[Exception] = []

    def control() -> None:
        chain.set_param("gain", "gain_db", -6.0)
        try:
            chain.set_param("gain", "gain_dB", -60.0)  # refused in this thread, never queued
        except ConfigError as exc:
            errors.append(exc)

    thread = threading.Thread(target=control)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "valid: gain_db" in str(errors[0])
    assert chain.describe()["gain"]["gain_db"] == 0.0  # queued, not applied yet
    np.testing.assert_allclose(chain.process(x), x * 10 ** (-6 / 20), atol=1e-6)
    assert chain.describe()["gain"]["gain_db"] == -6.0
    chain.set_param("gain", "gain_db", -12.0)
    chain.set_param("gain", "gain_db", -20.0)  # the last change wins
    np.testing.assert_allclose(chain.process(x), x * 0.1, atol=1e-6)


def test_missing_or_broken_vst3_is_a_config_error(tmp_path: Path):
    missing = tmp_path / "Nope.vst3"
    with pytest.raises(ConfigError, match=f"{re.escape(str(missing))} does not exist"):
        EffectsChain((EffectSpec("fx", "vst3", path=str(missing)),), SR)
    broken = tmp_path / "Broken.vst3"
    broken.mkdir()
    with pytest.raises(ConfigError, match=f"could not load VST3 plug-in {re.escape(str(broken))}: (?s:.*)Unable to scan"):
        EffectsChain((EffectSpec("fx", "vst3", path=str(broken)),), SR)


def test_specs_from_toml(tmp_path: Path):
    toml = tmp_path / "fx.toml"
    toml.write_text(
        '[[effects]]\ntype = "Compressor"\nparams = { threshold_db = -20, ratio = 4 }\n'
        '[[effects]]\nname = "lad"\ntype = "LadderFilter"\nenabled = false\n'
        'params = { mode = "LPF24", cutoff_hz = 800.0 }\n'
        '[[effects]]\nname = "plug"\ntype = "vst3"\npath = "plugins/X.vst3"\n'
    )
    comp, lad, plug = from_toml(toml)
    assert comp == EffectSpec("compressor_0", "Compressor", params={"threshold_db": -20.0, "ratio": 4.0})
    assert lad.params == {"mode": "LPF24", "cutoff_hz": 800.0} and not lad.enabled
    assert plug.path == str(tmp_path / "plugins" / "X.vst3")
    chain = EffectsChain((comp, lad), SR)
    assert chain.names == ("compressor_0", "lad")


def test_bad_effect_tables_are_refused():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['mix'\]"):
        load_effect_specs([{"type": "Gain", "mix": 0.5}])
    with pytest.raises(ConfigError, match="duplicate effect name 'a'"):
        load_effect_specs([{"name": "a", "type": "Gain"}, {"name": "a", "type": "Reverb"}])
    with pytest.raises(ConfigError, match=r"only \[a-z0-9_\]"):
        load_effect_specs([{"name": "My Comp", "type": "Compressor"}])
    with pytest.raises(ConfigError, match="needs path"):
        load_effect_specs([{"type": "vst3"}])
    with pytest.raises(ConfigError, match="path is only for type 'vst3'"):
        load_effect_specs([{"type": "Gain", "path": "/x.vst3"}])
    with pytest.raises(ConfigError, match="needs type"):
        load_effect_specs([{"name": "x"}])
