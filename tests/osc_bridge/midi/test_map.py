"""The MIDI mapping and mapper: pure, real mido messages in, typed commands out."""

from __future__ import annotations

import dataclasses

import mido
import pytest

from gesam_engine.errors import ConfigError
from osc_bridge.commands import KitRandomize, KitUndo, Move, Note, PadShape, PadVariation, PitchBend, ProgramChange
from osc_bridge.midi.map import MidiMapper, MidiMapping


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def note_on(note: int, velocity: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def test_defaults_follow_the_design() -> None:
    m = MidiMapping()
    assert (m.channel, m.x_cc, m.y_cc, m.x_cc_lsb, m.y_cc_lsb) == (0, 16, 17, 48, 49)
    assert (m.first_pad_note, m.pads, m.bend_range, m.program_change_kits) == (36, 16, 2.0, True)


def test_seven_bit_cc_moves_and_keeps_the_other_axis() -> None:
    mapper = MidiMapper()
    assert mapper.map(cc(16, 127)) == [Move(1.0, 0.5)]  # y starts at the centre
    assert mapper.map(cc(17, 0)) == [Move(1.0, 0.0)]
    assert mapper.map(cc(16, 0)) == [Move(0.0, 0.0)]
    [move] = mapper.map(cc(17, 64))
    assert move == Move(0.0, 64 / 127)
    assert mapper.cursor == (0.0, 64 / 127)


def test_fourteen_bit_pairs_combine_msb_and_lsb() -> None:
    mapper = MidiMapper()
    assert mapper.map(cc(48, 5)) == []  # an LSB before any MSB says nothing
    assert mapper.map(cc(16, 64)) == [Move(64 / 127, 0.5)]  # the MSB alone moves at 7 bits
    assert mapper.map(cc(48, 1)) == [Move((64 << 7 | 1) / 16383, 0.5)]
    assert mapper.map(cc(48, 127)) == [Move((64 << 7 | 127) / 16383, 0.5)]  # LSB alone refines
    assert mapper.map(cc(17, 127)) == [Move((64 << 7 | 127) / 16383, 1.0)]
    assert mapper.map(cc(49, 127)) == [Move((64 << 7 | 127) / 16383, 1.0)]  # 16383 / 16383
    assert mapper.map(cc(17, 0)) == [Move((64 << 7 | 127) / 16383, 0.0)]
    assert mapper.map(cc(49, 0)) == [Move((64 << 7 | 127) / 16383, 0.0)]


def test_other_controllers_and_messages_are_ignored() -> None:
    mapper = MidiMapper()
    for msg in (cc(1, 100), cc(7, 3), mido.Message("clock"), mido.Message("aftertouch", value=3),
                mido.Message("sysex", data=[1, 2, 3]), mido.Message("note_off", note=36)):
        assert mapper.map(msg) == []
    assert mapper.cursor == (0.5, 0.5)


def test_notes_velocity_zero_and_fixed_velocity() -> None:
    mapper = MidiMapper()
    assert mapper.map(note_on(36, 100)) == [Note(36, 100)]  # pads and pitched alike: the engine decides
    assert mapper.map(note_on(60, 1)) == [Note(60, 1)]
    assert mapper.map(note_on(36, 0)) == []  # note-off in disguise
    assert mapper.pad_of(36) == 0 and mapper.pad_of(51) == 15 and mapper.pad_of(52) is None
    fixed = MidiMapper(MidiMapping(velocity="fixed", fixed_velocity=90))
    assert fixed.map(note_on(40, 5)) == [Note(40, 90)]
    assert fixed.map(note_on(40, 0)) == []


def test_pitch_bend_scales_to_semitones() -> None:
    mapper = MidiMapper(MidiMapping(bend_range=12.0))
    assert mapper.map(mido.Message("pitchwheel", pitch=0)) == [PitchBend(0.0)]
    assert mapper.map(mido.Message("pitchwheel", pitch=-8192)) == [PitchBend(-12.0)]
    assert mapper.map(mido.Message("pitchwheel", pitch=4096)) == [PitchBend(6.0)]
    [top] = MidiMapper().map(mido.Message("pitchwheel", pitch=8191))
    assert top.semitones == pytest.approx(2.0, abs=1e-3)


def test_program_change_loads_kits_unless_disabled() -> None:
    assert MidiMapper().map(mido.Message("program_change", program=5)) == [ProgramChange(5)]
    off = MidiMapper(MidiMapping(program_change_kits=False))
    assert off.map(mido.Message("program_change", program=5)) == []


def test_channel_filter() -> None:
    omni = MidiMapper()
    assert omni.map(note_on(36, 100, channel=9)) == [Note(36, 100)]
    ten = MidiMapper(MidiMapping(channel=10))  # channel 10 is mido channel 9
    assert ten.map(note_on(36, 100, channel=9)) == [Note(36, 100)]
    assert ten.map(note_on(36, 100, channel=0)) == []
    assert ten.map(cc(16, 127, channel=0)) == []
    assert ten.map(cc(16, 127, channel=9)) == [Move(1.0, 0.5)]
    assert ten.map(mido.Message("pitchwheel", pitch=100, channel=3)) == []
    assert ten.map(mido.Message("clock")) == []


def test_learn_reassigns_x_and_its_lsb() -> None:
    mapper = MidiMapper()
    mapper.learn("x")
    assert mapper.learning == "x"
    assert mapper.map(note_on(36, 10)) == [Note(36, 10)]  # notes do not end learn
    assert mapper.map(cc(1, 127)) == [Move(1.0, 0.5)]  # the learned controller moves at once
    assert mapper.learning is None
    assert (mapper.mapping.x_cc, mapper.mapping.x_cc_lsb) == (1, 33)
    assert (mapper.mapping.y_cc, mapper.mapping.y_cc_lsb) == (17, 49)
    assert mapper.map(cc(16, 0)) == []  # the old controller no longer moves x
    assert mapper.map(cc(1, 0)) == [Move(0.0, 0.5)]
    assert mapper.map(cc(33, 127)) == [Move(127 / 16383, 0.5)]


def test_learn_high_controller_has_no_lsb_and_swaps_on_conflict() -> None:
    mapper = MidiMapper()
    mapper.learn("y")
    mapper.map(cc(74, 10))
    assert (mapper.mapping.y_cc, mapper.mapping.y_cc_lsb) == (74, -1)
    mapper.learn("x")
    mapper.map(cc(74, 10))  # y's controller: the axes swap
    assert (mapper.mapping.x_cc, mapper.mapping.x_cc_lsb, mapper.mapping.y_cc, mapper.mapping.y_cc_lsb) == (74, -1, 16, 48)


def test_learn_only_on_the_mapped_channel_and_refuses_mode_messages() -> None:
    mapper = MidiMapper(MidiMapping(channel=2))
    mapper.learn("x")
    mapper.map(cc(5, 1, channel=0))
    assert mapper.learning == "x" and mapper.mapping.x_cc == 16
    mapper.map(cc(123, 0, channel=1))  # all-notes-off is a channel mode message, not a control
    assert mapper.learning == "x" and mapper.mapping.x_cc == 16
    mapper.map(cc(5, 1, channel=1))
    assert mapper.learning is None and mapper.mapping.x_cc == 5


def test_learn_target_checked_and_disarm() -> None:
    mapper = MidiMapper()
    with pytest.raises(ConfigError, match="target must be x, y or a control target: not a MIDI control target: 'z'"):
        mapper.learn("z")
    with pytest.raises(ConfigError, match="N in 0..15"):
        mapper.learn("pad/16/shape/decay")
    mapper.learn("x")
    mapper.learn(None)
    mapper.map(cc(1, 3))
    assert mapper.mapping == MidiMapping()


def test_toml_round_trip(tmp_path) -> None:
    mapping = MidiMapping(channel=10, x_cc=1, x_cc_lsb=33, y_cc=74, y_cc_lsb=-1, first_pad_note=60, pads=8,
                          bend_range=12.0, velocity="fixed", fixed_velocity=64, program_change_kits=False)
    path = mapping.save(tmp_path / "sub" / "midi.toml")
    assert MidiMapping.load(path) == mapping
    assert MidiMapping.load(MidiMapping().save(tmp_path / "d.toml")) == MidiMapping()
    # after learn, the learned mapping saves and loads back
    mapper = MidiMapper()
    mapper.learn("x")
    mapper.map(cc(2, 0))
    assert MidiMapping.load(mapper.mapping.save(tmp_path / "learned.toml")) == mapper.mapping


def test_toml_with_other_tables_and_partial_keys(tmp_path) -> None:
    path = tmp_path / "serve.toml"
    path.write_text('[engine]\ngain = 1.0\n\n[midi]\nchannel = 3\nbend_range = 7\n')
    assert MidiMapping.load(path) == MidiMapping(channel=3, bend_range=7.0)


@pytest.mark.parametrize("text, match", [
    ("[midi]\nchanel = 1\n", r"unknown key\(s\) \['chanel'\] in \[midi\]"),
    ("[midi]\nchannel = 17\n", "midi.channel must be 0 .omni. or 1..16, got 17"),
    ("[midi]\nx_cc = 128\n", "midi.x_cc must be a controller number in 0..119, got 128"),
    ("[midi]\ny_cc_lsb = -2\n", "midi.y_cc_lsb must be .* or -1 for none, got -2"),
    ("[midi]\ny_cc = 16\n", "midi.y_cc and midi.x_cc are both controller 16"),
    ("[midi]\nx_cc_lsb = 17\n", "both controller 17"),
    ("[midi]\nbend_range = 49\n", "midi.bend_range must be in 0..48"),
    ("[midi]\nbend_range = nan\n", "midi.bend_range must be a finite number"),
    ("[midi]\nfirst_pad_note = 120\n", "first_pad_note \\+ pads must stay within notes 0..127"),
    ("[midi]\npads = 65\n", "midi.pads must be in 0..64"),
    ("[midi]\nvelocity = \"soft\"\n", "midi.velocity must be one of \\['played', 'fixed'\\]"),
    ("[midi]\nfixed_velocity = 0\n", "midi.fixed_velocity must be in 1..127"),
    ("[midi]\nchannel = \"1\"\n", "midi.channel must be an integer"),
    ("[midi]\nprogram_change_kits = 1\n", "must be true or false"),
    ("[engine]\ngain = 1.0\n", "has no \\[midi\\] table"),
    ("[midi\n", "not valid TOML"),
    ("[midi.controls]\n20 = \"pad/3/shape/sustain\"\n", "midi.controls.20: not a MIDI control target"),
    ("[midi.controls]\n16 = \"kit/undo\"\n", "midi.controls: controller 16 already moves the cursor .midi.x_cc."),
    ("[midi.controls]\n120 = \"kit/undo\"\n", "midi.controls keys must be controller numbers 0..119, got '120'"),
])
def test_bad_toml_refused(tmp_path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        MidiMapping.load(path)


def test_missing_file_and_frozen(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        MidiMapping.load(tmp_path / "nope.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        MidiMapping().channel = 2  # type: ignore[misc]


def test_learned_controls_drive_pad_shapes_variation_and_kit_buttons(tmp_path) -> None:
    mapper = MidiMapper()
    mapper.learn("pad/3/shape/decay")
    assert mapper.map(cc(20, 127)) == [PadShape(3, "decay", 2000.0)]  # learned and applied at once
    assert mapper.learning is None and mapper.mapping.controls == {"20": "pad/3/shape/decay"}
    assert mapper.map(cc(20, 0)) == [PadShape(3, "decay", 0.0)]
    assert mapper.map(cc(20, 64)) == [PadShape(3, "decay", round((64 / 127) ** 2 * 2000.0, 2))]  # fine at short times
    mapper.learn("pad/3/shape/decay")
    mapper.map(cc(21, 0))  # a new controller takes the target over
    assert mapper.mapping.controls == {"21": "pad/3/shape/decay"}
    mapper.learn("pad/0/shape/tilt")
    assert mapper.map(cc(22, 0)) == [PadShape(0, "tilt", -1.0)]
    mapper.learn("pad/5/variation")
    assert mapper.map(cc(23, 127)) == [PadVariation(5, 0.25)]
    mapper.learn("kit/randomize")
    assert mapper.map(cc(24, 127)) == [KitRandomize()]  # a press fires once
    assert mapper.map(cc(24, 127)) == [] and mapper.map(cc(24, 0)) == []
    assert mapper.map(cc(24, 100)) == [KitRandomize()]
    mapper.learn("kit/undo")
    mapper.map(cc(16, 127))  # the cursor's controller stays the cursor's: learn stays armed
    assert mapper.map(cc(123, 0)) == []  # a DAW's all-notes-off on stop is not learned and raises nothing
    assert mapper.learning == "kit/undo"
    assert mapper.map(cc(25, 127)) == [KitUndo()]
    assert MidiMapping.load(mapper.mapping.save(tmp_path / "learned.toml")) == mapper.mapping
    mapper.learn("x")
    mapper.map(cc(21, 5))  # x takes a control's controller: the control goes
    assert mapper.mapping.x_cc == 21 and "21" not in mapper.mapping.controls
