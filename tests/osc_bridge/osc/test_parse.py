"""OSC parsing: raw datagrams (byte literals built by hand) -> messages -> typed commands.

Every address is parsed good and bad; a refusal is an OscError whose text names the address
and what was expected. Nothing but OscError ever comes out, whatever the bytes or arguments.
"""

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage

from gesam_engine.errors import GesamError
from osc_bridge.addresses import INCOMING
from osc_bridge.commands import (
    FxParam, Gain, KitRandomize, KitUndo, Latency, Learn, Locate, ModelSwitch, Move, Note, PadLayers, PadLock, PadShape,
    PadTrigger, PadVariation, PadXY, Panic, Ping, PitchBend, Play, ProgramChange, Render, Sounds, Trigger,
)
from osc_bridge.osc.parse import EXPECTS, Incoming, OscError, decode_datagram, parse
from tests.osc_bridge import message

NAN, INF = float("nan"), float("inf")

# ---- datagrams written out byte by byte (OSC 1.0: strings NUL-padded to 4, big-endian args) ----
XY = b"/gesam/xy\x00\x00\x00" b",ff\x00" b">\x80\x00\x00" b"?@\x00\x00"  # 0.25, 0.75 (float32)
XY_INTS = b"/gesam/xy\x00\x00\x00" b",ii\x00" b"\x00\x00\x00\x00" b"\x00\x00\x00\x01"  # Max sends ints: 0, 1
TRIGGER_BARE = b"/gesam/trigger\x00\x00"  # no type tag string at all (old OSC senders)
TRIGGER_HALF = b"/gesam/trigger\x00\x00" b",f\x00\x00" b"?\x00\x00\x00"  # velocity 0.5
PING = b"/gesam/ping\x00" b",\x00\x00\x00"
NOTE_PD = b"/gesam/note\x00" b",ff\x00" b"B\x10\x00\x00" b"B\xc8\x00\x00"  # Pd sends floats: 36.0, 100.0
PAD3 = b"/gesam/pad/3/trigger\x00\x00\x00\x00" b",f\x00\x00" b"?\x80\x00\x00"  # velocity 1.0
RENDER = (b"/gesam/render\x00\x00\x00" b",ffs\x00\x00\x00\x00" b">\x80\x00\x00" b"?@\x00\x00"
          b"kick.wav\x00\x00\x00\x00")
IMMEDIATELY = b"\x00\x00\x00\x00\x00\x00\x00\x01"
T1 = b"\xec\x00\x00\x00\x80\x00\x00\x00"  # NTP 3959422976.5 s = Unix 1750434176.5
T2 = b"\xec\x00\x00\x01\x00\x00\x00\x00"  # one half second later


def size(n: int) -> bytes:
    return struct.pack(">i", n)


BUNDLE_NOW = b"#bundle\x00" + IMMEDIATELY + size(24) + XY + size(16) + PING
INNER_NOW = b"#bundle\x00" + IMMEDIATELY + size(16) + PING
INNER_T2 = b"#bundle\x00" + T2 + size(16) + TRIGGER_BARE
BUNDLE_NESTED = (b"#bundle\x00" + T1 + size(24) + XY + size(len(INNER_NOW)) + INNER_NOW
                 + size(len(INNER_T2)) + INNER_T2)


@pytest.mark.parametrize(("data", "expected"), [
    (XY, [Incoming("/gesam/xy", (0.25, 0.75), None)]),
    (XY_INTS, [Incoming("/gesam/xy", (0, 1), None)]),
    (TRIGGER_BARE, [Incoming("/gesam/trigger", (), None)]),
    (TRIGGER_HALF, [Incoming("/gesam/trigger", (0.5,), None)]),
    (PING, [Incoming("/gesam/ping", (), None)]),
    (NOTE_PD, [Incoming("/gesam/note", (36.0, 100.0), None)]),
    (PAD3, [Incoming("/gesam/pad/3/trigger", (1.0,), None)]),
    (RENDER, [Incoming("/gesam/render", (0.25, 0.75, "kick.wav"), None)]),
    (BUNDLE_NOW, [Incoming("/gesam/xy", (0.25, 0.75), None), Incoming("/gesam/ping", (), None)]),
    (BUNDLE_NESTED, [Incoming("/gesam/xy", (0.25, 0.75), 1750434176.5), Incoming("/gesam/ping", (), 1750434176.5),
                     Incoming("/gesam/trigger", (), 1750434177.0)]),
    (b"#bundle\x00" + T1, []),  # an empty bundle is legal and asks nothing
])
def test_datagrams_decode_to_messages_with_their_time_tags(data: bytes, expected: list[Incoming]) -> None:
    assert decode_datagram(data) == expected


@pytest.mark.parametrize(("data", "expected"), [
    (XY, Move(0.25, 0.75)), (XY_INTS, Move(0.0, 1.0)), (TRIGGER_BARE, Trigger(1.0)), (TRIGGER_HALF, Trigger(0.5)),
    (PING, Ping()), (NOTE_PD, Note(36, 100)), (PAD3, PadTrigger(3, 1.0)), (RENDER, Render(0.25, 0.75, "kick.wav")),
])
def test_byte_literals_parse_to_commands(data: bytes, expected: object) -> None:
    (m,) = decode_datagram(data)
    assert parse(m.address, m.args) == expected


def deep_bundle(levels: int) -> bytes:
    data = PING
    for _ in range(levels):
        data = b"#bundle\x00" + IMMEDIATELY + size(len(data)) + data
    return data


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty datagram"),
    (b"hello world!", "not an OSC packet"),
    (XY[:20], "truncated; its type tags ,ff need 24 bytes, the datagram has 20"),  # python-osc reads y = 0.0
    (XY[:16], "truncated"),  # python-osc reads (0.0, 0.0)
    (XY[:14], "malformed OSC message"),  # truncated type tag
    (b"/gesam/render\x00\x00\x00" b",ffs\x00\x00\x00\x00" + XY[16:] + b"kick", "malformed OSC message"),
    (b"/gesam/xy\x00\x00\x00" b"ff\x00\x00" + XY[16:], "must start with a comma"),
    (b"/gesam/xy\x00\x00\x00" b",fq\x00" + XY[16:], "unsupported type tag(s) 'q'"),
    (b"/gesam/\xff\x00\x00\x00\x00", "not valid UTF-8"),
    (b"/gesam/render\x00\x00\x00" b",s\x00\x00" b"caf\xe9\x00\x00\x00\x00", "not valid UTF-8"),
    (b"/gesam/xy\x00\x00\x00" b",[f\x00" b">\x80\x00\x00", "Missing closing bracket"),
    (b"#bundle\x00\x00\x00", "a bundle needs at least 16"),
    (b"#bundle\x00" + IMMEDIATELY + size(-4), "element size -4"),  # python-osc would loop forever here
    (b"#bundle\x00" + IMMEDIATELY + size(64) + PING, "element size 64"),
    (b"#bundle\x00" + IMMEDIATELY + size(6) + PING, "element size 6"),
    (b"#bundle\x00" + IMMEDIATELY + size(4) + b"abcd", "neither a message nor a bundle"),
    (b"#bundle\x00" + IMMEDIATELY + size(16) + PING + b"\x00\x00", "stray byte"),
    (b"#bundle\x00" + IMMEDIATELY + size(16) + PING[:-4] + b",q\x00\x00", "unsupported type tag"),
    (deep_bundle(9), "nested more than 8 deep"),
])
def test_malformed_datagrams_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(OscError) as info:
        decode_datagram(data)
    assert reason in str(info.value)
    assert isinstance(info.value, GesamError) and isinstance(info.value, ValueError)


def test_eight_levels_of_bundles_are_fine() -> None:
    assert decode_datagram(deep_bundle(8)) == [Incoming("/gesam/ping", (), None)]


@given(st.floats(width=32, allow_nan=True, allow_infinity=True), st.floats(width=32, allow_nan=True))
def test_the_xy_fast_path_reads_what_python_osc_reads(x: float, y: float) -> None:
    data = b"/gesam/xy\x00\x00\x00,ff\x00" + struct.pack(">ff", x, y)
    (fast,) = decode_datagram(data)
    slow = OscMessage(data).params
    assert fast.address == "/gesam/xy" and len(fast.args) == 2
    for a, b in zip(fast.args, slow):
        assert a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=300)
@given(st.binary(max_size=96))
def test_any_bytes_decode_or_raise_osc_error(data: bytes) -> None:
    for prefix in (b"", b"/", b"/gesam/xy\x00\x00\x00,", b"#bundle\x00" + IMMEDIATELY):
        try:
            messages = decode_datagram(prefix + data)
        except OscError:
            continue
        assert all(isinstance(m.address, str) and isinstance(m.args, tuple) for m in messages)


TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
ARG = st.one_of(st.floats(width=32), st.integers(-2**31, 2**31 - 1), TEXT, st.booleans(),
                st.binary(min_size=1, max_size=8))


@settings(max_examples=200)
@given(TEXT.map(lambda s: "/" + s), st.lists(ARG, max_size=4),
       st.floats(1, 2e9))
def test_python_osc_messages_and_bundles_round_trip(address: str, args: list, when: float) -> None:
    dgram = message(address, *args)
    expected = tuple(args)
    (m,) = decode_datagram(dgram)
    assert m.address == address and m.timetag is None
    assert all(a == b or (a != a and b != b) for a, b in zip(m.args, expected)) and len(m.args) == len(expected)
    bundle = OscBundleBuilder(when)
    bundle.add_content(OscMessage(dgram))
    (b,) = decode_datagram(bundle.build().dgram)
    assert b.address == address and b.timetag == pytest.approx(when, abs=1e-6)


# ---- messages -> commands ------------------------------------------------------------------------
GOOD = [
    ("/gesam/xy", (0.25, 0.75), Move(0.25, 0.75)),
    ("/gesam/xy", (0, 1), Move(0.0, 1.0)),
    ("/gesam/xy", (-3.0, 7.0), Move(-3.0, 7.0)),  # the engine clamps to the map
    ("/gesam/trigger", (), Trigger(1.0)),
    ("/gesam/trigger", (0.5,), Trigger(0.5)),
    ("/gesam/trigger", (2,), Trigger(1.0)),  # velocity clamped
    ("/gesam/trigger", (-0.5,), Trigger(0.0)),
    ("/gesam/play", (0.1, 0.2), Play(0.1, 0.2, 1.0)),
    ("/gesam/play", (0.1, 0.2, 0.3), Play(0.1, 0.2, 0.3)),
    ("/gesam/pad/0/xy", (0.1, 0.2), PadXY(0, 0.1, 0.2)),
    ("/gesam/pad/15/trigger", (), PadTrigger(15, 1.0)),
    ("/gesam/pad/07/trigger", (64,), PadTrigger(7, 1.0)),
    ("/gesam/note", (36, 100), Note(36, 100)),
    ("/gesam/note", (36.0, 100.0), Note(36, 100)),  # Pd
    ("/gesam/note", (60, 200), Note(60, 127)),  # velocity clamped
    ("/gesam/bend", (-2.0,), PitchBend(-2.0)),
    ("/gesam/bend", (48,), PitchBend(48.0)),
    ("/gesam/fx/reverb/room_size", (0.5,), FxParam("reverb", "room_size", 0.5)),
    ("/gesam/fx/filter/mode", ("LPF12",), FxParam("filter", "mode", "LPF12")),
    ("/gesam/fx/comp/bypass", (True,), FxParam("comp", "bypass", True)),
    ("/gesam/gain", (1,), Gain(1.0)),
    ("/gesam/gain", (0.0,), Gain(0.0)),
    ("/gesam/panic", (), Panic()),
    ("/gesam/render", (0.1, 0.2, "a.wav"), Render(0.1, 0.2, "a.wav")),
    ("/gesam/render", (0.1, 0.2, "takes/kick 1"), Render(0.1, 0.2, "takes/kick 1")),
    ("/gesam/render", (0.1, 0.2, "../x.wav"), Render(0.1, 0.2, "../x.wav")),  # refused by the Controller
    ("/gesam/ping", (), Ping()),
    ("/gesam/latency", (), Latency()),
    ("/gesam/learn", ("X",), Learn("x")),
    ("/gesam/learn", ("y",), Learn("y")),
    ("/gesam/learn", ("Pad/3/Shape/Decay",), Learn("pad/3/shape/decay")),
    ("/gesam/learn", ("kit/randomize",), Learn("kit/randomize")),
    ("/gesam/kit", (3,), ProgramChange(3)),
    ("/gesam/kit", (3.0,), ProgramChange(3)),
    ("/gesam/locate", ("/home/me/kick 1.wav",), Locate("/home/me/kick 1.wav")),
    ("/gesam/pad/2/variation", (0.05,), PadVariation(2, 0.05)),
    ("/gesam/pad/2/variation", (0.1, 6.0, "Random"), PadVariation(2, 0.1, 6, "random")),
    ("/gesam/pad/2/variation", (0, 1), PadVariation(2, 0.0, 1)),
    ("/gesam/pad/3/layers", (0.0, -0.2), PadLayers(3, 0.0, -0.2)),
    ("/gesam/pad/3/layers", (0.1, -0.2, 3), PadLayers(3, 0.1, -0.2, 3)),
    ("/gesam/pad/4/shape/decay", (120,), PadShape(4, "decay", 120.0)),
    ("/gesam/pad/4/shape/tilt", (-0.5,), PadShape(4, "tilt", -0.5)),
    ("/gesam/pad/5/lock", (1,), PadLock(5, True)),
    ("/gesam/pad/5/lock", (0.0,), PadLock(5, False)),
    ("/gesam/kit/randomize", (), KitRandomize()),
    ("/gesam/kit/undo", (), KitUndo()),
    ("/gesam/model", ("small",), ModelSwitch("small")),
    ("/gesam/sounds", (), Sounds()),
]


@pytest.mark.parametrize(("address", "args", "expected"), GOOD)
def test_every_address_parses(address: str, args: tuple, expected: object) -> None:
    assert parse(address, args) == expected


def test_every_incoming_address_has_a_good_case_and_the_table_agrees_with_the_address_space() -> None:
    assert set(EXPECTS) == set(INCOMING)
    for pattern, (spec, _) in INCOMING.items():
        low, high, _ = EXPECTS[pattern]
        assert (low, high) == (len(spec.replace("?", "")) - spec.count("?"), len(spec.replace("?", ""))), pattern
    covered = {p for p in EXPECTS if any(_pattern_of(a) == p for a, _, _ in GOOD)}
    assert covered == set(EXPECTS)


def _pattern_of(address: str) -> str:
    parts = address.split("/")
    if address.startswith("/gesam/pad/"):
        return "/gesam/pad/<n>/shape/<param>" if parts[4] == "shape" else f"/gesam/pad/<n>/{parts[4]}"
    if address.startswith("/gesam/fx/"):
        return "/gesam/fx/<effect>/<param>"
    return address


BAD = [
    ("/gesam/xy", (0.5,), "/gesam/xy expects 2 numbers (x, y), got 1: [0.5]"),
    ("/gesam/xy", (0.1, 0.2, 0.3), "/gesam/xy expects 2 numbers (x, y), got 3"),
    ("/gesam/xy", (0.5, NAN), "/gesam/xy: y must be a finite number, got nan"),
    ("/gesam/xy", (INF, 0.5), "/gesam/xy: x must be a finite number, got inf"),
    ("/gesam/xy", ("a", 0.5), "/gesam/xy: x must be a number, got 'a' (string)"),
    ("/gesam/xy", (True, 0.5), "x must be a number, got True (true/false)"),
    ("/gesam/xy", (b"\x00", 0.5), "(blob)"),
    ("/gesam/xy", ([0.1], 0.5), "(array)"),
    ("/gesam/xy", (None, 0.5), "(nil)"),
    ("/gesam/trigger", (NAN,), "/gesam/trigger: velocity must be a finite number"),
    ("/gesam/trigger", (1.0, 2.0), "/gesam/trigger expects 0 or 1 number (velocity 0..1), got 2"),
    ("/gesam/play", (0.1,), "/gesam/play expects 2 or 3 numbers"),
    ("/gesam/play", (0.1, 0.2, NAN), "velocity must be a finite number"),
    ("/gesam/pad/16/xy", (0.1, 0.2), "/gesam/pad/16/xy: pad must be an integer in 0..15, got '16'"),
    ("/gesam/pad/-1/trigger", (), "pad must be an integer in 0..15, got '-1'"),
    ("/gesam/pad/one/trigger", (), "pad must be an integer"),
    ("/gesam/pad/3/xy", (0.1, NAN), "y must be a finite number"),
    ("/gesam/pad/3/zz", (), "unknown address"),
    ("/gesam/note", (36.5, 100), "/gesam/note: note must be an integer, got 36.5"),
    ("/gesam/note", (128, 100), "note must be in 0..127, got 128"),
    ("/gesam/note", (36, NAN), "velocity must be an integer"),
    ("/gesam/note", (36,), "/gesam/note expects 2 integers (note 0..127, velocity 0..127), got 1"),
    ("/gesam/bend", (49.0,), "/gesam/bend: semitones must be in -48..48, got 49.0"),
    ("/gesam/gain", (5.0,), "/gesam/gain: gain must be in 0..4, got 5.0"),
    ("/gesam/gain", (NAN,), "gain must be a finite number"),
    ("/gesam/fx/reverb", (0.5,), "unknown address"),
    ("/gesam/fx/reverb/mix/x", (0.5,), "unknown address"),
    ("/gesam/fx/reverb/mix", (INF,), "value must be a finite number"),
    ("/gesam/fx/reverb/mix", (), "expects 1 value (a number, a string or true/false), got 0"),
    ("/gesam/panic", (1,), "/gesam/panic expects no arguments, got 1"),
    ("/gesam/ping", ("?",), "/gesam/ping expects no arguments"),
    ("/gesam/render", (0.1, 0.2), "/gesam/render expects 2 numbers and a string (x, y, file name), got 2"),
    ("/gesam/render", (0.1, 0.2, ""), "file name must be a non-empty string"),
    ("/gesam/render", (0.1, 0.2, 3), "file name must be a non-empty string, got 3"),
    ("/gesam/render", (0.1, 0.2, "."), "file name must end in a name"),
    ("/gesam/render", (0.1, 0.2, "takes/"), "file name must end in a name"),
    ("/gesam/render", (0.1, 0.2, "x" * 300), "each part at most 200 bytes"),
    ("/gesam/render", (0.1, 0.2, "a\nb.wav"), "file name must be printable text"),
    ("/gesam/learn", ("z",), "/gesam/learn: not a MIDI control target: 'z'; targets are x, y, kit/randomize"),
    ("/gesam/learn", ("pad/16/variation",), "pad/N/variation and pad/N/shape/{attack,hold,decay,length,tilt} with N in 0..15"),
    ("/gesam/learn", (1,), "target must be a non-empty string"),
    ("/gesam/kit", (128,), "/gesam/kit: kit must be in 0..127"),
    ("/gesam/locate", (), "/gesam/locate expects 1 string (the path of an audio file"),
    ("/gesam/locate", ("",), "path must be a non-empty string"),
    ("/gesam/locate", ("a\nb.wav",), "must be printable text"),
    ("/gesam/pad/2/variation", (0.6,), "radius must be in 0..0.5, got 0.6"),
    ("/gesam/pad/2/variation", (0.1, 17), "variants must be in 1..16, got 17"),
    ("/gesam/pad/2/variation", (0.1, 4, "shuffle"), "mode must be cycle or random, got 'shuffle'"),
    ("/gesam/pad/2/variation", (NAN,), "radius must be a finite number"),
    ("/gesam/pad/3/layers", (0.1,), "expects 2 or 3 values"),
    ("/gesam/pad/3/layers", (2.0, 0.0), "dx must be in -1..1, got 2.0"),
    ("/gesam/pad/3/layers", (0.1, 0.1, 9), "layers must be in 1..8, got 9"),
    ("/gesam/pad/4/shape/decay", (-1.0,), "decay must be in 0..10000, got -1.0"),
    ("/gesam/pad/4/shape/tilt", (1.5,), "tilt must be in -1..1"),
    ("/gesam/pad/4/shape/sustain", (1.0,), "unknown shape parameter 'sustain'; pads have attack, hold, decay, length, tilt"),
    ("/gesam/pad/16/shape/decay", (1.0,), "pad must be an integer in 0..15"),
    ("/gesam/pad/4/shape", (1.0,), "unknown address"),
    ("/gesam/pad/5/lock", (2,), "lock must be 1 (lock) or 0 (free), got 2"),
    ("/gesam/kit/randomize", (1,), "/gesam/kit/randomize expects no arguments"),
    ("/gesam/model", ("",), "model must be a non-empty string"),
    ("/gesam/model", ("a\x01b",), "model must be a directory or a model's name"),
    ("/gesam/kit", (1.5,), "kit must be an integer"),
    ("/gesam/foo", (), "unknown address '/gesam/foo'"),
    ("/gesam/trig", (), "did you mean /gesam/trigger?"),
    ("/other/xy", (0.1, 0.2), "unknown address"),
    ("", (), "unknown address"),
    ("/gesam/pad/*/trigger", (), "wildcards) are not supported"),
]


@pytest.mark.parametrize(("address", "args", "reason"), BAD)
def test_bad_messages_are_refused_with_a_readable_reason(address: str, args: tuple, reason: str) -> None:
    with pytest.raises(OscError) as info:
        parse(address, args)
    assert reason in str(info.value)
    assert len(str(info.value)) < 600


def test_an_unknown_address_says_so_and_points_to_ping() -> None:
    text = str(pytest.raises(OscError, parse, "/gesam/nope", ()).value)
    assert "unknown address" in text and "/gesam/ping" in text and "/gesam/xy" in text


def test_huge_addresses_and_arguments_give_short_reasons() -> None:
    text = str(pytest.raises(OscError, parse, "/gesam/" + "x" * 60000, ()).value)
    assert len(text) < 600
    text = str(pytest.raises(OscError, parse, "/gesam/render", ("y" * 60000,)).value)
    assert len(text) < 600


def test_the_number_of_pads_is_a_parameter() -> None:
    assert parse("/gesam/pad/40/trigger", (), pads=64) == PadTrigger(40, 1.0)
    with pytest.raises(OscError, match="0..7"):
        parse("/gesam/pad/8/trigger", (), pads=8)


ADDRESSES = [a for a, _, _ in GOOD] + ["/gesam/unknown", "/gesam/pad/99/xy"]


@settings(max_examples=400)
@given(st.sampled_from(ADDRESSES), st.lists(st.one_of(ARG, st.none(), st.floats()), max_size=4))
def test_parse_returns_a_command_with_finite_values_or_raises_osc_error(address: str, args: list) -> None:
    try:
        cmd = parse(address, args)
    except OscError:
        return
    for value in getattr(cmd, "__slots__", ()):
        v = getattr(cmd, value)
        if isinstance(v, float):
            assert math.isfinite(v)


def test_the_osc_bridge_imports_neither_torch_nor_the_runtime() -> None:
    import subprocess
    import sys

    # every module of the package (subpackages too), found by walking it: a new module is covered without a word here
    code = ("import importlib, pkgutil, sys, osc_bridge; "
            "names = [m.name for m in pkgutil.walk_packages(osc_bridge.__path__, 'osc_bridge.')]; "
            "[importlib.import_module(n) for n in names]; print(' '.join(names), file=sys.stderr); "
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('gesam_engine.runtime')]; print(bad)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
    imported = set(run.stderr.split())
    assert {"osc_bridge.console", "osc_bridge.controller", "osc_bridge.engine_like", "osc_bridge.osc.parse",
            "osc_bridge.osc.scheduler", "osc_bridge.osc.server", "osc_bridge.midi.input", "osc_bridge.midi.map",
            "osc_bridge.midi.mailbox", "osc_bridge.webmap.app", "osc_bridge.webmap.server"} <= imported, imported


@pytest.mark.reliability
@pytest.mark.parametrize("name", [b"ab\x00cd.wav", b"abc\x00evil.wav", b"kick.wav\x00\x00\x00\x00/../../x"])
def test_a_nul_inside_a_string_is_refused_not_cut(name):
    """python-osc cuts an OSC string at its first NUL: 'ab\\0cd.wav' would render to 'ab'."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    head = OscMessageBuilder("/gesam/render")
    head.add_arg(0.5, "f")
    head.add_arg(0.5, "f")
    head.add_arg("PLACEHOLDER", "s")
    good = head.build().dgram
    start = good.index(b"PLACEHOLDER")
    body = name + b"\x00" * (4 - len(name) % 4)
    data = good[:start] + body
    with pytest.raises(OscError, match="NUL"):
        decode_datagram(data)


def test_a_plain_string_argument_still_decodes():
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder("/gesam/render")
    for arg, tag in ((0.5, "f"), (0.25, "f"), ("kick.wav", "s")):
        b.add_arg(arg, tag)
    (msg,) = decode_datagram(b.build().dgram)
    assert msg.args[2] == "kick.wav"


def test_the_bridges_pad_vocabulary_is_the_runtimes() -> None:
    """The bridge keeps its own copy (it never imports the runtime): the two must not drift apart."""
    from gesam_engine.runtime import pads
    from osc_bridge import commands

    assert commands.SHAPE_PARAMS == pads.SHAPE_PARAMS and commands.VARIATION_MODES == pads.VARIATION_MODES
