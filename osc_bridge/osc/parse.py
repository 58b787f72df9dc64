"""OSC datagrams -> (address, args, timetag) -> typed commands: pure functions, no sockets.

``decode_datagram`` turns the bytes of one UDP datagram into its messages (bundles flattened,
each message with the time tag it must run at); ``parse`` turns one message into a command
from ``osc_bridge.commands``. Both refuse bad input with an ``OscError`` whose text names the
address and says what was expected: the server sends that text back on ``/gesam/error``.

Any thread may call these functions. The address space is ``osc_bridge.addresses.INCOMING``.
"""

from __future__ import annotations

import difflib
import math
import struct
from typing import Any, NamedTuple, Sequence

from pythonosc import osc_message
from pythonosc.parsing import osc_types

from gesam_engine.errors import GesamError
from osc_bridge.midi.controls import parse_target
from osc_bridge.commands import (
    Command, FxParam, Gain, KitRandomize, KitUndo, Latency, Learn, Locate, ModelSwitch, Move, Note, PadLayers, PadLock,
    PadShape, PadTrigger, PadVariation, PadXY, Panic, Ping, PitchBend, Play, ProgramChange, Render, SHAPE_PARAMS, Sounds, Trigger,
    VARIATION_MODES,
)

DEFAULT_PADS = 16
MAX_BUNDLE_DEPTH = 8
# OSC type tags python-osc parses; anything else would be skipped without a word (and the
# arguments after it read from the wrong offset), so a datagram that uses one is refused.
_KNOWN_TAGS = frozenset("ihfdsbrmtTFN[]")
_BUNDLE = b"#bundle\x00"
_XY_HEAD = b"/gesam/xy\x00\x00\x00,ff\x00"  # the one message a controller floods: decoded without python-osc
_PATTERN_CHARS = frozenset("*?[]{}")


class OscError(GesamError, ValueError):
    """An OSC datagram or message gesam refuses; the text is what ``/gesam/error`` answers."""


class Incoming(NamedTuple):
    """One message from a datagram: ``timetag`` is the Unix time to run it at, None for now."""

    address: str
    args: tuple[Any, ...]
    timetag: float | None


# ---- datagrams --------------------------------------------------------------------------------
def decode_datagram(data: bytes) -> list[Incoming]:
    """The messages in one datagram, in order; bundles (nested up to 8 deep) are flattened.

    A message in a bundle carries its innermost bundle's time tag (the enclosing one when that
    is 'immediately'); None means now. Raises OscError for bytes that are not OSC.
    """
    data = bytes(data)
    if len(data) == 24 and data.startswith(_XY_HEAD):  # fast path, same result as python-osc
        return [Incoming("/gesam/xy", struct.unpack(">ff", data[16:]), None)]
    out: list[Incoming] = []
    _decode(data, None, 0, out)
    return out


def _decode(data: bytes, timetag: float | None, depth: int, out: list[Incoming]) -> None:
    if data.startswith(b"/"):
        out.append(Incoming(*_message(data), timetag))
    elif data.startswith(_BUNDLE):
        _bundle(data, timetag, depth, out)
    elif not data:
        raise OscError("empty datagram: expected an OSC message (starting with '/') or a bundle ('#bundle')")
    else:
        raise OscError(f"not an OSC packet: expected a message (starting with '/') or a bundle ('#bundle'), "
                       f"got {_short(data[:16])} ({len(data)} bytes)")


def _message(data: bytes) -> tuple[str, tuple[Any, ...]]:
    _check_tags(data)
    try:
        msg = osc_message.OscMessage(data)
    except Exception as exc:  # python-osc raises ParseError, and UnicodeDecodeError for non-UTF-8 text
        raise OscError(f"malformed OSC message ({len(data)} bytes, starting {_short(data[:24])}): "
                       f"{_reason(exc)}") from None
    return msg.address, tuple(msg.params)


def _check_tags(data: bytes) -> None:
    """Refuse what python-osc lets through: type tags it skips silently (reading the arguments
    after them from the wrong offset) and missing argument bytes (it pads a short float with
    zeros, so a truncated /gesam/xy would move the cursor to 0)."""
    try:
        _, index = osc_types.get_string(data, 0)
        if index >= len(data):
            return
        tags, index = osc_types.get_string(data, index)
    except Exception:  # noqa: BLE001 - OscMessage reports the parse error itself
        return
    if not tags.startswith(","):
        return
    unknown = sorted(set(tags[1:]) - _KNOWN_TAGS)
    if unknown:
        raise OscError(f"malformed OSC message: unsupported type tag(s) {''.join(unknown)!r} in {_short(tags)}; "
                       "gesam reads i h f d s b r m t T F N and [ ] arrays")
    for tag in tags[1:]:
        if tag in "ifrm":
            index += 4
        elif tag in "hdt":
            index += 8
        elif tag == "s":
            end = data.find(b"\x00", index)
            if end < 0:
                return
            index = end + 4 - (end % 4)
            if data[end:index].strip(b"\x00"):
                raise OscError(f"malformed OSC message: a string argument holds a NUL before its end "
                               f"({_short(data[index - 8 if index >= 8 else 0:index])}); NUL is not allowed "
                               "inside names (python-osc would cut the string there)")
        elif tag == "b":
            if index + 4 > len(data):
                break
            n = int.from_bytes(data[index: index + 4], "big")
            index += 4 + n + (-n % 4)
    if index > len(data):
        raise OscError(f"malformed OSC message: truncated; its type tags {_short(tags)} need {index} bytes, "
                       f"the datagram has {len(data)}")
    if "[" not in tags and data[index:].strip(b"\x00"):
        raise OscError(f"malformed OSC message: {len(data) - index} byte(s) after its last argument "
                       f"({_short(data[index:index + 16])}); a NUL inside a string argument ends it early")


def _bundle(data: bytes, outer: float | None, depth: int, out: list[Incoming]) -> None:
    """Walk a bundle's elements ourselves: python-osc's OscBundle skips unknown elements with only
    a log line and loops forever on a negative element size."""
    if depth >= MAX_BUNDLE_DEPTH:
        raise OscError(f"malformed OSC bundle: nested more than {MAX_BUNDLE_DEPTH} deep")
    if len(data) < 16:
        raise OscError(f"malformed OSC bundle: {len(data)} bytes, a bundle needs at least 16 (header and time tag)")
    date, index = osc_types.get_date(data, 8)
    timetag = outer if date == osc_types.IMMEDIATELY else float(date)
    while index < len(data):
        if index + 4 > len(data):
            raise OscError(f"malformed OSC bundle: {len(data) - index} stray byte(s) after element at {index}")
        size, index = osc_types.get_int(data, index)
        if size <= 0 or size % 4 or index + size > len(data):
            raise OscError(f"malformed OSC bundle: element size {size} at byte {index - 4} (must be a positive "
                           f"multiple of 4 within the {len(data)}-byte datagram)")
        element = data[index: index + size]
        index += size
        if not element.startswith((b"/", _BUNDLE)):
            raise OscError(f"malformed OSC bundle: element at byte {index - size} is neither a message nor a "
                           f"bundle: {_short(element[:16])}")
        _decode(element, timetag, depth + 1, out)


# ---- messages -------------------------------------------------------------------------------
# pattern -> (fewest args, most args, what is expected in words); kept in step with INCOMING by a test
EXPECTS: dict[str, tuple[int, int, str]] = {
    "/gesam/xy": (2, 2, "2 numbers (x, y)"),
    "/gesam/trigger": (0, 1, "0 or 1 number (velocity 0..1)"),
    "/gesam/play": (2, 3, "2 or 3 numbers (x, y, velocity 0..1)"),
    "/gesam/pad/<n>/xy": (2, 2, "2 numbers (x, y)"),
    "/gesam/pad/<n>/trigger": (0, 1, "0 or 1 number (velocity 0..1)"),
    "/gesam/note": (2, 2, "2 integers (note 0..127, velocity 0..127)"),
    "/gesam/bend": (1, 1, "1 number (semitones -48..48)"),
    "/gesam/fx/<effect>/<param>": (1, 1, "1 value (a number, a string or true/false)"),
    "/gesam/gain": (1, 1, "1 number (linear gain 0..4)"),
    "/gesam/panic": (0, 0, "no arguments"),
    "/gesam/render": (3, 3, "2 numbers and a string (x, y, file name)"),
    "/gesam/ping": (0, 0, "no arguments"),
    "/gesam/latency": (0, 0, "no arguments"),
    "/gesam/learn": (1, 1, "1 string (x, y, kit/randomize, kit/undo, pad/N/variation or pad/N/shape/PARAM)"),
    "/gesam/kit": (1, 1, "1 integer (kit 0..127)"),
    "/gesam/locate": (1, 1, "1 string (the path of an audio file on the engine's machine)"),
    "/gesam/pad/<n>/variation": (1, 3, "1 to 3 values (radius 0..0.5, variants 1..16, cycle or random)"),
    "/gesam/pad/<n>/layers": (2, 3, "2 or 3 values (dx -1..1, dy -1..1, layers 1..8)"),
    "/gesam/pad/<n>/shape/<param>": (1, 1, "1 number (attack, hold, decay, length in ms 0..10000; tilt -1..1)"),
    "/gesam/pad/<n>/lock": (1, 1, "1 integer (1 locks, 0 frees)"),
    "/gesam/kit/randomize": (0, 0, "no arguments"),
    "/gesam/kit/undo": (0, 0, "no arguments"),
    "/gesam/model": (1, 1, "1 string (a model directory, or a model's name in the models folder)"),
    "/gesam/sounds": (0, 0, "no arguments"),
}
PAD_ACTIONS = ("xy", "trigger", "variation", "layers", "lock")
SHAPE_RANGES = {"attack": (0.0, 10000.0), "hold": (0.0, 10000.0), "decay": (0.0, 10000.0), "length": (0.0, 10000.0),
                "tilt": (-1.0, 1.0)}


def parse(address: str, args: Sequence[Any], pads: int = DEFAULT_PADS) -> Command:
    """The command for one OSC message; OscError (naming the address) if it is refused.

    Numbers may arrive as OSC ints or floats (Max sends ints, Pd floats); integers may arrive as
    whole floats. NaN and infinity are refused; velocities are clamped to their range.
    """
    args = tuple(args)
    pattern, fields = _match(address, pads)
    low, high, expects = EXPECTS[pattern]
    if not low <= len(args) <= high:
        raise OscError(f"{_short(address)} expects {expects}, got {len(args)}: {_show(args)}")
    a = _Args(address, args)
    if pattern == "/gesam/xy":
        return Move(a.num(0, "x"), a.num(1, "y"))
    if pattern == "/gesam/trigger":
        return Trigger(a.velocity(0))
    if pattern == "/gesam/play":
        return Play(a.num(0, "x"), a.num(1, "y"), a.velocity(2))
    if pattern == "/gesam/pad/<n>/xy":
        return PadXY(fields[0], a.num(0, "x"), a.num(1, "y"))
    if pattern == "/gesam/pad/<n>/trigger":
        return PadTrigger(fields[0], a.velocity(0))
    if pattern == "/gesam/note":
        note = a.integer(0, "note")
        if not 0 <= note <= 127:
            raise OscError(f"{address}: note must be in 0..127, got {note}")
        return Note(note, min(max(a.integer(1, "velocity"), 0), 127))
    if pattern == "/gesam/bend":
        return PitchBend(a.num(0, "semitones", -48.0, 48.0))
    if pattern == "/gesam/fx/<effect>/<param>":
        return FxParam(fields[0], fields[1], a.value(0, "value"))
    if pattern == "/gesam/gain":
        return Gain(a.num(0, "gain", 0.0, 4.0))
    if pattern == "/gesam/panic":
        return Panic()
    if pattern == "/gesam/render":
        return Render(a.num(0, "x"), a.num(1, "y"), _file_name(address, a.text(2, "file name")))
    if pattern == "/gesam/ping":
        return Ping()
    if pattern == "/gesam/latency":
        return Latency()
    if pattern == "/gesam/learn":
        target = a.text(0, "target").lower()
        if target not in ("x", "y"):
            try:
                parse_target(target, pads)
            except ValueError as exc:
                raise OscError(f"/gesam/learn: {exc}") from None
        return Learn(target)
    if pattern == "/gesam/kit":
        kit = a.integer(0, "kit")
        if not 0 <= kit <= 127:
            raise OscError(f"/gesam/kit: kit must be in 0..127, got {kit}")
        return ProgramChange(kit)
    if pattern == "/gesam/locate":
        return Locate(_file_name(address, a.text(0, "path")))
    if pattern == "/gesam/pad/<n>/variation":
        variants = a.integer(1, "variants") if len(args) > 1 else None
        if variants is not None and not 1 <= variants <= 16:
            raise OscError(f"{address}: variants must be in 1..16, got {variants}")
        mode = a.text(2, "mode").lower() if len(args) > 2 else None
        if mode is not None and mode not in VARIATION_MODES:
            raise OscError(f"{address}: mode must be cycle or random, got {_short(args[2])!r}")
        return PadVariation(fields[0], a.num(0, "radius", 0.0, 0.5), variants, mode)
    if pattern == "/gesam/pad/<n>/layers":
        layers = a.integer(2, "layers") if len(args) > 2 else None
        if layers is not None and not 1 <= layers <= 8:
            raise OscError(f"{address}: layers must be in 1..8, got {layers}")
        return PadLayers(fields[0], a.num(0, "dx", -1.0, 1.0), a.num(1, "dy", -1.0, 1.0), layers)
    if pattern == "/gesam/pad/<n>/shape/<param>":
        lo, hi = SHAPE_RANGES[fields[1]]
        return PadShape(fields[0], fields[1], a.num(0, fields[1], lo, hi))
    if pattern == "/gesam/pad/<n>/lock":
        lock = a.integer(0, "lock")
        if lock not in (0, 1):
            raise OscError(f"{address}: lock must be 1 (lock) or 0 (free), got {lock}")
        return PadLock(fields[0], bool(lock))
    if pattern == "/gesam/kit/randomize":
        return KitRandomize()
    if pattern == "/gesam/kit/undo":
        return KitUndo()
    if pattern == "/gesam/model":
        spec = a.text(0, "model")
        if not spec or len(spec) > 1024 or any(ord(c) < 32 or ord(c) == 127 for c in spec):
            raise OscError(f"{address}: model must be a directory or a model's name (printable, at most 1024 "
                           f"characters), got {_short(spec)!r}")
        return ModelSwitch(spec)
    if pattern == "/gesam/sounds":
        return Sounds()
    raise OscError(f"{address}: no parser for {pattern}")  # unreachable while EXPECTS matches INCOMING


def _match(address: str, pads: int) -> tuple[str, tuple[Any, ...]]:
    """The INCOMING pattern ``address`` matches and the values of its <fields>."""
    if not isinstance(address, str):
        raise OscError(f"an OSC address must be a string, got {type(address).__name__}")
    if address in EXPECTS and "<" not in address:
        return address, ()
    if any(c in _PATTERN_CHARS for c in address):
        raise OscError(f"{_short(address)}: OSC address patterns (wildcards) are not supported; send one full "
                       "address per message, e.g. /gesam/pad/3/trigger")
    parts = address.split("/")
    if len(parts) in (5, 6) and parts[:3] == ["", "gesam", "pad"]:
        shape = len(parts) == 6 and parts[4] == "shape"
        if shape or (len(parts) == 5 and parts[4] in PAD_ACTIONS):
            n = parts[3]
            if not (n.isascii() and n.isdigit() and len(n) <= 3) or int(n) >= pads:
                raise OscError(f"{_short(address)}: pad must be an integer in 0..{pads - 1}, got {_short(n)!r}")
            if not shape:
                return f"/gesam/pad/<n>/{parts[4]}", (int(n),)
            if parts[5] not in SHAPE_PARAMS:
                raise OscError(f"{_short(address)}: unknown shape parameter {_short(parts[5])!r}; "
                               f"pads have {', '.join(SHAPE_PARAMS)}")
            return "/gesam/pad/<n>/shape/<param>", (int(n), parts[5])
    if len(parts) == 5 and parts[:3] == ["", "gesam", "fx"] and parts[3] and parts[4]:
        return "/gesam/fx/<effect>/<param>", (parts[3], parts[4])
    close = difflib.get_close_matches(address, [p for p in EXPECTS if "<" not in p], n=1, cutoff=0.8)
    hint = f"did you mean {close[0]}? " if close else ""
    raise OscError(f"unknown address {_short(address)!r}; {hint}send /gesam/ping to check the connection "
                   f"(answered by /gesam/pong); gesam listens on {_LISTENS}")


def _listens() -> str:
    """The address space in short: pad addresses folded into one ``/gesam/pad/<n>/{...}``."""
    pads = [p.removeprefix("/gesam/pad/<n>/") for p in EXPECTS if p.startswith("/gesam/pad/")]
    rest = [p for p in EXPECTS if not p.startswith("/gesam/pad/")]
    return ", ".join([*rest, "/gesam/pad/<n>/{" + ",".join(pads) + "}"])


_LISTENS = _listens()


def _file_name(address: str, name: str) -> str:
    """A render file name's shape (where it may go is the Controller's call: inside its folder)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or len(name) > 1024:
        raise OscError(f"{address}: file name must be printable text of at most 1024 characters, got {_short(name)!r}")
    parts = name.split("/")
    if parts[-1] in ("", ".", "..") or any(len(p.encode()) > 200 for p in parts):
        raise OscError(f"{address}: file name must end in a name (each part at most 200 bytes), e.g. kick.wav or "
                       f"takes/kick.wav; got {_short(name)!r}")
    return name


class _Args:
    """Typed access to a message's arguments with readable refusals."""

    def __init__(self, address: str, args: tuple[Any, ...]) -> None:
        self.address, self.args = address, args

    def _refuse(self, name: str, wanted: str, value: Any) -> OscError:
        return OscError(f"{_short(self.address)}: {name} must be {wanted}, got {_show_one(value)}")

    def num(self, i: int, name: str, low: float | None = None, high: float | None = None) -> float:
        v = self.args[i]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self._refuse(name, "a number", v)
        f = float(v)
        if not math.isfinite(f):
            raise self._refuse(name, "a finite number", v)
        if low is not None and high is not None and not low <= f <= high:
            raise self._refuse(name, f"in {low:g}..{high:g}", v)
        return f

    def velocity(self, i: int) -> float:
        if i >= len(self.args):
            return 1.0
        return min(max(self.num(i, "velocity"), 0.0), 1.0)

    def integer(self, i: int, name: str) -> int:
        v = self.args[i]
        if isinstance(v, float) and math.isfinite(v) and v.is_integer():
            return int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._refuse(name, "an integer", v)
        return v

    def text(self, i: int, name: str) -> str:
        v = self.args[i]
        if not isinstance(v, str) or not v:
            raise self._refuse(name, "a non-empty string", v)
        return v

    def value(self, i: int, name: str) -> float | str | bool:
        v = self.args[i]
        if isinstance(v, (bool, str)):
            return v
        return self.num(i, name)


# ---- readable values --------------------------------------------------------------------------
def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _show_one(value: Any) -> str:
    kind = {bool: "true/false", str: "string", bytes: "blob", list: "array", type(None): "nil"}.get(type(value))
    return f"{_short(repr(value), 60)} ({kind})" if kind else _short(repr(value), 60)


def _show(args: tuple[Any, ...]) -> str:
    return _short("[" + ", ".join(_short(repr(a), 40) for a in args[:8]) + (", ..." if len(args) > 8 else "") + "]",
                  200)


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"text is not valid UTF-8 (byte {exc.object[exc.start]:#04x} at {exc.start})"
    parts = [str(a) for a in exc.args if a != "Found incorrect datagram, ignoring it"] or [type(exc).__name__]
    return _short("; ".join(parts), 160)
