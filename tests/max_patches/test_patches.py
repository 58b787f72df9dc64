"""The controller patches, read as files: Max JSON, the Max for Live twin, the Pure Data twin.

Every OSC address a patch sends must be one the engine accepts (``osc_bridge.addresses.INCOMING``,
with its argument count and types), every address its feedback section routes must be one the
engine sends (``OUTGOING``), every patch cord must join an outlet and an inlet that exist, and the
controls must reach the sender along the cords.
"""

from __future__ import annotations

import json
import re
from collections import deque
from pathlib import Path
from typing import Any, Hashable, Iterable, Iterator

import pytest

from osc_bridge.addresses import INCOMING, OUTGOING

PATCHES = Path(__file__).resolve().parents[2] / "max_patches"
MAXPATS = ("gesam_xy.maxpat", "gesam_xy_m4l.maxpat")
PD_VANILLA = {"loadbang", "netsend", "netreceive", "oscformat", "oscparse", "list", "pack", "unpack", "t", "f",
              "/", "route", "notein", "stripnote", "spigot", "==", "print", "s", "r", "symbol", "openpanel",
              "hsl", "vsl", "bng", "tgl", "cnv"}
SENT = {"/gesam/xy", "/gesam/trigger", "/gesam/note", "/gesam/gain", "/gesam/kit", "/gesam/panic", "/gesam/ping",
        "/gesam/kit/randomize", "/gesam/kit/undo", "/gesam/locate", "/gesam/latency",
        *(f"/gesam/pad/{n}/trigger" for n in range(16)), *(f"/gesam/pad/{n}/lock" for n in range(16))}
ROUTED = {"/gesam/state/xy", "/gesam/state/class", "/gesam/state/ready", "/gesam/error", "/gesam/pong",
          "/gesam/state/locate", "/gesam/state/latency", "/gesam/state/kit"}


# ---- the address table -------------------------------------------------------------------------
def _regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(<\w+>)", pattern)
    body = "".join(r"\d+" if p == "<n>" else r"[A-Za-z0-9_.-]+" if p.startswith("<") else re.escape(p) for p in parts)
    return re.compile(body + "$")


def incoming(address: str) -> str | None:
    """The INCOMING pattern that ``address`` matches (``<n>`` a number, ``<effect>``/``<param>`` a name)."""
    hits = [p for p in INCOMING if _regex(p).match(address)]
    return hits[0] if hits else None


def outgoing(address: str) -> str | None:
    hits = [p for p in OUTGOING if _regex(p).match(address)]
    return hits[0] if hits else None


def check_args(address: str, args: list[str]) -> None:
    """Max message arguments against the INCOMING spec: count, and the type of literals ($N: any)."""
    pattern = incoming(address)
    assert pattern is not None, f"{address} is not an address the engine accepts (osc_bridge/addresses.py)"
    spec = INCOMING[pattern][0]
    letters = [(c, spec[i + 1: i + 2] == "?") for i, c in enumerate(spec) if c != "?"]
    required = sum(not optional for _, optional in letters)
    assert required <= len(args) <= len(letters), f"{address} {args}: expected {spec!r}"
    for arg, (letter, _) in zip(args, letters):
        if re.fullmatch(r"\$\d+", arg):
            continue
        kind = "f" if re.fullmatch(r"-?\d*\.\d*", arg) else "i" if re.fullmatch(r"-?\d+", arg) else "s"
        assert kind == letter, f"{address} {args}: {arg!r} is {kind}, the engine expects {letter} ({spec!r})"


def test_the_address_helpers() -> None:
    assert incoming("/gesam/pad/12/trigger") == "/gesam/pad/<n>/trigger"
    assert incoming("/gesam/fx/reverb/room_size") == "/gesam/fx/<effect>/<param>"
    assert incoming("/gesam/pad/x/trigger") is None and incoming("/gesam/xyz") is None
    assert outgoing("/gesam/state/pad/3/xy") == "/gesam/state/pad/<n>/xy"
    check_args("/gesam/trigger", [])
    check_args("/gesam/play", ["$1", "$2", "1."])
    for address, args in (("/gesam/xy", ["$1"]), ("/gesam/trigger", ["1"]), ("/gesam/panic", ["1."])):
        with pytest.raises(AssertionError):
            check_args(address, args)


# ---- Max -----------------------------------------------------------------------------------------
def load_max(name: str) -> dict[str, Any]:
    patcher: dict[str, Any] = json.loads((PATCHES / name).read_text())["patcher"]
    return patcher


def boxes(patcher: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["box"]["id"]: b["box"] for b in patcher["boxes"]}


def cords(patcher: dict[str, Any]) -> Iterator[tuple[str, int, str, int]]:
    for line in patcher["lines"]:
        (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        yield src, outlet, dst, inlet


def _reachable(edges: Iterable[tuple[Hashable, int, Hashable, int]], start: Hashable, goal: Hashable,
               outlet: int | None) -> bool:
    """Whether ``edges`` (source, outlet, destination, inlet) lead from ``start`` (only from its
    ``outlet``, when given) to ``goal``: breadth first."""
    graph: dict[Hashable, set[Hashable]] = {}
    for src, out, dst, _ in edges:
        if src != start or outlet is None or out == outlet:
            graph.setdefault(src, set()).add(dst)
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in graph.get(todo.popleft(), ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def reaches(patcher: dict[str, Any], start: str, goal: str, outlet: int | None = None) -> bool:
    """Whether cords lead from ``start`` (only from its ``outlet``, when given) to ``goal``."""
    return _reachable(cords(patcher), start, goal, outlet)


def find(patcher: dict[str, Any], maxclass: str, text: str | None = None) -> list[str]:
    return [i for i, b in boxes(patcher).items() if b["maxclass"] == maxclass and (text is None or b.get("text") == text)]


def max_messages(patcher: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(address, args) of every message box that sends an OSC address."""
    out = []
    for b in boxes(patcher).values():
        if b["maxclass"] == "message":
            for part in b["text"].split(";"):
                atoms = part.split()
                if atoms and atoms[0].startswith("/"):
                    out.append((atoms[0], atoms[1:]))
    return out


@pytest.mark.parametrize("name", MAXPATS)
def test_max_patch_is_a_valid_patcher(name: str) -> None:
    p = load_max(name)
    assert p["fileversion"] == 1 and p["appversion"]["major"] == 8
    assert len(p["rect"]) == 4 and all(isinstance(v, float) for v in p["rect"])
    ids = [b["box"]["id"] for b in p["boxes"]]
    assert len(ids) == len(set(ids))
    bx = boxes(p)
    for b in bx.values():
        assert {"id", "maxclass", "numinlets", "numoutlets", "patching_rect"} <= set(b)
        assert len(b.get("outlettype", [])) in (0, b["numoutlets"])
    for src, outlet, dst, inlet in cords(p):
        assert src in bx and dst in bx
        assert 0 <= outlet < bx[src]["numoutlets"], (src, outlet)
        assert 0 <= inlet < bx[dst]["numinlets"], (dst, inlet)
    comments = [b for b in bx.values() if b["maxclass"] == "comment"]
    assert len(comments) >= 10  # each section explains itself


@pytest.mark.parametrize("name", MAXPATS)
def test_max_patch_sends_only_addresses_the_engine_accepts(name: str) -> None:
    p = load_max(name)
    messages = max_messages(p)
    for address, args in messages:
        check_args(address, args)
    assert {a for a, _ in messages} == SENT
    texts = [b.get("text", "") for b in boxes(p).values() if b["maxclass"] not in ("message", "comment")]
    assert not [t for t in texts if "/gesam/" in t and not t.startswith("route ")]


@pytest.mark.parametrize("name", MAXPATS)
def test_max_patch_ports_and_wiring(name: str) -> None:
    p = load_max(name)
    bx = boxes(p)
    [send] = [i for i, b in bx.items() if b.get("text", "").startswith("udpsend")]
    assert bx[send]["text"] == "udpsend 127.0.0.1 9000"
    [recv] = find(p, "newobj", "udpreceive 9001")
    assert not [b for b in bx.values() if b.get("text", "").startswith("udpreceive") and b["id"] != recv]
    for i, b in bx.items():  # every OSC message box is wired to the sender
        if b["maxclass"] == "message" and b["text"].startswith("/gesam/"):
            assert reaches(p, i, send), b["text"]
    [pad] = find(p, "pictslider")
    assert (bx[pad]["leftvalue"], bx[pad]["rightvalue"]) == (0, 1000)
    assert (bx[pad]["bottomvalue"], bx[pad]["topvalue"]) == (0, 1000)  # y up, as on the map
    [xy] = find(p, "message", "/gesam/xy $1 $2")
    assert reaches(p, pad, xy)
    [notein] = find(p, "newobj", "notein")
    for text in ("/gesam/note $1 $2",):
        assert reaches(p, notein, find(p, "message", text)[0])
    assert any(reaches(p, notein, t) for t in find(p, "message", "/gesam/trigger $1"))
    per127 = find(p, "newobj", "/ 127.")
    assert per127 and reaches(p, notein, per127[0])  # velocity 0..127 -> 0..1
    for n in range(16):
        [m] = find(p, "message", f"/gesam/pad/{n}/trigger 1.")
        assert any(reaches(p, b, m) for b in find(p, "button"))


@pytest.mark.parametrize("name", MAXPATS)
def test_max_feedback_routes_only_outgoing_addresses(name: str) -> None:
    p = load_max(name)
    [recv] = find(p, "newobj", "udpreceive 9001")
    routes = [i for i, b in boxes(p).items() if b.get("text", "").startswith("route ")]
    routed = set()
    for r in routes:
        assert reaches(p, recv, r)
        for arg in boxes(p)[r]["text"].split()[1:]:
            assert outgoing(arg), f"{arg} is not an address the engine sends (OUTGOING)"
            routed.add(arg)
    assert routed == ROUTED
    [panel] = find(p, "panel")
    assert reaches(p, recv, panel)  # coloured from /gesam/state/class
    displays = [i for i, b in boxes(p).items() if b["maxclass"] == "message" and b["text"] == ""]
    assert len(displays) == 4 and all(reaches(p, recv, d) for d in displays)  # class, error, located class, kit


def _route_outlets(p: dict[str, Any]) -> tuple[str, dict[str, int]]:
    """The feedback [route] and its outlet per address ("": the last, anything else)."""
    [route] = [i for i, b in boxes(p).items() if b.get("text", "").startswith("route /gesam/")]
    names = boxes(p)[route]["text"].split()[1:]
    return route, {**{a: k for k, a in enumerate(names)}, "": len(names)}


@pytest.mark.parametrize("name", MAXPATS)
def test_max_feedback_shows_locate_latency_and_kit(name: str) -> None:
    p = load_max(name)
    bx = boxes(p)
    route, out = _route_outlets(p)
    for address, other in (("/gesam/state/locate", "/gesam/state/xy"), ("/gesam/state/xy", "/gesam/state/locate")):
        # a located file moves the cursor's number boxes, as /gesam/state/xy does
        cursor = [f for f in find(p, "flonum") if reaches(p, route, f, out[other])]
        assert len(cursor) == 2 and all(reaches(p, route, f, out[address]) for f in cursor)
    displays = [i for i, b in bx.items() if b["maxclass"] == "message" and b["text"] == ""]
    located = [d for d in displays if reaches(p, route, d, out["/gesam/state/locate"])]
    kit = [d for d in displays if reaches(p, route, d, out["/gesam/state/kit"])]
    assert len(located) == 1 and len(kit) == 1 and located != kit
    assert [bx[i]["text"] for i in find(p, "newobj") if reaches(p, route, i, out["/gesam/state/kit"])
            and bx[i]["text"].startswith("unpack")] == ["unpack 0 s"]  # program, name: the name is shown
    latency = [f for f in find(p, "flonum") if reaches(p, route, f, out["/gesam/state/latency"])]
    assert len(latency) == 2  # trigger and timed trigger ms
    [ask] = find(p, "message", "/gesam/latency")
    [send] = find(p, "newobj", "udpsend 127.0.0.1 9000")
    assert reaches(p, ask, send)
    [other] = find(p, "newobj", "print gesam-feedback")
    assert reaches(p, route, other, out[""]) and not any(
        reaches(p, route, other, k) for k in range(out[""]))  # only what the route does not name


@pytest.mark.parametrize("name", MAXPATS)
def test_max_kit_controls_and_the_dropped_file(name: str) -> None:
    p = load_max(name)
    bx = boxes(p)
    [send] = find(p, "newobj", "udpsend 127.0.0.1 9000")
    for address in ("/gesam/kit/randomize", "/gesam/kit/undo"):
        [m] = find(p, "message", address)
        assert any(reaches(p, b, m) for b in find(p, "button")) and reaches(p, m, send)
    toggles = find(p, "toggle")
    for n in range(16):
        [m] = find(p, "message", f"/gesam/pad/{n}/lock $1")
        assert [t for t in toggles if reaches(p, t, m)] and reaches(p, m, send)  # a toggle sends 0 or 1
    assert len({t for n in range(16) for t in toggles if reaches(p, t, find(p, "message", f"/gesam/pad/{n}/lock $1")[0])}) == 16
    [drop] = find(p, "dropfile")
    [conform] = find(p, "newobj", "conformpath slash boot")  # Max's path -> the system's own
    [locate] = find(p, "message", "/gesam/locate $1")
    assert reaches(p, drop, conform, 0) and reaches(p, conform, locate, 0) and reaches(p, locate, send)
    assert not reaches(p, drop, locate, 1)  # the file type (right outlet) is not sent
    if name.endswith("_m4l.maxpat"):  # the device shows them
        shown = [*find(p, "dropfile"), *toggles, *find(p, "button")]
        assert all(bx[i].get("presentation") == 1 for i in shown)


def test_m4l_twin_has_automatable_parameters() -> None:
    p = load_max("gesam_xy_m4l.maxpat")
    bx = boxes(p)
    params = {b["saved_attribute_attributes"]["valueof"]["parameter_longname"]: b for b in bx.values()
              if b["maxclass"] in ("live.dial", "live.numbox") and b.get("parameter_enable") == 1}
    assert set(params) == {"X", "Y", "Velocity", "Gain"}
    ranges = {"X": (0, 1), "Y": (0, 1), "Velocity": (0, 1), "Gain": (0, 4)}
    for name, b in params.items():
        v = b["saved_attribute_attributes"]["valueof"]
        assert b["varname"] == name and v["parameter_shortname"] == name
        assert (v["parameter_mmin"], v["parameter_mmax"]) == ranges[name]
        assert v["parameter_type"] == 0 and v["parameter_initial_enable"] == 1
        assert b.get("presentation") == 1  # visible in the device
        assert p["parameters"][b["id"]] == [name, name, 0]
    [xy] = find(p, "message", "/gesam/xy $1 $2")
    assert reaches(p, params["X"]["id"], xy) and reaches(p, params["Y"]["id"], xy)
    [gain] = find(p, "message", "/gesam/gain $1")
    assert reaches(p, params["Gain"]["id"], gain)
    assert any(reaches(p, params["Velocity"]["id"], t) for t in find(p, "message", "/gesam/trigger $1"))
    [device] = find(p, "newobj", "live.thisdevice")
    assert reaches(p, device, find(p, "message", "/gesam/ping")[0])
    assert reaches(p, find(p, "newobj", "midiin")[0], find(p, "newobj", "midiout")[0])  # MIDI passes through
    assert p["openinpresentation"] == 1


def _overlaps(rects: list[tuple[str, list[float]]]) -> list[tuple[str, str]]:
    return [(a, b) for i, (a, r) in enumerate(rects) for b, q in rects[i + 1:]
            if r[0] < q[0] + q[2] and q[0] < r[0] + r[2] and r[1] < q[1] + q[3] and q[1] < r[1] + r[3]]


@pytest.mark.parametrize("name", MAXPATS)
def test_max_boxes_do_not_overlap(name: str) -> None:
    p = load_max(name)
    assert _overlaps([(i, b["patching_rect"]) for i, b in boxes(p).items()]) == []
    shown = [(i, b["presentation_rect"]) for i, b in boxes(p).items() if b.get("presentation")]
    assert _overlaps(shown) == []
    if shown:  # the device view fits Live's device height (169 px)
        assert max(r[1] + r[3] for _, r in shown) <= 169 and max(r[0] + r[2] for _, r in shown) <= p["devicewidth"]


def test_plain_max_patch_has_no_live_objects() -> None:
    p = load_max("gesam_xy.maxpat")
    assert not [b for b in boxes(p).values() if b["maxclass"].startswith("live.") or b.get("text", "").startswith("live.")]


# ---- Pure Data -----------------------------------------------------------------------------------
def pd_records(text: str) -> list[list[str]]:
    """Pd file records (split at unescaped ';'), each as atoms; escaped ';' ',' '$' kept as written."""
    assert text.endswith(";\n"), "a Pd file ends its last record with ';'"
    records = [r.strip() for r in re.split(r"(?<!\\);\s*\n", text) if r.strip()]
    return [re.split(r"(?<!\\)\s+", r) for r in records]


def pd_objects(text: str) -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """The canvas's boxes in creation order (as their ``#X`` atoms) and its cords."""
    items, cords_ = [], []
    for atoms in pd_records(text):
        assert atoms[0] in ("#N", "#X"), atoms
        if atoms[0] == "#X" and atoms[1] == "connect":
            cords_.append(tuple(int(a) for a in atoms[2:6]))
        elif atoms[0] == "#X":
            items.append(atoms)
    return items, cords_  # type: ignore[return-value]


PD_TEXT = (PATCHES / "gesam_xy.pd").read_text()


def _pd_class(atoms: list[str]) -> str:
    return atoms[4] if atoms[1] == "obj" else atoms[1]


def test_pd_twin_parses_and_uses_vanilla_objects_only() -> None:
    assert PD_TEXT.startswith("#N canvas ")
    items, cords_ = pd_objects(PD_TEXT)
    classes = {_pd_class(a) for a in items}
    assert classes - {"msg", "text", "floatatom", "symbolatom"} <= PD_VANILLA
    for src, outlet, dst, inlet in cords_:
        assert 0 <= src < len(items) and 0 <= dst < len(items)
        assert items[src][1] != "text" and items[dst][1] != "text"
    assert len([a for a in items if a[1] == "text"]) >= 6  # each section explains itself


def pd_osc_addresses(text: str) -> list[tuple[str, str]]:
    """(address, format) of every [oscformat] (address parts are its arguments after ``-f fmt``)."""
    out = []
    for atoms in pd_objects(text)[0]:
        if atoms[1] == "obj" and atoms[4] == "oscformat":
            args = atoms[5:]
            fmt = ""
            if args[:1] == ["-f"]:
                fmt, args = args[1], args[2:]
            out.append(("/" + "/".join(args), fmt))
    return out


def test_pd_twin_sends_only_addresses_the_engine_accepts() -> None:
    found = pd_osc_addresses(PD_TEXT)
    for address, fmt in found:
        pattern = incoming(address)
        assert pattern is not None, f"{address} is not an address the engine accepts"
        if fmt:
            assert fmt == INCOMING[pattern][0].replace("?", ""), (address, fmt)
    assert {a for a, _ in found} == SENT
    items, _ = pd_objects(PD_TEXT)
    msgs = [" ".join(a[4:]) for a in items if a[1] == "msg"]
    assert "connect 127.0.0.1 9000" in msgs
    assert [a[4:] for a in items if a[1] == "obj" and a[4] in ("netsend", "netreceive")] == [
        ["netsend", "-u", "-b"], ["netreceive", "-u", "-b", "9001"]]


def pd_routed(text: str) -> tuple[set[str], set[str]]:
    """Addresses the feedback routes, walking the cords from [oscparse] through [list trim] and [route]s.

    Returns (every routed address, those whose outlet leads somewhere other than another route).
    """
    items, cords_ = pd_objects(text)
    outs: dict[tuple[int, int], list[int]] = {}
    for src, outlet, dst, _ in cords_:
        outs.setdefault((src, outlet), []).append(dst)
    cls = [(_pd_class(a), a[5:] if a[1] == "obj" else []) for a in items]
    routed, final = set(), set()
    todo: deque[tuple[int, tuple[str, ...]]] = deque(
        (d, ()) for i, (c, _) in enumerate(cls) if c == "oscparse" for d in outs.get((i, 0), []))
    while todo:
        i, prefix = todo.popleft()
        name, args = cls[i]
        if name == "list" and args == ["trim"]:
            todo.extend((d, prefix) for d in outs.get((i, 0), []))
        elif name == "route":
            for k, arg in enumerate(args):
                address = "/" + "/".join((*prefix, arg))
                routed.add(address)
                targets = outs.get((i, k), [])
                if not targets or any(cls[d][0] != "route" for d in targets):
                    final.add(address)
                todo.extend((d, (*prefix, arg)) for d in targets)
    return routed, final


def test_pd_feedback_routes_only_outgoing_addresses() -> None:
    routed, final = pd_routed(PD_TEXT)
    for address in final:
        assert outgoing(address), f"{address} is not an address the engine sends (OUTGOING)"
    for address in routed - final:  # the prefixes on the way
        assert any(p.startswith(address + "/") for p in OUTGOING), address
    assert ROUTED <= final


def pd_reaches(text: str, start: int, goal: int, outlet: int | None = None) -> bool:
    """Whether cords lead from box ``start`` (only from its ``outlet``, when given) to box ``goal``."""
    return _reachable(pd_objects(text)[1], start, goal, outlet)


def pd_find(text: str, prefix: str) -> list[int]:
    """Boxes whose ``#X`` atoms after the position start with ``prefix`` (``obj bng``, ``obj r gesam-locate``)."""
    items, _ = pd_objects(text)
    want = prefix.split()
    return [i for i, a in enumerate(items) if [a[1], *a[4:]][:len(want)] == want]


def _pd_receiving(text: str, kind: str, receive: str) -> int:
    """The [bng]/[tgl] that listens on ``receive`` (its receive name: argument 4 of a tgl, 6 of a bng)."""
    items, _ = pd_objects(text)
    at = {"tgl": 8, "bng": 10}[kind]
    [box] = [i for i in pd_find(text, f"obj {kind}") if items[i][at] == receive]
    return box


def test_pd_kit_controls_and_locate_reach_their_addresses() -> None:
    [randomize] = pd_find(PD_TEXT, "obj oscformat gesam kit randomize")
    [undo] = pd_find(PD_TEXT, "obj oscformat gesam kit undo")
    assert pd_reaches(PD_TEXT, _pd_receiving(PD_TEXT, "bng", "gesam-randomize"), randomize)
    assert pd_reaches(PD_TEXT, _pd_receiving(PD_TEXT, "bng", "gesam-undo"), undo)
    assert not pd_reaches(PD_TEXT, _pd_receiving(PD_TEXT, "bng", "gesam-randomize"), undo)
    for n in range(16):
        [lock] = pd_find(PD_TEXT, f"obj oscformat -f i gesam pad {n} lock")
        assert pd_reaches(PD_TEXT, _pd_receiving(PD_TEXT, "tgl", f"gesam-lock-{n}"), lock)
    [locate] = pd_find(PD_TEXT, "obj oscformat -f s gesam locate")
    [panel] = pd_find(PD_TEXT, "obj openpanel")
    [recv] = pd_find(PD_TEXT, "obj r gesam-locate")
    assert pd_reaches(PD_TEXT, _pd_receiving(PD_TEXT, "bng", "gesam-locate-open"), panel)
    assert pd_reaches(PD_TEXT, panel, locate) and pd_reaches(PD_TEXT, recv, locate)
    [latency] = pd_find(PD_TEXT, "obj oscformat gesam latency")
    assert pd_reaches(PD_TEXT, _pd_receiving(PD_TEXT, "bng", "gesam-latency"), latency)


def test_pd_feedback_moves_the_cursor_on_locate_and_shows_latency_and_kit() -> None:
    items, _ = pd_objects(PD_TEXT)
    [state] = pd_find(PD_TEXT, "obj route xy class")
    names = items[state][5:]
    outlet = {a: k for k, a in enumerate(names)}
    [st_xy] = [i for i in pd_find(PD_TEXT, "obj unpack f f") if pd_reaches(PD_TEXT, state, i, outlet["xy"])
               and items[i][5:] == ["f", "f"]]
    assert pd_reaches(PD_TEXT, state, st_xy, outlet["locate"])  # the sliders, stores and numbers move alike
    shown = [i for i, a in enumerate(items) if a[1] == "symbolatom"]
    assert [i for i in shown if pd_reaches(PD_TEXT, state, i, outlet["locate"])]  # the class
    assert [i for i in shown if pd_reaches(PD_TEXT, state, i, outlet["kit"])]  # the kit's name
    numbers = [i for i, a in enumerate(items) if a[1] == "floatatom" and pd_reaches(PD_TEXT, state, i, outlet["latency"])]
    assert len(numbers) == 2  # trigger and timed trigger ms
    for name, printer in (("locate", "gesam-located"), ("kit", "gesam-kit")):
        [box] = pd_find(PD_TEXT, f"obj print {printer}")
        assert pd_reaches(PD_TEXT, state, box, outlet[name])
    [other] = pd_find(PD_TEXT, "obj print gesam-state")
    assert pd_reaches(PD_TEXT, state, other, len(names))  # only what the route does not name prints
    assert not any(pd_reaches(PD_TEXT, state, other, k) for k in range(len(names)))


# ---- the generator ------------------------------------------------------------------------------
def test_checked_in_patches_match_the_generator() -> None:
    from max_patches import FEEDBACK_ROUTES, make_patches

    for name, build in make_patches.OUTPUTS.items():
        assert (PATCHES / name).read_text() == build(), f"run python -m max_patches.make_patches ({name} is stale)"
    assert set(FEEDBACK_ROUTES) == ROUTED
    assert make_patches.main(["--check"]) == 0
