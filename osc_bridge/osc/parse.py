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
from osc_bridge.commands import (
    Command, FxParam, Gain, Latency, Learn, Move, Note, Panic, PadTrigger, PadXY, Ping, PitchBend, Play, ProgramChange, Render,
    Trigger,
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
    "/gesam/learn": (1, 1, "1 string (x or y)"),
    "/gesam/kit": (1, 1, "1 integer (kit 0..127)"),
}


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
            raise OscError(f"/gesam/learn target must be x or y, got {_short(args[0])!r}")
        return Learn(target)
    if pattern == "/gesam/kit":
        kit = a.integer(0, "kit")
        if not 0 <= kit <= 127:
            raise OscError(f"/gesam/kit: kit must be in 0..127, got {kit}")
        return ProgramChange(kit)
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
    if len(parts) == 5 and parts[:3] == ["", "gesam", "pad"] and parts[4] in ("xy", "trigger"):
        n = parts[3]
        if not (n.isascii() and n.isdigit() and len(n) <= 3) or int(n) >= pads:
            raise OscError(f"{_short(address)}: pad must be an integer in 0..{pads - 1}, got {_short(n)!r}")
        return f"/gesam/pad/<n>/{parts[4]}", (int(n),)
    if len(parts) == 5 and parts[:3] == ["", "gesam", "fx"] and parts[3] and parts[4]:
        return "/gesam/fx/<effect>/<param>", (parts[3], parts[4])
    close = difflib.get_close_matches(address, [p for p in EXPECTS if "<" not in p], n=1, cutoff=0.8)
    hint = f"did you mean {close[0]}? " if close else ""
    raise OscError(f"unknown address {_short(address)!r}; {hint}send /gesam/ping to check the connection "
                   f"(answered by /gesam/pong); gesam listens on {', '.join(EXPECTS)}")


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
