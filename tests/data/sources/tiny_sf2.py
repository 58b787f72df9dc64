"""A tiny SoundFont 2 file written by the tests themselves (no downloads, a few kB).

``write_tiny_sf2`` writes a drum kit (bank 128, program 0) and a melodic preset (bank 0,
program 5) over four procedural samples:

* kit: key 36 has two velocity layers (0-63 "kick soft", 64-127 "kick hard"); "snare" spans
  keys 30-40 (so key 36 plays it too, and key 30, a GS scratch, is not a drum); an
  instrument-level global zone (velocity 0-127, no sample) and the preset's key range 30-40
  exercise the range rules.
* melodic: keys 60-72 play "tone".
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

RATE = 44100
KEY, VEL, INSTRUMENT, SAMPLE_ID = 43, 44, 41, 53


def _name(text: str) -> bytes:
    return text.encode("latin-1")[:20].ljust(20, b"\0")


def _chunk(cid: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    return cid + struct.pack("<I", len(data)) + data + pad


def _list(kind: bytes, chunks: list[bytes]) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _samples() -> dict[str, np.ndarray]:
    t = np.arange(int(0.25 * RATE)) / RATE
    rng = np.random.default_rng(0)
    return {
        "kick soft": 0.3 * np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.05),
        "kick hard": 0.9 * np.sin(2 * np.pi * (50 + 100 * np.exp(-t / 0.01)) * t) * np.exp(-t / 0.08),
        "snare": 0.8 * rng.standard_normal(t.size) * np.exp(-t / 0.04),
        "tone": 0.5 * np.sin(2 * np.pi * 261.63 * t) * np.exp(-t / 0.1),
    }


def _gen(op: int, amount: int) -> bytes:
    return struct.pack("<HH", op, amount)


def _range(lo: int, hi: int) -> int:
    return lo | (hi << 8)


def write_tiny_sf2(path: Path) -> Path:
    """Write the tiny font described in the module docstring to ``path``; returns it."""
    samples = _samples()
    names = list(samples)
    data = b""
    shdr = b""
    start = 0
    for name in names:
        pcm = (np.clip(samples[name], -1, 1) * 32767).astype("<i2")
        data += pcm.tobytes() + b"\0\0" * 46  # 46 zero points after each sample, as the spec asks
        end = start + pcm.size
        shdr += _name(name) + struct.pack("<IIIIIBbHH", start, end, start, end, RATE, 60, 0, 0, 1)
        start = end + 46
    shdr += _name("EOS") + bytes(26)
    sample = {n: i for i, n in enumerate(names)}

    # instruments: each zone is a list of generators (keyRange/velRange first, sampleID last)
    instruments = [
        ("Kit", [
            [_gen(VEL, _range(0, 127))],  # global zone (no sample)
            [_gen(KEY, _range(36, 36)), _gen(VEL, _range(0, 63)), _gen(SAMPLE_ID, sample["kick soft"])],
            [_gen(KEY, _range(36, 36)), _gen(VEL, _range(64, 127)), _gen(SAMPLE_ID, sample["kick hard"])],
            [_gen(KEY, _range(30, 40)), _gen(SAMPLE_ID, sample["snare"])],
        ]),
        ("Tone", [[_gen(SAMPLE_ID, sample["tone"])]]),
    ]
    inst = ibag = igen = b""
    bag_index = gen_index = 0
    for name, zones in instruments:
        inst += _name(name) + struct.pack("<H", bag_index)
        for zone in zones:
            ibag += struct.pack("<HH", gen_index, 0)
            igen += b"".join(zone)
            gen_index += len(zone)
            bag_index += 1
    inst += _name("EOI") + struct.pack("<H", bag_index)
    ibag += struct.pack("<HH", gen_index, 0)
    igen += bytes(4)

    # presets: the kit limits the instrument to keys 30-40 (the snare zone reaches 30-40 itself)
    presets = [
        ("Test Kit", 0, 128, [[_gen(KEY, _range(30, 40)), _gen(INSTRUMENT, 0)]]),
        ("Test Tone", 5, 0, [[_gen(KEY, _range(60, 72)), _gen(INSTRUMENT, 1)]]),
    ]
    phdr = pbag = pgen = b""
    bag_index = gen_index = 0
    for name, program, bank, zones in presets:
        phdr += _name(name) + struct.pack("<HHHIII", program, bank, bag_index, 0, 0, 0)
        for zone in zones:
            pbag += struct.pack("<HH", gen_index, 0)
            pgen += b"".join(zone)
            gen_index += len(zone)
            bag_index += 1
    phdr += _name("EOP") + struct.pack("<HHHIII", 0, 0, bag_index, 0, 0, 0)
    pbag += struct.pack("<HH", gen_index, 0)
    pgen += bytes(4)

    info = _list(b"INFO", [_chunk(b"ifil", struct.pack("<HH", 2, 1)), _chunk(b"isng", b"EMU8000\0"),
                           _chunk(b"INAM", b"gesam tiny\0\0")])
    sdta = _list(b"sdta", [_chunk(b"smpl", data)])
    pdta = _list(b"pdta", [
        _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", bytes(10)), _chunk(b"pgen", pgen),
        _chunk(b"inst", inst), _chunk(b"ibag", ibag), _chunk(b"imod", bytes(10)), _chunk(b"igen", igen),
        _chunk(b"shdr", shdr),
    ])
    body = b"sfbk" + info + sdta + pdta
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return Path(path)
