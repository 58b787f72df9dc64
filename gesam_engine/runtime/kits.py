"""Kits: the 16 pads saved as TOML, a library of kits by MIDI program, and export to SFZ.

A kit file is ``name = "..."`` and up to 16 ``[[pads]]`` tables (``PAD_KEYS``: point, pitch, level, shape, ...);
a pad or key left out takes its default, so a short file is a complete kit. A library is a folder
of ``NNN-name.toml`` files, NNN being the MIDI program (0..127) that loads the kit. The SFZ
export turns a kit into samples any sampler plays: one WAV per pad, one region per pad.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import tomli_w

from gesam_engine.atomic_io import atomic_write, atomic_write_with
from gesam_engine.config import read_toml
from gesam_engine.errors import ConfigError, GesamError
from gesam_engine.runtime.variations import variant_count, variant_point
from gesam_engine.runtime.pads import Pad, PadError, default_pads
from gesam_engine.runtime.tilt import tilt_sound
from gesam_engine.runtime.voices import VoiceConfig

KIT_PADS = 16
MAX_PADS = 64
PROGRAMS = range(128)
PAD_KEYS = ("x", "y", "name", "pitch", "gain", "choke", "attack", "hold", "decay", "length", "tilt", "variation",
            "variants", "variation_mode", "soft_x", "soft_y", "layers", "locked")
_INT_KEYS = ("choke", "variants", "layers")
_TEXT_KEYS = ("name", "variation_mode")
KIT_KEYS = ("name", "pads")
SFZ_NAME = "kit.sfz"
SAMPLES_DIR = "samples"
PEAK_CEILING = 10 ** (-1 / 20)  # -1 dBFS: the most level baked into a sample
SFZ_VOLUME_RANGE = (-144.0, 6.0)  # dB, the SFZ `volume` opcode's range
_FILE_RE = re.compile(r"^(\d{3})-(.*)\.toml$")


class KitError(GesamError):
    """A kit program that is not in the library, or a library folder that is inconsistent."""


def slug(text: str, fallback: str = "kit") -> str:
    """A file-name-safe form of ``text``: lower-case ASCII letters and digits joined by '-'."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    return s or fallback


@dataclasses.dataclass(frozen=True)
class Kit:
    """A name and the pads (``Pad``s, pad n plays on MIDI note first_pad_note + n)."""

    name: str
    pads: tuple[Pad, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "pads", tuple(self.pads))
        if not isinstance(self.name, str):
            raise ConfigError(f"kit name must be a string, got {self.name!r}")
        if not 1 <= len(self.pads) <= MAX_PADS:
            raise ConfigError(f"a kit holds 1..{MAX_PADS} pads, got {len(self.pads)}")
        for i, pad in enumerate(self.pads):
            if not isinstance(pad, Pad):
                raise ConfigError(f"kit pad {i} must be a Pad, got {type(pad).__name__}")

    def to_toml(self) -> str:
        """The kit as TOML text that ``load_kit`` reads back to an equal Kit.

        The values are written by tomli-w; the comments (which it cannot write) and each
        ``[[pads]]`` header are added around them, so every pad is a table of its own with its
        number beside it, however long its name.
        """
        parts = [
            f"# gesam kit: {len(self.pads)} pads on the map; pad n plays on MIDI note 36 + n by default.\n"
            "# x, y: map point in [0, 1] (x to the right, y up); pitch: semitones -48..48;\n"
            "# gain: linear 0..4; choke: group 0..63, -1 = none (pads of one group cut each other off).\n"
            "# attack, hold, decay, length: envelope in ms (decay 0 = ring out, length 0 = whole sound);\n"
            "# tilt: -1 (darker) .. 1 (brighter); variation: radius of round-robin variants (0 = off),\n"
            "# variants: how many, variation_mode: cycle or random; soft_x, soft_y: where a soft hit moves\n"
            "# the point (velocity layers, quantised to `layers`); locked: kept by kit randomize.\n"
            "# A pad or key left out takes its default.\n",
            tomli_w.dumps({"name": self.name}),
        ]
        for i, p in enumerate(self.pads):
            table = pad_table(p)
            parts += [f"\n[[pads]]  # pad {i}\n", tomli_w.dumps(table)]
        return "".join(parts)

    def save(self, path: str | Path) -> Path:
        """Write the kit's TOML to ``path`` atomically (temporary file in the same folder, renamed)."""
        path = Path(path)
        _write_text_atomic(path, self.to_toml())
        return path


def pad_table(pad: Pad) -> dict[str, Any]:
    """A pad's TOML table: every key of ``PAD_KEYS`` with its value."""
    return {key: getattr(pad, key) for key in PAD_KEYS}


def default_kit(pads: int = KIT_PADS, name: str = "default") -> Kit:
    """The engine's default layout: ``pads`` pads on a square grid over the map."""
    return Kit(name, tuple(default_pads(pads)))


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)


def _pad_value(key: str, value: Any, where: str) -> Any:
    """Type-check one pad key from TOML (ints are accepted for the float keys)."""
    if key in _TEXT_KEYS:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if key == "locked":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if key in _INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    return float(value)


def kit_from_dict(data: Mapping[str, Any], pads: int = KIT_PADS, where: str = "kit", name: str = "") -> Kit:
    """Build a Kit of ``pads`` pads from parsed TOML; ``name`` is used when the data has none.

    Unknown keys, wrong types and out-of-range values raise ConfigError naming the pad and key.
    """
    unknown = sorted(set(data) - set(KIT_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {list(KIT_KEYS)}")
    kit_name = data.get("name", name)
    if not isinstance(kit_name, str):
        raise ConfigError(f"{where}: name must be a string, got {kit_name!r}")
    tables = data.get("pads", [])
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise ConfigError(f"{where}: pads must be [[pads]] tables, got {tables!r}")
    if len(tables) > pads:
        raise ConfigError(f"{where}: {len(tables)} [[pads]] tables, but a kit holds {pads} pads")
    result = default_pads(pads)
    for i, table in enumerate(tables):
        bad = sorted(set(table) - set(PAD_KEYS))
        if bad:
            raise ConfigError(f"{where}: pad {i}: unknown key(s) {bad}; valid keys are {list(PAD_KEYS)}")
        values = {k: _pad_value(k, v, f"{where}: pad {i}: {k}") for k, v in table.items()}
        for key, value in values.items():  # one key at a time, so the error names the key
            try:
                dataclasses.replace(result[i], **{key: value})
            except PadError as exc:
                raise ConfigError(f"{where}: pad {i}: {key}: {exc}") from None
        try:
            result[i] = dataclasses.replace(result[i], **values)
        except PadError as exc:  # unreachable while every check is per key; kept for safety
            raise ConfigError(f"{where}: pad {i}: {exc}") from None
    return Kit(kit_name, tuple(result))


def load_kit(path: str | Path, pads: int = KIT_PADS) -> Kit:
    """Read a kit TOML file (a missing name is the file's stem); errors are ConfigErrors naming the file."""
    path = Path(path)
    return kit_from_dict(read_toml(path), pads, where=str(path), name=path.stem)


class KitLibrary:
    """A folder of kits saved under MIDI programs: ``NNN-name.toml`` (NNN = 000..127).

    ``get`` reads the file each time, so kits edited by hand are picked up on the next program change.
    """

    def __init__(self, directory: str | Path, pads: int = KIT_PADS) -> None:
        self.directory = Path(directory)
        self.pads = pads

    def _scan(self) -> dict[int, list[Path]]:
        found: dict[int, list[Path]] = {}
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.iterdir()):
            m = _FILE_RE.match(path.name)
            if m and path.is_file() and int(m.group(1)) in PROGRAMS:
                found.setdefault(int(m.group(1)), []).append(path)
        return found

    def programs(self) -> dict[int, Path]:
        """Saved programs and their files, in program order (a program with two files is refused by get)."""
        return {p: files[0] for p, files in sorted(self._scan().items())}

    @staticmethod
    def _check_program(program: int) -> int:
        if isinstance(program, bool) or not isinstance(program, int) or program not in PROGRAMS:
            raise ConfigError(f"program must be an integer in 0..127, got {program!r}")
        return program

    def path_for(self, program: int, kit: Kit) -> Path:
        """Where ``save`` puts ``kit`` as ``program``."""
        return self.directory / f"{self._check_program(program):03d}-{slug(kit.name)}.toml"

    def get(self, program: int) -> Kit:
        """The kit saved as ``program``; KitError listing the saved programs when there is none."""
        self._check_program(program)
        found = self._scan()
        files = found.get(program)
        if not files:
            listed = ", ".join(f"{p} ({f[0].stem[4:]})" for p, f in sorted(found.items())) or "none"
            raise KitError(f"no kit saved as program {program} in {self.directory}; saved programs: {listed}. "
                           f"Save one with `gesam kit new {self.directory}/{program:03d}-name.toml` and edit it")
        if len(files) > 1:
            raise KitError(f"program {program} has {len(files)} kit files in {self.directory} "
                           f"({', '.join(f.name for f in files)}); keep one")
        return load_kit(files[0], self.pads)

    def save(self, program: int, kit: Kit) -> Path:
        """Save ``kit`` as ``program`` (atomically), replacing whatever that program held."""
        path = self.path_for(program, kit)
        kit.save(path)
        for old in self._scan().get(program, []):
            if old != path:
                old.unlink(missing_ok=True)
        return path


# ---- SFZ export ------------------------------------------------------------------------------
def _split_gain(gain: float, peak: float) -> tuple[float, float]:
    """(factor baked into the sample, remaining level in dB for the SFZ ``volume`` opcode)."""
    headroom = PEAK_CEILING / peak if peak > 0 else math.inf
    if gain <= 0:
        return min(1.0, headroom), SFZ_VOLUME_RANGE[0]
    baked = min(gain, headroom)
    rest_db = 20 * math.log10(gain / baked)
    return baked, min(max(rest_db, SFZ_VOLUME_RANGE[0]), SFZ_VOLUME_RANGE[1])


def _cut(wave: np.ndarray, pad: Pad, sample_rate: int, release_ms: float) -> np.ndarray:
    """``wave`` as far as gesam plays it with the pad's length: cut where the length ends plus the
    release fade, the fade baked in. The times are output time, so at the pad's pitch (a sampler
    reads ``rate`` samples per output sample) they cover ``rate`` times as many samples."""
    if pad.length <= 0:
        return wave
    rate = pad.rate
    cut = max(1, round(pad.length * sample_rate / 1000)) * rate  # sample index where the release starts
    fade = round(release_ms * sample_rate / 1000) * rate
    end = min(wave.shape[0], math.ceil(cut + fade))
    if end <= cut:  # the sound ends before its length does
        return wave
    i = np.arange(end, dtype=np.float64)
    gain = np.clip((cut + fade - i) / fade, 0.0, 1.0) if fade > 0 else (i < cut).astype(np.float64)
    gain = gain.astype(np.float32)
    return wave[:end] * (gain if wave.ndim == 1 else gain[:, None])


def _shape_opcodes(pad: Pad) -> list[str]:
    """The pad's envelope as SFZ amplitude-EG opcodes (seconds): attack, and hold, decay to silence."""
    opcodes = [f"ampeg_attack={pad.attack / 1000:.6g}"] if pad.attack > 0 else []
    if pad.decay > 0:
        opcodes += [f"ampeg_hold={pad.hold / 1000:.6g}", f"ampeg_decay={pad.decay / 1000:.6g}", "ampeg_sustain=0"]
    return opcodes


def _pitch_opcodes(pitch: float) -> tuple[int, int]:
    """(transpose semitones, tune cents in -50..50) for a pitch in semitones."""
    transpose = int(round(pitch))
    return transpose, int(round((pitch - transpose) * 100))


def export_sfz(kit: Kit, render: Callable[[float, float], np.ndarray], sample_rate: int, directory: str | Path,
               first_note: int = 36, force: bool = False, release_ms: float = VoiceConfig.release_ms) -> Path:
    """Render every pad with ``render(x, y)`` and write ``samples/pad_NN_<name>.wav`` and ``kit.sfz``.

    ``render`` returns a float wave [L] (or [L, C]) at ``sample_rate``. Each WAV (24-bit) holds the
    pad's sound with its gain applied as far as it fits under -1 dBFS; what does not fit (gain
    above the headroom) goes into the region's ``volume``. Pad n plays on key ``first_note + n``
    at its own pitch (``transpose``/``tune``); a choke group g becomes ``group=g+1 off_by=g+1``,
    so the pads of one group cut each other off. The shape: attack, hold and decay become
    ``ampeg_*`` opcodes; the tilt (``tilt_sound``, as the engine plays it) and the length (cut
    with the voices' ``release_ms`` fade) are baked into the WAV. Returns the path of ``kit.sfz``.
    Refuses to overwrite an existing ``kit.sfz`` unless ``force``.
    """
    import soundfile as sf

    directory = Path(directory)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 1000 <= sample_rate <= 384000:
        raise ConfigError(f"sample_rate must be an integer in 1000..384000 Hz, got {sample_rate!r}")
    n = len(kit.pads)
    if isinstance(first_note, bool) or not isinstance(first_note, int) or not 0 <= first_note <= 128 - n:
        raise ConfigError(f"first_note must be an integer in 0..{128 - n} so {n} pads fit in 0..127, got {first_note!r}")
    sfz = directory / SFZ_NAME
    if sfz.exists() and not force:
        raise GesamError(f"{sfz} already exists; pass --force (force=True) to overwrite it")
    samples = directory / SAMPLES_DIR
    samples.mkdir(parents=True, exist_ok=True)
    if force:
        for old in samples.glob("pad_[0-9][0-9]_*.wav"):
            old.unlink()

    lines = [
        f"// gesam kit {kit.name!r}: {n} pads on keys {first_note}-{first_note + n - 1}, made by gesam kit export",
        f"// samples: 24-bit WAV at {sample_rate} Hz in {SAMPLES_DIR}/; each holds its pad's gain up to -1 dBFS,",
        "// the rest of the gain is the region's volume (dB); pitch is transpose (semitones) + tune (cents);",
        "// pads that share a choke group share group= and off_by=, so each cuts the others (and itself) off.",
        "// shape: ampeg_attack, ampeg_hold and ampeg_decay (seconds; a decay falls to ampeg_sustain=0, linearly",
        f"// in gesam, along the sampler's own curve here); a pad's tilt and its length (cut with a {release_ms:g} ms",
        "// fade at the pad's pitch) are baked into its WAV.",
        "<global>",
        "loop_mode=one_shot",
        "",
    ]
    for i, pad in enumerate(kit.pads):
        key = first_note + i
        transpose, tune = _pitch_opcodes(pad.pitch)
        common = [f"key={key}", f"pitch_keycenter={key}", f"transpose={transpose}", f"tune={tune}"]
        if pad.choke >= 0:
            common += [f"group={pad.choke + 1}", f"off_by={pad.choke + 1}"]
        common += _shape_opcodes(pad)
        shape = (f", attack {pad.attack:g} hold {pad.hold:g} decay {pad.decay:g} length {pad.length:g} ms, "
                 f"tilt {pad.tilt:g}") if pad.shaped else ""
        lines.append(f"// pad {i} {pad.name!r} at ({pad.x:.4f}, {pad.y:.4f}), gain {pad.gain:g}, pitch {pad.pitch:g}"
                     + shape + _variation_comment(pad))
        regions = pad_regions(pad)
        for layer, variant, (x, y), extra in regions:
            wave = np.asarray(render(x, y), dtype=np.float32)
            if wave.ndim not in (1, 2) or wave.shape[0] == 0 or not np.isfinite(wave).all():
                raise GesamError(f"render for pad {i} at ({x}, {y}) must return a finite, non-empty "
                                 f"wave [L] or [L, C], got shape {wave.shape}")
            if pad.tilt:
                wave = tilt_sound(wave, pad.tilt, sample_rate)
            # The length is cut into the WAV rather than given as end=: end= stops a one-shot dead (a
            # click where gesam fades over release_ms), and the sample holds only what gesam plays.
            wave = _cut(wave, pad, sample_rate, release_ms)
            peak = float(np.abs(wave).max())
            baked, volume_db = _split_gain(pad.gain, peak)
            suffix = f"_l{layer}_v{variant}" if len(regions) > 1 else ""
            name = f"pad_{i:02d}_{slug(pad.name, 'pad')}{suffix}.wav"
            _write_wav_atomic(samples / name, wave * np.float32(baked), sample_rate, sf)
            if pad.gain > 0 and baked * 10 ** (volume_db / 20) < pad.gain * (1 - 1e-6):
                missing = 20 * math.log10(pad.gain / baked) - volume_db
                lines.append(f"// pad {i}: its gain needs {missing:.1f} dB more than SFZ's volume range (up to "
                             f"+{SFZ_VOLUME_RANGE[1]:g} dB) gives; it plays that much quieter than in gesam")
            opcodes = [*common[:2], f"volume={volume_db:.2f}", *common[2:], *extra]
            lines.append("<region> " + " ".join(opcodes) + f" sample={SAMPLES_DIR}/{name}")
    _write_text_atomic(sfz, "\n".join(lines) + "\n")
    return sfz


def pad_regions(pad: Pad) -> list[tuple[int, int, tuple[float, float], list[str]]]:
    """The SFZ regions of a pad: (velocity layer, variant, map point, opcodes) for each sound its
    hits can play. Velocity layers become ``lovel``/``hivel`` (the engine's layer of velocity v/127),
    variants ``seq_length``/``seq_position`` (cycle) or ``lorand``/``hirand`` (random)."""
    layered = bool(pad.soft_x or pad.soft_y) and pad.layers > 1
    layers = range(pad.layers) if layered else [pad.layers - 1]
    count = variant_count(pad)
    out = []
    for layer in layers:
        velocity = []
        if layered:
            low = math.ceil(layer * 127 / pad.layers)
            high = 127 if layer == pad.layers - 1 else math.ceil((layer + 1) * 127 / pad.layers) - 1
            velocity = [f"lovel={low}", f"hivel={high}"]
        for k in range(count):
            turn = []
            if count > 1 and pad.variation_mode == "cycle":
                turn = [f"seq_length={count}", f"seq_position={k + 1}"]
            elif count > 1:
                turn = [f"lorand={k / count:.4f}", f"hirand={(k + 1) / count:.4f}"]
            out.append((layer, k, variant_point(pad, layer, k), velocity + turn))
    return out


def _variation_comment(pad: Pad) -> str:
    parts = []
    if variant_count(pad) > 1:
        parts.append(f", {pad.variants} variants within {pad.variation:g} ({pad.variation_mode}"
                     + ("; SFZ random may repeat one, gesam never plays one twice in a row)" if
                        pad.variation_mode == "random" else ")"))
    if (pad.soft_x or pad.soft_y) and pad.layers > 1:
        parts.append(f", {pad.layers} velocity layers (soft hits move ({pad.soft_x:g}, {pad.soft_y:g}))")
    return "".join(parts)


def _write_wav_atomic(path: Path, wave: np.ndarray, sample_rate: int, sf: Any) -> None:
    atomic_write_with(path, lambda fh: sf.write(fh, wave, sample_rate, subtype="PCM_24", format="WAV"))
