"""General MIDI percussion: the name of every drum note, and which notes and kits are not drums.

GM Level 1 names notes 35-81; Roland's GS (and so FluidR3 and csound's bank) adds 27-34 and
82-87. The names are what the corpus writes into file names, so the keyword labeller
(``gesam_engine.data.labels``) reads "Acoustic Bass Drum" as a kick and "Pedal Hi-Hat" as a hat.
"""

from __future__ import annotations

GM_DRUM_NAMES: dict[int, str] = {
    27: "High Q", 28: "Slap", 29: "Scratch Push", 30: "Scratch Pull", 31: "Sticks",
    32: "Square Click", 33: "Metronome Click", 34: "Metronome Bell",
    35: "Acoustic Bass Drum", 36: "Bass Drum 1", 37: "Side Stick", 38: "Acoustic Snare",
    39: "Hand Clap", 40: "Electric Snare", 41: "Low Floor Tom", 42: "Closed Hi-Hat",
    43: "High Floor Tom", 44: "Pedal Hi-Hat", 45: "Low Tom", 46: "Open Hi-Hat",
    47: "Low-Mid Tom", 48: "Hi-Mid Tom", 49: "Crash Cymbal 1", 50: "High Tom",
    51: "Ride Cymbal 1", 52: "Chinese Cymbal", 53: "Ride Bell", 54: "Tambourine",
    55: "Splash Cymbal", 56: "Cowbell", 57: "Crash Cymbal 2", 58: "Vibraslap",
    59: "Ride Cymbal 2", 60: "Hi Bongo", 61: "Low Bongo", 62: "Mute Hi Conga",
    63: "Open Hi Conga", 64: "Low Conga", 65: "High Timbale", 66: "Low Timbale",
    67: "High Agogo", 68: "Low Agogo", 69: "Cabasa", 70: "Maracas", 71: "Short Whistle",
    72: "Long Whistle", 73: "Short Guiro", 74: "Long Guiro", 75: "Claves",
    76: "Hi Wood Block", 77: "Low Wood Block", 78: "Mute Cuica", 79: "Open Cuica",
    80: "Mute Triangle", 81: "Open Triangle", 82: "Shaker", 83: "Jingle Bell",
    84: "Belltree", 85: "Castanets", 86: "Mute Surdo", 87: "Open Surdo",
}

# Not drum one-shots: turntable scratches and the metronome.
NON_DRUM_NOTES: frozenset[int] = frozenset({29, 30, 33, 34})

# Drum-bank presets (bank 128) that are not drum kits, or whose notes do not mean the GM
# names: the SFX kit (sound effects) and the orchestra kit (timpani on the tom notes).
NON_DRUM_KIT_PROGRAMS: frozenset[int] = frozenset({48, 56})

DRUM_BANK = 128


def drum_note_name(note: int) -> str | None:
    """The GM/GS name of a drum note, or None when the note is outside 27-87 or not a drum."""
    if note in NON_DRUM_NOTES:
        return None
    return GM_DRUM_NAMES.get(note)
