import shutil
from pathlib import Path

import mido
import numpy as np
import pytest

from gesam_engine.data.sources import fluid_render
from gesam_engine.data.sources.fluid_render import Hit, build_midi, render_hits, slice_slots
from gesam_engine.errors import ConfigError
from tests.data.sources.tiny_sf2 import write_tiny_sf2
from tests.part_required import missing_part


def _timeline(midi: mido.MidiFile) -> list[tuple[int, mido.Message]]:
    """(absolute tick, message) of every event."""
    now, out = 0, []
    for msg in midi.tracks[0]:
        now += msg.time
        out.append((now, msg))
    return out


def test_drum_bank_plays_on_channel_10_one_note_per_slot() -> None:
    midi = build_midi(128, 25, [Hit(36, 127), Hit(38, 64)], hold_s=2.0, gap_s=0.1)
    events = _timeline(midi)
    assert midi.ticks_per_beat == 1000 and events[0][1].tempo == 1_000_000  # one tick per millisecond
    channel_msgs = [(t, m) for t, m in events if not m.is_meta]
    assert all(m.channel == 9 for _, m in channel_msgs)
    assert not any(m.type == "control_change" and m.control == 0 for _, m in channel_msgs)
    assert [(t, m.type, getattr(m, "note", None)) for t, m in channel_msgs if m.type in ("note_on", "note_off")] == [
        (0, "note_on", 36), (2000, "note_off", 36), (2100, "note_on", 38), (4100, "note_off", 38),
    ]
    stops = [t for t, m in channel_msgs if m.type == "control_change" and m.control == 120]
    assert stops == [2000, 4100]  # all sound off at the end of every hold
    assert [m.velocity for _, m in channel_msgs if m.type == "note_on"] == [127, 64]
    assert events[-1][0] == 4200  # the file lasts to the end of the last slot


def test_other_banks_select_the_bank_on_channel_1() -> None:
    channel_msgs = [m for m in build_midi(3, 7, [Hit(60, 100)], 0.5, 0.1).tracks[0] if not m.is_meta]
    assert all(m.channel == 0 for m in channel_msgs)
    assert [(m.type, getattr(m, "control", None), getattr(m, "value", None)) for m in channel_msgs[:2]] == [
        ("control_change", 0, 3), ("control_change", 32, 0),
    ]
    assert channel_msgs[2].type == "program_change" and channel_msgs[2].program == 7


def test_midi_file_round_trips(tmp_path: Path) -> None:
    midi = build_midi(128, 0, [Hit(40, 90)], 1.0, 0.2)
    midi.save(str(tmp_path / "x.mid"))
    again = mido.MidiFile(str(tmp_path / "x.mid"))
    assert [str(m) for m in again.tracks[0]] == [str(m) for m in midi.tracks[0]]


@pytest.mark.parametrize("bad", [
    lambda: Hit(128, 100), lambda: Hit(60, 0), lambda: build_midi(129, 0, [], 1, 1),
    lambda: build_midi(0, 128, [], 1, 1), lambda: build_midi(0, 0, [], 0, 1),
])
def test_bad_values_are_refused_with_the_valid_range(bad) -> None:
    with pytest.raises(ConfigError, match=r"must be"):
        bad()


def test_slices_start_at_each_slot_and_are_mono() -> None:
    rate = 1000
    audio = np.zeros((3 * 300, 2), dtype=np.float32)  # slots of 0.3 s: hold 0.2 + gap 0.1
    for i in range(3):
        audio[i * 300, :] = i + 1
    slices = slice_slots(audio, rate, 4, hold_s=0.2, gap_s=0.1)
    assert [s.shape for s in slices] == [(200,)] * 4
    assert [float(s[0]) for s in slices] == [1.0, 2.0, 3.0, 0.0]  # the fourth is past the end: zeros


def test_missing_fluidsynth_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fluid_render.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match=r"apt-get install fluidsynth"):
        fluid_render.fluidsynth_binary()


def test_fluidsynth_renders_each_hit_of_a_tiny_font(tmp_path: Path) -> None:
    if shutil.which("fluidsynth") is None:
        missing_part("fluidsynth is not installed (apt-get install fluidsynth)")
    font = write_tiny_sf2(tmp_path / "tiny.sf2")
    hits = [Hit(36, 127), Hit(36, 40), Hit(38, 127), Hit(50, 127)]
    waves = render_hits(font, 128, 0, hits, hold_s=0.4, gap_s=0.1)
    assert [w.shape for w in waves] == [(int(0.4 * 44100),)] * 4
    peaks = [float(np.abs(w).max()) for w in waves]
    assert min(peaks[:3]) > 1e-3 and peaks[3] == 0.0  # key 50 has no zone: silence
    onsets = [int(np.argmax(np.abs(w) > 1e-4)) for w in waves[:3]]
    assert max(onsets) < 0.01 * 44100  # each hit starts its slice
    assert peaks[0] > 3 * peaks[1]  # the soft layer (and velocity) is quieter
    tone = render_hits(font, 0, 5, [Hit(60, 127)], hold_s=0.3, gap_s=0.1)
    assert float(np.abs(tone[0]).max()) > 1e-3
