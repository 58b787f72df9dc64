"""SoundFont sources as kits of hits: GM drum banks (FluidR3, csound) and the AVL drum kits.

* GM fonts: every drum-bank preset (bank 128) except the SFX, orchestra and CM-64 kits is a
  kit; every GM drum note it plays (``gm_drums``) is a hit, named by its GM name.
* AVL Drumkits: the one preset of each font is a kit with its own note map (``AVL_NOTE_NAMES``);
  a hit is named by that map and by the drum model in the sample name ("Pearl22Kick").

A note with several velocity layers gives one hit per layer, played at the layer's top
velocity (the loudest hit that still plays those samples), so each layer's own recordings
come out. fluidsynth renders each kit in one run (``fluid_render``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from gesam_engine.data.sources.fluid_render import Hit, render_hits
from gesam_engine.data.sources.gm_drums import DRUM_BANK, NON_DRUM_KIT_PROGRAMS, drum_note_name
from gesam_engine.data.sources.jobs import KitJob, Loaded, SourceHit, safe_name
from gesam_engine.data.sources.sf2 import Sf2Preset, read_presets
from gesam_engine.errors import AudioFileError

CM64_KIT_PROGRAM = 127  # MT-32 map: sound effects above note 75

# The AVL Drumkits' note map (avldrums.lv2's documentation; the sample names agree).
AVL_NOTE_NAMES: dict[int, str] = {
    36: "Kick", 37: "Snare Side Stick", 38: "Snare Center", 39: "Hand Clap", 40: "Snare Edge",
    41: "Floor Tom Center", 42: "Closed HiHat", 43: "Floor Tom Edge", 44: "Pedal HiHat",
    45: "Tom Center", 46: "Semi-Open HiHat", 47: "Tom Edge", 48: "Swirly HiHat",
    49: "Crash Cymbal 1", 50: "Crash Cymbal 1 Choked", 51: "Ride Cymbal Tip",
    52: "Ride Cymbal Choked", 53: "Ride Cymbal Bell", 54: "Tambourine", 55: "Splash Cymbal",
    56: "Cowbell", 57: "Crash Cymbal 2", 58: "Crash Cymbal 2 Choked", 59: "Ride Cymbal Shank",
    60: "China Cymbal", 61: "Maracas",
}

_LAYER = re.compile(r"^\d+-|-\d+$")


def sample_model(sample: str) -> str:
    """The drum model in an AVL sample name: ``"36-Pearl22Kick-3"`` -> ``"Pearl22Kick"``."""
    return _LAYER.sub("", sample.strip())


def _render(font: Path, preset: Sf2Preset, hits: tuple[SourceHit, ...], sample_rate: int, hold_s: float) -> Iterator[Loaded]:
    try:
        waves = render_hits(
            font, preset.bank, preset.program,
            [Hit(int(h.key or 0), int(h.velocity or 127)) for h in hits], sample_rate, hold_s,
        )
    except AudioFileError as exc:
        for hit in hits:
            yield Loaded(hit, None, 0, str(exc))
        return
    for hit, wave in zip(hits, waves):
        yield Loaded(hit, wave, sample_rate)


def _layer_hits(preset: Sf2Preset, key: int) -> list[int]:
    """The velocity to play for each velocity layer of ``key``: the layer's top, 1..127."""
    return sorted({min(127, hi) for _, hi in preset.velocity_layers(key) if hi >= 1})


def _identity(font: Path, preset: Sf2Preset, key: int, velocity: int) -> str:
    """What a hit plays: the font, the key and the samples of every zone that sounds."""
    samples = sorted({z.sample for z in preset.zones
                      if z.key_lo <= key <= z.key_hi and z.vel_lo <= velocity <= z.vel_hi})
    return f"{font.name} key {key}: {' + '.join(samples)}"


def _job(source: str, font: Path, preset: Sf2Preset, kit: str, licence: str,
         hits: list[SourceHit], sample_rate: int, hold_s: float) -> KitJob:
    frozen = tuple(hits)
    return KitJob(source, kit, licence, frozen, lambda: _render(font, preset, frozen, sample_rate, hold_s))


def gm_kit_jobs(source: str, font: Path, licence: str, sample_rate: int = 44100, hold_s: float = 2.0) -> list[KitJob]:
    """One job per drum kit of a GM/GS font (bank 128, drum kits only), GM drum notes only."""
    jobs = []
    for preset in read_presets(font):
        if preset.bank != DRUM_BANK or preset.program in NON_DRUM_KIT_PROGRAMS | {CM64_KIT_PROGRAM}:
            continue
        kit = safe_name(f"{font.stem}-{preset.program:03d}-{preset.name}")
        hits = []
        for key in preset.keys():
            name = drum_note_name(key)
            if name is None:
                continue
            for velocity in _layer_hits(preset, key):
                stem = safe_name(f"{key:03d}_{name}_v{velocity:03d}")
                origin = f"{font} bank {preset.bank} program {preset.program} key {key} velocity {velocity}"
                hits.append(SourceHit(source, kit, name, stem, origin, key, velocity, _identity(font, preset, key, velocity)))
        if hits:
            jobs.append(_job(source, font, preset, kit, licence, hits, sample_rate, hold_s))
    return jobs


def avl_kit_jobs(source: str, font: Path, licence: str, sample_rate: int = 44100, hold_s: float = 2.0) -> list[KitJob]:
    """One job per preset of an AVL Drumkits font, a hit per note and velocity layer."""
    jobs = []
    presets = read_presets(font)
    for preset in presets:
        kit = safe_name(font.stem if len(presets) == 1 else f"{font.stem}-{preset.bank:03d}-{preset.program:03d}")
        hits = []
        for key in preset.keys():
            samples = sorted({z.sample for z in preset.zones if z.key_lo <= key <= z.key_hi})
            model = sample_model(samples[0]) if samples else ""
            name = AVL_NOTE_NAMES.get(key, model or f"note {key}")
            for velocity in _layer_hits(preset, key):
                stem = safe_name(f"{key:03d}_{name}_{model}_v{velocity:03d}")
                origin = f"{font} bank {preset.bank} program {preset.program} key {key} velocity {velocity}"
                hits.append(SourceHit(source, kit, name, stem, origin, key, velocity, _identity(font, preset, key, velocity)))
        if hits:
            jobs.append(_job(source, font, preset, kit, licence, hits, sample_rate, hold_s))
    return jobs
