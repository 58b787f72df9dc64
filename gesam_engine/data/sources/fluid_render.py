"""Playing SoundFont notes through the fluidsynth command line, one note at a time, into one-shots.

One fluidsynth run per preset: a MIDI file (written with mido) selects the preset and plays each
requested (note, velocity) in its own slot: note on, held for ``hold_s``, then note off and
"all sound off" (CC 120), then ``gap_s`` of nothing. Reverb and chorus are off. The rendered
file is cut at the slot starts, so every slice holds exactly one hit, as a player of the font
would hear it (envelopes, filters and tuning applied).

Drum presets (bank 128) play on MIDI channel 10 (index 9), where fluidsynth looks in the drum
bank; any other bank plays on channel 1 with a bank select (CC 0).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import mido
import numpy as np
import soundfile as sf

from gesam_engine.data.sources.gm_drums import DRUM_BANK
from gesam_engine.errors import AudioFileError, ConfigError

TICKS_PER_SECOND = 1000  # ticks_per_beat 1000 at 60 bpm: one tick per millisecond
_TEMPO = 1_000_000  # microseconds per beat (60 bpm)


@dataclasses.dataclass(frozen=True)
class Hit:
    """One note to render: MIDI key 0-127 and velocity 1-127."""

    key: int
    velocity: int

    def __post_init__(self) -> None:
        if not 0 <= self.key <= 127:
            raise ConfigError(f"MIDI key must be in 0..127, got {self.key}")
        if not 1 <= self.velocity <= 127:
            raise ConfigError(f"MIDI velocity must be in 1..127, got {self.velocity}")


def fluidsynth_binary() -> str:
    """Path of the fluidsynth program; ConfigError telling how to install it when absent."""
    found = shutil.which("fluidsynth")
    if found is None:
        raise ConfigError(
            "the fluidsynth program is not installed; it renders the SoundFont sources: "
            "install it (apt-get install fluidsynth)"
        )
    return found


def slot_seconds(hold_s: float, gap_s: float) -> float:
    """Length of one note's slot in the rendered file."""
    return hold_s + gap_s


def build_midi(bank: int, program: int, hits: Sequence[Hit], hold_s: float, gap_s: float) -> mido.MidiFile:
    """A type-0 MIDI file that selects (bank, program) and plays ``hits`` one per slot.

    Slot ``i`` starts at ``i * (hold_s + gap_s)`` seconds; the note is released and all sound
    stopped at ``hold_s`` into the slot. Raises ConfigError for bad times or bank/program.
    """
    if not 0 <= program <= 127:
        raise ConfigError(f"program must be in 0..127, got {program}")
    if not 0 <= bank <= DRUM_BANK:
        raise ConfigError(f"bank must be in 0..128, got {bank}")
    if hold_s <= 0 or gap_s <= 0:
        raise ConfigError(f"hold_s and gap_s must be positive, got {hold_s} and {gap_s}")
    hold, gap = round(hold_s * TICKS_PER_SECOND), round(gap_s * TICKS_PER_SECOND)
    channel = 9 if bank == DRUM_BANK else 0
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=_TEMPO, time=0))
    if bank != DRUM_BANK:
        track.append(mido.Message("control_change", channel=channel, control=0, value=bank, time=0))
        track.append(mido.Message("control_change", channel=channel, control=32, value=0, time=0))
    track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    wait = 0
    for hit in hits:
        track.append(mido.Message("note_on", channel=channel, note=hit.key, velocity=hit.velocity, time=wait))
        track.append(mido.Message("note_off", channel=channel, note=hit.key, velocity=0, time=hold))
        track.append(mido.Message("control_change", channel=channel, control=120, value=0, time=0))
        wait = gap
    track.append(mido.MetaMessage("end_of_track", time=wait))
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_SECOND)
    midi.tracks.append(track)
    return midi


def slice_slots(audio: np.ndarray, rate: int, n: int, hold_s: float, gap_s: float) -> list[np.ndarray]:
    """Cut a rendering (L,) or (L, C) into ``n`` mono slices [hold_s * rate] float32 (channels averaged).

    A slice past the end of ``audio`` is zero-padded (fluidsynth may stop at the last event).
    """
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio  # (L,)
    mono = np.asarray(mono, dtype=np.float32)
    slot = round(slot_seconds(hold_s, gap_s) * rate)
    length = round(hold_s * rate)
    out = []
    for i in range(n):
        piece = mono[i * slot: i * slot + length]
        if piece.size < length:
            piece = np.concatenate([piece, np.zeros(length - piece.size, dtype=np.float32)])
        out.append(piece.copy())
    return out


def render_hits(
    font: Path,
    bank: int,
    program: int,
    hits: Sequence[Hit],
    sample_rate: int = 44100,
    hold_s: float = 2.0,
    gap_s: float = 0.1,
    timeout_s: float = 600.0,
) -> list[np.ndarray]:
    """Render ``hits`` of one preset with fluidsynth: one mono float32 wave [hold_s * rate] per hit.

    Raises ConfigError when fluidsynth is missing and AudioFileError when it fails.
    """
    if not hits:
        return []
    binary = fluidsynth_binary()
    with tempfile.TemporaryDirectory(prefix="gesam-fluid-") as tmp:
        midi_path, wav_path = Path(tmp) / "hits.mid", Path(tmp) / "hits.wav"
        build_midi(bank, program, hits, hold_s, gap_s).save(str(midi_path))
        command = [
            binary, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(sample_rate),
            "-T", "wav", "-O", "float", "-o", "synth.dynamic-sample-loading=1",
            "-F", str(wav_path), str(font), str(midi_path),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AudioFileError(f"fluidsynth took over {timeout_s:g} s rendering {font} bank {bank} program {program}") from None
        if done.returncode != 0 or not wav_path.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise AudioFileError(
                f"fluidsynth failed on {font} bank {bank} program {program} (exit {done.returncode}): {' | '.join(tail)}"
            )
        audio, rate = sf.read(str(wav_path), dtype="float32", always_2d=True)  # (L, C)
    if rate != sample_rate:
        raise AudioFileError(f"fluidsynth wrote {rate} Hz, asked for {sample_rate} Hz")
    return slice_slots(audio, rate, len(hits), hold_s, gap_s)
