"""Reading a SoundFont 2 file's presets and their note and velocity zones (standard library only).

Only the "hydra" (the ``pdta`` chunk) is read: preset headers, their zones, the instruments
those zones point to, and the instruments' zones with key range, velocity range and sample.
The sample data itself is never decoded here; ``fluid_render`` plays the font through
fluidsynth, which applies envelopes, filters and tuning as any player would.

A zone's ranges are the intersection of the preset zone's and the instrument zone's (either
side's global zone supplies a default), as the SoundFont 2.04 specification says.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import BinaryIO

from gesam_engine.errors import AudioFileError

# generator operators (SoundFont 2.04, section 8.1.2)
GEN_KEY_RANGE = 43
GEN_VEL_RANGE = 44
GEN_INSTRUMENT = 41
GEN_SAMPLE_ID = 53

_RECORD_SIZES = {"phdr": 38, "pbag": 4, "pgen": 4, "inst": 22, "ibag": 4, "igen": 4, "shdr": 46}


@dataclasses.dataclass(frozen=True)
class Sf2Zone:
    """One playable region of a preset: keys and velocities (inclusive) and the sample it plays."""

    key_lo: int
    key_hi: int
    vel_lo: int
    vel_hi: int
    sample: str
    instrument: str


@dataclasses.dataclass(frozen=True)
class Sf2Preset:
    """A preset (a "patch"): its name, bank and program, and its zones."""

    name: str
    bank: int
    program: int
    zones: tuple[Sf2Zone, ...]

    def keys(self) -> list[int]:
        """Every MIDI note some zone of this preset plays, ascending."""
        return sorted({k for z in self.zones for k in range(z.key_lo, z.key_hi + 1)})

    def velocity_layers(self, key: int) -> list[tuple[int, int]]:
        """The distinct (vel_lo, vel_hi) ranges of the zones that play ``key``, ascending."""
        return sorted({(z.vel_lo, z.vel_hi) for z in self.zones if z.key_lo <= key <= z.key_hi})


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


def _chunks(fh: BinaryIO, end: int) -> dict[str, tuple[int, int]]:
    """Sub-chunks (id -> (offset, size)) from the current position up to ``end``; LISTs by type."""
    found: dict[str, tuple[int, int]] = {}
    while fh.tell() + 8 <= end:
        head = fh.read(8)
        if len(head) < 8:  # a cut file: what is there is all there is
            break
        cid, size = head[:4].decode("latin-1"), struct.unpack("<I", head[4:])[0]
        start = fh.tell()
        if cid == "LIST":
            kind = fh.read(4).decode("latin-1")
            found[kind] = (start + 4, size - 4)
        else:
            found[cid] = (start, size)
        fh.seek(start + size + (size & 1))
    return found


def _records(data: bytes, cid: str) -> list[bytes]:
    size = _RECORD_SIZES[cid]
    if len(data) % size:
        raise AudioFileError(f"SoundFont chunk {cid} has {len(data)} bytes, not a multiple of {size}")
    return [data[i:i + size] for i in range(0, len(data), size)]


def _gens(records: list[bytes], lo: int, hi: int) -> dict[int, int]:
    """Generators of one zone: operator -> raw 16-bit amount (ranges keep their two bytes)."""
    out: dict[int, int] = {}
    for rec in records[lo:hi]:
        op, amount = struct.unpack("<HH", rec)
        out[op] = amount
    return out


def _range(gens: dict[int, int], op: int) -> tuple[int, int]:
    if op not in gens:
        return (0, 127)
    amount = gens[op]
    return (amount & 0xFF, amount >> 8)


def _zones(bags: list[bytes], gens: list[bytes], first: int, last: int) -> list[dict[int, int]]:
    """The generator dicts of bag records ``first..last-1`` (each bag: (gen index, mod index))."""
    out = []
    for b in range(first, last):
        g0 = struct.unpack("<HH", bags[b])[0]
        g1 = struct.unpack("<HH", bags[b + 1])[0]
        out.append(_gens(gens, g0, g1))
    return out


def _intersect(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def read_presets(path: Path) -> list[Sf2Preset]:
    """Every preset of a SoundFont 2 file with its zones, ordered by (bank, program).

    Raises AudioFileError when the file is not a SoundFont 2 or its hydra is damaged.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
                raise AudioFileError(f"{path} is not a SoundFont 2 file (no RIFF sfbk header)")
            riff_end = 8 + struct.unpack("<I", head[4:8])[0]
            top = _chunks(fh, riff_end)
            if "pdta" not in top:
                raise AudioFileError(f"{path} has no pdta chunk (preset data); the file is damaged")
            p_off, p_size = top["pdta"]
            fh.seek(p_off)
            sub = _chunks(fh, p_off + p_size)
            data: dict[str, list[bytes]] = {}
            for cid in _RECORD_SIZES:
                if cid not in sub:
                    raise AudioFileError(f"{path} lacks the {cid} chunk; the file is damaged")
                off, size = sub[cid]
                fh.seek(off)
                data[cid] = _records(fh.read(size), cid)
    except OSError as exc:
        raise AudioFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return _build(data)
    except (struct.error, IndexError) as exc:
        raise AudioFileError(f"{path}: damaged preset data ({exc})") from None


def _build(data: dict[str, list[bytes]]) -> list[Sf2Preset]:
    samples = [_name(r[:20]) for r in data["shdr"]]
    insts = [(_name(r[:20]), struct.unpack("<H", r[20:22])[0]) for r in data["inst"]]
    inst_zones: list[list[tuple[tuple[int, int], tuple[int, int], str]]] = []
    for i in range(len(insts) - 1):  # the last record is the terminal "EOI"
        zones = _zones(data["ibag"], data["igen"], insts[i][1], insts[i + 1][1])
        glob = zones[0] if zones and GEN_SAMPLE_ID not in zones[0] else {}
        regions = []
        for z in zones:
            if GEN_SAMPLE_ID not in z:
                continue
            merged = {**glob, **z}
            regions.append((_range(merged, GEN_KEY_RANGE), _range(merged, GEN_VEL_RANGE), samples[z[GEN_SAMPLE_ID]]))
        inst_zones.append(regions)

    presets = []
    headers = data["phdr"]
    for i in range(len(headers) - 1):  # the last record is the terminal "EOP"
        name = _name(headers[i][:20])
        program, bank, bag0 = struct.unpack("<HHH", headers[i][20:26])
        bag1 = struct.unpack("<H", headers[i + 1][24:26])[0]
        zones = _zones(data["pbag"], data["pgen"], bag0, bag1)
        glob = zones[0] if zones and GEN_INSTRUMENT not in zones[0] else {}
        out: list[Sf2Zone] = []
        for z in zones:
            if GEN_INSTRUMENT not in z:
                continue
            merged = {**glob, **z}
            pkeys, pvels = _range(merged, GEN_KEY_RANGE), _range(merged, GEN_VEL_RANGE)
            inst = z[GEN_INSTRUMENT]
            for ikeys, ivels, sample in inst_zones[inst]:
                keys, vels = _intersect(pkeys, ikeys), _intersect(pvels, ivels)
                if keys and vels:
                    out.append(Sf2Zone(keys[0], keys[1], vels[0], vels[1], sample, insts[inst][0]))
        presets.append(Sf2Preset(name, bank, program, tuple(out)))
    return sorted(presets, key=lambda p: (p.bank, p.program))
