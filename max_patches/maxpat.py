"""The Max patcher (``gesam_xy.maxpat``) and its Max for Live twin (``gesam_xy_m4l.maxpat``) as JSON.

A small builder adds boxes and patch cords; ``connect`` refuses an outlet or inlet the box does
not have, so the files never hold a dangling cord.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from max_patches import FEEDBACK_PORT, FEEDBACK_ROUTES, N_PADS, SEND_HOST, SEND_PORT

# hex colour "#rrggbb" (as ASCII codes after the '#') -> one value 0..15 per digit, upper or lower case
HEX_DIGITS = "vexpr ($i1 - 48) - ($i1 > 64) * 7 - ($i1 > 96) * 32"
FEEDBACK_Y = 640  # top of the feedback section
KIT_X = 1330  # the right-hand column: kit (randomize, undo, locks) above, locate below
DEVICE_WIDTH = 960.0  # the Max for Live device's width (its kit and locate column starts at 690)

Rect = tuple[float, float, float, float]
Present = Callable[[float, float, float, float], Rect | None]


def _max_io(text: str) -> tuple[int, int, list[str]]:
    """(inlets, outlets, outlet types) of a Max object box from its text."""
    name, *args = text.split()
    n = len(args)
    table: dict[str, tuple[int, int, list[str]]] = {
        "udpsend": (1, 0, []), "udpreceive": (1, 1, [""]), "loadbang": (1, 1, ["bang"]),
        "loadmess": (1, 1, [""]), "prepend": (1, 1, [""]), "append": (1, 1, [""]), "print": (1, 0, []),
        "notein": (1, 3, ["int", "int", "int"]), "stripnote": (2, 2, ["int", "int"]),
        "midiin": (1, 1, ["int"]), "midiout": (1, 0, []), "atoi": (3, 1, ["list"]), "zl": (2, 2, ["", ""]),
        "f": (2, 1, ["float"]), "+": (2, 1, ["int"]), "/": (2, 1, ["float"]),
        "live.thisdevice": (1, 3, ["bang", "int", "int"]), "conformpath": (1, 2, ["", "int"]),
        # the sampler device's (sampler_max.py)
        "buffer~": (1, 2, ["float", "bang"]), "play~": (1, 2, ["signal", "bang"]), "*~": (2, 1, ["signal"]),
        "plugout~": (2, 2, ["signal", "signal"]),
    }
    if name in table:
        return table[name]
    if name in ("t", "trigger"):
        kinds = {"b": "bang", "f": "float", "i": "int", "l": "list", "s": ""}
        return 1, n, [kinds.get(a, "") for a in args]
    if name == "route":
        return 2, n + 1, [""] * (n + 1)
    if name in ("pak", "pack"):
        return n, 1, [""]
    if name == "unpack":
        return 1, n, ["float" if a.endswith(".") else "int" if a.lstrip("-").isdigit() else "" for a in args]
    if name == "gate":
        return 2, int(args[0]), [""] * int(args[0])
    if name in ("expr", "vexpr"):
        return max(int(i) for i in re.findall(r"\$[if](\d+)", text)), 1, [""]
    raise ValueError(f"make_patches: add the inlets/outlets of [{name}] to _max_io")


UI_IO: dict[str, tuple[int, int, list[str]]] = {
    "pictslider": (2, 2, ["int", "int"]), "button": (1, 1, ["bang"]), "toggle": (1, 1, ["int"]),
    "flonum": (1, 2, ["", "bang"]), "number": (1, 2, ["", "bang"]), "message": (2, 1, [""]),
    "comment": (1, 0, []), "panel": (1, 0, []), "live.dial": (1, 2, ["", "float"]),
    "live.numbox": (1, 2, ["", "float"]), "dropfile": (1, 2, ["", ""]),
}


class MaxPatch:
    """Boxes and patch cords of a Max patcher; ``connect`` checks outlet and inlet numbers."""

    def __init__(self) -> None:
        self.boxes: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []
        self._io: dict[str, tuple[int, int]] = {}

    def _add(self, maxclass: str, rect: tuple[float, float, float, float], io: tuple[int, int, list[str]],
             present: tuple[float, float, float, float] | None = None, **attrs: Any) -> str:
        box_id = f"obj-{len(self.boxes) + 1}"
        box: dict[str, Any] = {"id": box_id, "maxclass": maxclass, "numinlets": io[0], "numoutlets": io[1]}
        if io[2]:
            box["outlettype"] = io[2]
        box["patching_rect"] = [float(v) for v in rect]
        if present is not None:
            box["presentation"] = 1
            box["presentation_rect"] = [float(v) for v in present]
        box.update(attrs)
        self.boxes.append({"box": dict(sorted(box.items()))})
        self._io[box_id] = (io[0], io[1])
        return box_id

    def obj(self, text: str, x: float, y: float, w: float | None = None, **attrs: Any) -> str:
        return self._add("newobj", (x, y, w or 8 + 7 * len(text), 22), _max_io(text), text=text, **attrs)

    def msg(self, text: str, x: float, y: float, w: float | None = None, **attrs: Any) -> str:
        return self._add("message", (x, y, w or 12 + 7 * len(text), 22), UI_IO["message"], text=text, **attrs)

    def comment(self, text: str, x: float, y: float, w: float = 220, lines: int = 1, **attrs: Any) -> str:
        if lines > 1:
            attrs["linecount"] = lines
        return self._add("comment", (x, y, w, 6 + 14 * lines), UI_IO["comment"], text=text, **attrs)

    def ui(self, maxclass: str, rect: tuple[float, float, float, float], **attrs: Any) -> str:
        return self._add(maxclass, rect, UI_IO[maxclass], **attrs)

    def connect(self, src: str, outlet: int, dst: str, inlet: int) -> None:
        if not 0 <= outlet < self._io[src][1] or not 0 <= inlet < self._io[dst][0]:
            raise ValueError(f"make_patches: no cord from {src} outlet {outlet} to {dst} inlet {inlet}")
        self.lines.append({"patchline": {"destination": [dst, inlet], "source": [src, outlet]}})

    def patcher(self, rect: tuple[float, float, float, float], presentation: bool = False,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
        p: dict[str, Any] = {
            "fileversion": 1,
            "appversion": {"major": 8, "minor": 6, "revision": 0, "architecture": "x64", "modernui": 1},
            "classnamespace": "box",
            "rect": [float(v) for v in rect],
            "bglocked": 0,
            "openinpresentation": int(presentation),
            "default_fontsize": 12.0, "default_fontface": 0, "default_fontname": "Arial",
            "gridonopen": 1, "gridsize": [15.0, 15.0], "gridsnaponopen": 1, "objectsnaponopen": 1,
            "statusbarvisible": 2, "toolbarvisible": 1, "lefttoolbarpinned": 0, "toptoolbarpinned": 0,
            "righttoolbarpinned": 0, "bottomtoolbarpinned": 0, "toolbars_unpinned_last_save": 0,
            "tallnewobj": 0, "boxanimatetime": 200, "enablehscroll": 1, "enablevscroll": 1,
            "devicewidth": 0.0, "description": "", "digest": "", "tags": "", "style": "",
            "subpatcher_template": "", "assistshowspatchername": 0,
            "boxes": self.boxes,
            "lines": self.lines,
        }
        p.update(extra or {})
        p["dependency_cache"] = []
        p["autosave"] = 0
        return {"patcher": p}


def _live_param(name: str, lo: float, hi: float, initial: float, **extra: Any) -> dict[str, Any]:
    """The attributes that make a live.dial/live.numbox an automatable Live parameter named ``name``."""
    return {
        "parameter_enable": 1,
        "varname": name,
        "saved_attribute_attributes": {"valueof": {
            "parameter_longname": name, "parameter_shortname": name, "parameter_type": 0,
            "parameter_mmin": lo, "parameter_mmax": hi, "parameter_initial": [initial],
            "parameter_initial_enable": 1, "parameter_unitstyle": 1, **extra,
        }},
    }


def _presentation(m4l: bool) -> Present:
    """A box's presentation rect: the rect itself in the Max for Live device, None in the plain patch."""
    def present(x: float, y: float, w: float, h: float) -> Rect | None:
        return (x, y, w, h) if m4l else None
    return present


def _header(m: MaxPatch, m4l: bool) -> str:
    """The title and the one [udpsend] every control sends through (returned)."""
    title = "gesam XY (Max for Live)" if m4l else "gesam XY"
    m.comment(f"{title}: play the gesam drum map from Max. Every control sends OSC over UDP to the engine "
              f"at {SEND_HOST}:{SEND_PORT} (gesam serve's default). Feedback (bottom) listens on {FEEDBACK_PORT}: "
              f"start the engine with --feedback 127.0.0.1:{FEEDBACK_PORT}.", 30, 10, 1000, 2, fontsize=13.0)
    send = m.obj(f"udpsend {SEND_HOST} {SEND_PORT}", 30, 590, 160)
    m.comment(f"to the engine: OSC over UDP to {SEND_HOST}:{SEND_PORT}", 200, 590, 300)
    return send


def _xy_pad(m: MaxPatch, send: str, m4l: bool) -> None:
    """1. The XY pad (in the device through the X and Y Live parameters): /gesam/xy x y."""
    P = _presentation(m4l)
    m.comment("1. XY pad: drag to move the cursor on the map (x to the right, y up, 0..1). "
              "Sends /gesam/xy x y; the engine starts making that exact sound.", 30, 60, 230, 4)
    pad = m.ui("pictslider", (30, 125, 200, 200), present=P(5, 5, 150, 150), leftvalue=0, rightvalue=1000,
               bottomvalue=0, topvalue=1000, parameter_enable=0)
    m.comment("bottomvalue 0, topvalue 1000: y grows upward, as on the map", 30, 330, 230, 2)
    sx, sy = m.obj("/ 1000.", 30, 365, 55), m.obj("/ 1000.", 130, 365, 55)
    m.connect(pad, 0, sx, 0)
    m.connect(pad, 1, sy, 0)
    xy = m.obj("pak 0. 0.", 30, 465, 100)
    if m4l:
        dx = m.ui("live.dial", (30, 400, 44, 48), present=P(160, 5, 44, 48), **_live_param("X", 0.0, 1.0, 0.5))
        dy = m.ui("live.dial", (130, 400, 44, 48), present=P(205, 5, 44, 48), **_live_param("Y", 0.0, 1.0, 0.5))
        m.comment("X, Y: Live parameters (automate or map them); the pad drives them", 180, 410, 90, 4)
        m.connect(sx, 0, dx, 0)
        m.connect(sy, 0, dy, 0)
        m.connect(dx, 0, xy, 0)
        m.connect(dy, 0, xy, 1)
    else:
        m.connect(sx, 0, xy, 0)
        m.connect(sy, 0, xy, 1)
    xy_msg = m.msg("/gesam/xy $1 $2", 30, 495)
    m.connect(xy, 0, xy_msg, 0)
    m.connect(xy_msg, 0, send, 0)


def _play(m: MaxPatch, send: str, m4l: bool) -> None:
    """2. The play button and its velocity (a Live parameter in the device): /gesam/trigger v."""
    P = _presentation(m4l)
    m.comment("2. Play: click to play the cursor's sound at this velocity (0..1). Sends /gesam/trigger v.",
              290, 60, 230, 3)
    play = m.ui("button", (290, 115, 40, 40), present=P(160, 60, 30, 30))
    if m4l:
        m.comment("play", 290, 160, 40, present=P(160, 90, 40, 20))
    vel_f = m.obj("f 1.", 290, 200, 45)
    if m4l:
        vel = m.ui("live.dial", (360, 110, 44, 48), present=P(250, 5, 44, 48),
                   **_live_param("Velocity", 0.0, 1.0, 1.0))
        m.connect(vel, 0, vel_f, 1)
    else:
        vel = m.ui("flonum", (360, 125, 60, 22), minimum=0.0, maximum=1.0, parameter_enable=0)
        init = m.obj("loadmess 1.", 360, 160, 80)
        m.comment("velocity", 425, 125, 70)
        m.connect(init, 0, vel, 0)
        m.connect(vel, 0, vel_f, 1)
    m.connect(play, 0, vel_f, 0)
    trig = m.msg("/gesam/trigger $1", 290, 230)
    m.connect(vel_f, 0, trig, 0)
    m.connect(trig, 0, send, 0)


def _midi(m: MaxPatch, send: str, m4l: bool) -> None:
    """3. MIDI in: note-ons as /gesam/trigger v, or with the toggle on as /gesam/note n v (the device
    also passes MIDI through)."""
    P = _presentation(m4l)
    m.comment("3. MIDI in: each note-on plays the cursor's sound with velocity/127 (/gesam/trigger v). "
              "Toggle on: notes go to the engine as /gesam/note n v instead (notes 36-51 play pads 0-15, "
              "others play the cursor pitched).", 290, 270, 240, 5)
    notein = m.obj("notein", 290, 350, 60)
    strip = m.obj("stripnote", 290, 380, 70)
    m.connect(notein, 0, strip, 0)
    m.connect(notein, 1, strip, 1)
    pack = m.obj("pack 0 0", 290, 410, 60)
    m.connect(strip, 0, pack, 0)
    m.connect(strip, 1, pack, 1)
    mode = m.ui("toggle", (440, 350, 24, 24), present=P(200, 64, 22, 22), parameter_enable=0)
    m.comment("-> /gesam/note", 468, 352, 90, 1, present=P(224, 60, 110, 30))
    plus = m.obj("+ 1", 440, 380, 35)
    m.connect(mode, 0, plus, 0)
    gate = m.obj("gate 2 1", 290, 440, 60)
    m.connect(plus, 0, gate, 0)
    m.connect(pack, 0, gate, 1)
    unpack = m.obj("unpack 0 0", 290, 470, 70)
    m.connect(gate, 0, unpack, 0)
    vel127 = m.obj("/ 127.", 340, 500, 50)
    m.connect(unpack, 1, vel127, 0)
    note_trig = m.msg("/gesam/trigger $1", 340, 530)
    m.connect(vel127, 0, note_trig, 0)
    m.connect(note_trig, 0, send, 0)
    note_msg = m.msg("/gesam/note $1 $2", 420, 470)
    m.connect(gate, 1, note_msg, 0)
    m.connect(note_msg, 0, send, 0)
    if m4l:
        thru_in, thru_out = m.obj("midiin", 560, 250, 50), m.obj("midiout", 560, 280, 60)
        m.connect(thru_in, 0, thru_out, 0)
        m.comment("MIDI passes through to the next device", 625, 250, 150, 2)


def _pads(m: MaxPatch, send: str, m4l: bool) -> None:
    """4. Pads 0-15 in a 4 x 4 grid, 0 at the bottom left: /gesam/pad/n/trigger 1."""
    P = _presentation(m4l)
    x0, y0 = 560, 60
    m.comment("4. Pads 0-15 (bottom row 0-3, as on a drum controller): click to play pad n with its stored "
              "point, pitch, level and choke group. Sends /gesam/pad/n/trigger 1.", x0, y0, 620, 2)
    top = 95 if not m4l else 410
    for n in range(N_PADS):
        col, row = n % 4, 3 - n // 4
        bx, by = x0 + 160 * col, top + 55 * row
        button = m.ui("button", (bx, by, 24, 24), present=P(350 + 36 * col, 5 + 36 * row, 30, 30))
        m.comment(str(n), bx + 26, by + 2, 24)
        message = m.msg(f"/gesam/pad/{n}/trigger 1.", bx, by + 26, 150)
        m.connect(button, 0, message, 0)
        m.connect(message, 0, send, 0)
    if m4l:
        m.comment("pads 0-15, 0 at the bottom left", x0, 380, 250, present=P(350, 148, 150, 18))


def _engine(m: MaxPatch, send: str, m4l: bool) -> None:
    """5. The engine: output gain, saved kit, panic, and a ping on load (or when the device loads)."""
    P = _presentation(m4l)
    ey = 330 if not m4l else 245
    ex = 560 if not m4l else 780
    m.comment("5. Engine: output gain (0..4), load saved kit n (as a MIDI program change), "
              "stop every voice, check the connection (answered by /gesam/pong).", ex, ey, 400, 2)
    if m4l:
        gain = m.ui("live.dial", (ex, ey + 40, 44, 48), present=P(295, 5, 44, 48), **_live_param("Gain", 0.0, 4.0, 1.0))
    else:
        gain = m.ui("flonum", (ex, ey + 50, 60, 22), minimum=0.0, maximum=4.0, parameter_enable=0)
        m.comment("gain", ex + 62, ey + 50, 40)
    gain_msg = m.msg("/gesam/gain $1", ex, ey + 95)
    m.connect(gain, 0, gain_msg, 0)
    m.connect(gain_msg, 0, send, 0)
    kit = m.ui("number", (ex + 120, ey + 50, 50, 22), present=P(300, 115, 40, 22), minimum=0, maximum=127,
               parameter_enable=0)
    m.comment("kit", ex + 172, ey + 50, 40, present=P(300, 138, 40, 18))
    kit_msg = m.msg("/gesam/kit $1", ex + 120, ey + 95)
    m.connect(kit, 0, kit_msg, 0)
    m.connect(kit_msg, 0, send, 0)
    panic = m.msg("/gesam/panic", ex + 230, ey + 95, present=P(160, 115, 70, 22))
    m.connect(panic, 0, send, 0)
    ping = m.msg("/gesam/ping", ex + 330, ey + 95, present=P(235, 115, 60, 22))
    m.connect(ping, 0, send, 0)
    if m4l:
        loaded = m.obj("live.thisdevice", ex + 330, ey + 40, 100)
        m.comment("device loaded: ping the engine", ex + 330, ey + 65, 200)
    else:
        loaded = m.obj("loadbang", ex + 330, ey + 50, 65)
    m.connect(loaded, 0, ping, 0)


def _kit(m: MaxPatch, send: str, m4l: bool) -> None:
    """7. Kit: Randomize (/gesam/kit/randomize), Undo (/gesam/kit/undo) and a lock toggle per pad
    (/gesam/pad/n/lock 0|1), 4 x 4 as the pads, 0 at the bottom left. In the device they sit in the
    column right of the feedback (not Live parameters: nothing here is automated)."""
    P = _presentation(m4l)
    x0, y0 = KIT_X, 60
    m.comment("7. Kit: Randomize gives every unlocked pad a new point inside its name's class region "
              "(/gesam/kit/randomize); Undo restores the pads as they were before the last kit change "
              "(/gesam/kit/undo). A locked pad keeps its point: /gesam/pad/n/lock 1 (0 frees it).", x0, y0, 620, 3)
    for k, (label, address) in enumerate((("randomize", "/gesam/kit/randomize"), ("undo", "/gesam/kit/undo"))):
        bx = x0 + 200 * k
        button = m.ui("button", (bx, y0 + 55, 24, 24), present=P(690, 120 + 24 * k, 20, 20))
        m.comment(label, bx + 26, y0 + 57, 70, present=P(712, 121 + 24 * k, 66, 18))
        message = m.msg(address, bx, y0 + 85)
        m.connect(button, 0, message, 0)
        m.connect(message, 0, send, 0)
    top = y0 + 130
    for n in range(N_PADS):
        col, row = n % 4, 3 - n // 4
        cx, cy = x0 + 160 * col, top + 55 * row
        lock = m.ui("toggle", (cx, cy, 24, 24), present=P(690 + 20 * col, 5 + 20 * row, 16, 16), parameter_enable=0)
        m.comment(f"lock {n}", cx + 26, cy + 2, 60)
        message = m.msg(f"/gesam/pad/{n}/lock $1", cx, cy + 26, 150)
        m.connect(lock, 0, message, 0)
        m.connect(message, 0, send, 0)
    if m4l:
        m.comment("locks (pad 0 bottom left)", x0 + 300, y0 + 57, 200, present=P(690, 84, 90, 34),
                  presentation_linecount=2)


def _locate(m: MaxPatch, send: str, m4l: bool) -> None:
    """8. Query by example: an audio file dropped on [dropfile] goes out as /gesam/locate s path, its
    path made one the engine's operating system opens ([conformpath slash boot])."""
    P = _presentation(m4l)
    x0, y0 = KIT_X, 420
    m.comment("8. Query by example: drop an audio file (WAV, AIFF, FLAC, OGG, MP3) from the Finder or Explorer "
              "on the box below. Sends /gesam/locate path; the engine moves the cursor to where that sound lies "
              "on the map (feedback: the located class, and the cursor).", x0, y0, 620, 3)
    drop = m.ui("dropfile", (x0, y0 + 55, 200, 60), present=P(785, 5, 170, 36))
    m.comment("drop a sound file here", x0 + 210, y0 + 75, 160, present=P(785, 43, 170, 18))
    conform = m.obj("conformpath slash boot", x0, y0 + 125, 150)
    m.connect(drop, 0, conform, 0)
    m.comment("dropfile gives Max's path (Macintosh HD:/Users/me/kick.wav), which the engine cannot open. "
              "slash boot makes it the system's own: /Users/me/kick.wav on macOS (other disks: /Volumes/Disk/...), "
              "and a forward-slash path on Windows, which Python opens too. (native is documented as the old "
              "colon style on macOS, so it is not used.)", x0 + 160, y0 + 125, 460, 5)
    locate = m.msg("/gesam/locate $1", x0, y0 + 185)
    m.connect(conform, 0, locate, 0)
    m.connect(locate, 0, send, 0)


def _route_outlet(address: str) -> int:
    """The feedback [route]'s outlet for ``address`` (FEEDBACK_ROUTES' order; the last one: anything else)."""
    return FEEDBACK_ROUTES.index(address) if address else len(FEEDBACK_ROUTES)


def _feedback(m: MaxPatch, send: str, m4l: bool) -> None:
    """6. Feedback from the engine: [udpreceive] into one [route] (FEEDBACK_ROUTES' order), whose
    outlets feed the cursor, the class, the ready/error/pong indicators, the located file's class,
    the latency and the kit."""
    fy = FEEDBACK_Y
    m.comment(f"6. Feedback from the engine on UDP {FEEDBACK_PORT} (gesam serve --feedback 127.0.0.1:{FEEDBACK_PORT}): "
              "the cursor, the sound class under it (name and colour), a flash when the exact sound is "
              "ready, the reason for any refused message, the answer to a ping, where a dropped file landed, "
              "the engine's latency and the kit loaded.", 30, fy, 1000, 2)
    recv = m.obj(f"udpreceive {FEEDBACK_PORT}", 30, fy + 45, 120)
    route = m.obj("route " + " ".join(FEEDBACK_ROUTES), 30, fy + 75, 1000)
    m.connect(recv, 0, route, 0)
    fx, fyb = _feedback_cursor(m, route)
    _feedback_class(m, route, m4l)
    _feedback_status(m, route, m4l)
    _feedback_located(m, route, fx, fyb, m4l)
    _feedback_latency(m, route, send, m4l)
    _feedback_kit(m, route, m4l)


def _feedback_cursor(m: MaxPatch, route: str) -> tuple[str, str]:
    """The cursor x, y from /gesam/state/xy (route outlet 0) in two number boxes (returned)."""
    fy = FEEDBACK_Y
    st_xy = m.obj("unpack 0. 0.", 30, fy + 110, 80)
    m.connect(route, _route_outlet("/gesam/state/xy"), st_xy, 0)
    fx = m.ui("flonum", (30, fy + 140, 60, 22), parameter_enable=0)
    fyb = m.ui("flonum", (95, fy + 140, 60, 22), parameter_enable=0)
    m.connect(st_xy, 0, fx, 0)
    m.connect(st_xy, 1, fyb, 0)
    m.comment("cursor x, y", 30, fy + 165, 120)
    return fx, fyb


def _feedback_located(m: MaxPatch, route: str, fx: str, fyb: str, m4l: bool) -> None:
    """/gesam/state/locate x y class: the class shown ("located: kick"), x and y into the cursor's
    number boxes, as /gesam/state/xy does."""
    P = _presentation(m4l)
    fy = FEEDBACK_Y
    located = m.obj("unpack 0. 0. s", 30, fy + 200, 100)
    m.connect(route, _route_outlet("/gesam/state/locate"), located, 0)
    m.connect(located, 0, fx, 0)
    m.connect(located, 1, fyb, 0)
    shown = m.obj("prepend set located:", 140, fy + 200, 130)
    m.connect(located, 2, shown, 0)
    text = m.msg("", 30, fy + 230, 270, present=P(785, 63, 170, 22))
    m.connect(shown, 0, text, 0)
    m.comment("the class of the dropped file (the cursor moves to its x, y)", 30, fy + 255, 280, 2)


def _feedback_latency(m: MaxPatch, route: str, send: str, m4l: bool) -> None:
    """/gesam/state/latency: trigger and timed trigger ms (the first two of six) in number boxes, and a
    /gesam/latency message that asks for them (the engine also sends them when its output opens)."""
    P = _presentation(m4l)
    fy = FEEDBACK_Y
    latency = m.obj("unpack 0. 0. 0. 0. 0. 0.", 700, fy + 260, 160)
    m.connect(route, _route_outlet("/gesam/state/latency"), latency, 0)
    trig = m.ui("flonum", (700, fy + 290, 60, 22), present=P(785, 115, 50, 22), parameter_enable=0)
    timed = m.ui("flonum", (765, fy + 290, 60, 22), present=P(838, 115, 50, 22), parameter_enable=0)
    m.connect(latency, 0, trig, 0)
    m.connect(latency, 1, timed, 0)
    m.comment("engine latency ms: trigger, timed", 830, fy + 290, 210, present=P(891, 115, 66, 34),
              **({"presentation_linecount": 2} if m4l else {}))
    ask = m.msg("/gesam/latency", 870, fy + 260, present=P(785, 141, 100, 22))
    m.connect(ask, 0, send, 0)


def _feedback_kit(m: MaxPatch, route: str, m4l: bool) -> None:
    """/gesam/state/kit program name: the name shown ("kit: 808"), after a load, randomize or undo."""
    P = _presentation(m4l)
    fy = FEEDBACK_Y
    kit = m.obj("unpack 0 s", 700, fy + 330, 70)
    m.connect(route, _route_outlet("/gesam/state/kit"), kit, 0)
    shown = m.obj("prepend set kit:", 780, fy + 330, 110)
    m.connect(kit, 1, shown, 0)
    text = m.msg("", 700, fy + 360, 200, present=P(785, 89, 170, 22))
    m.connect(shown, 0, text, 0)
    m.comment("kit loaded, randomised or undone", 905, fy + 360, 220)


def _feedback_class(m: MaxPatch, route: str, m4l: bool) -> None:
    """The class from /gesam/state/class: name and colour as text, and the colour (#rrggbb parsed into
    RGB 0..1) on a panel."""
    P = _presentation(m4l)
    fy = FEEDBACK_Y
    cls_set = m.obj("prepend set", 170, fy + 110, 80)
    m.connect(route, _route_outlet("/gesam/state/class"), cls_set, 0)
    cls_text = m.msg("", 170, fy + 140, 150, present=P(500, 40, 150, 22))
    m.connect(cls_set, 0, cls_text, 0)
    m.comment("class (name colour)", 170, fy + 165, 150)
    nth = m.obj("zl nth 2", 330, fy + 110, 60)
    m.connect(route, _route_outlet("/gesam/state/class"), nth, 0)
    atoi = m.obj("atoi", 330, fy + 140, 40)
    m.connect(nth, 0, atoi, 0)
    drop_hash = m.obj("zl slice 1", 330, fy + 170, 70)
    m.connect(atoi, 0, drop_hash, 0)
    digits = m.obj(HEX_DIGITS, 330, fy + 200, 330)
    m.connect(drop_hash, 1, digits, 0)
    six = m.obj("unpack 0 0 0 0 0 0", 330, fy + 230, 130)
    m.connect(digits, 0, six, 0)
    rgb = m.obj("pack 0 0 0", 330, fy + 290, 90)
    for k in range(3):
        byte = m.obj("expr $i1 * 16 + $i2", 330 + 110 * k, fy + 260, 105)
        m.connect(six, 2 * k, byte, 0)
        m.connect(six, 2 * k + 1, byte, 1)
        m.connect(byte, 0, rgb, k)
    unit = m.obj("vexpr $f1 / 255. @scalarmode 1", 330, fy + 320, 200)
    m.connect(rgb, 0, unit, 0)
    alpha = m.obj("append 1.", 330, fy + 350, 70)
    m.connect(unit, 0, alpha, 0)
    fill = m.obj("prepend bgfillcolor", 330, fy + 380, 125)
    m.connect(alpha, 0, fill, 0)
    panel = m.ui("panel", (470, fy + 350, 120, 50), present=P(500, 5, 150, 30), mode=0,
                 bgcolor=[0.5, 0.5, 0.5, 1.0], bgfillcolor_type="color", bgfillcolor_color=[0.5, 0.5, 0.5, 1.0])
    m.connect(fill, 0, panel, 0)
    m.comment("class colour (#rrggbb -> RGB 0..1)", 470, fy + 405, 220)


def _feedback_status(m: MaxPatch, route: str, m4l: bool) -> None:
    """Ready flashes a button, an error shows and prints its reason, pong flashes a button, anything
    the route does not name prints to the Max console."""
    P = _presentation(m4l)
    fy = FEEDBACK_Y
    ready = m.ui("button", (700, fy + 110, 24, 24), present=P(500, 140, 20, 20))
    m.connect(route, _route_outlet("/gesam/state/ready"), ready, 0)
    m.comment("ready", 726, fy + 112, 60, present=P(522, 140, 40, 18))
    err_set = m.obj("prepend set", 790, fy + 110, 80)
    m.connect(route, _route_outlet("/gesam/error"), err_set, 0)
    err_text = m.msg("", 790, fy + 140, 300, present=P(500, 65, 180, 70))
    m.connect(err_set, 0, err_text, 0)
    err_print = m.obj("print gesam-error", 880, fy + 110, 115)
    m.connect(route, _route_outlet("/gesam/error"), err_print, 0)
    m.comment("error: why the engine refused a message", 790, fy + 165, 300)
    pong = m.ui("button", (1010, fy + 110, 24, 24), present=P(570, 140, 20, 20))
    m.connect(route, _route_outlet("/gesam/pong"), pong, 0)
    m.comment("pong", 1036, fy + 112, 50, present=P(592, 140, 40, 18))
    other = m.obj("print gesam-feedback", 660, fy + 200, 135)
    m.connect(route, _route_outlet(""), other, 0)
    m.comment("other feedback goes to the Max console", 660, fy + 225, 250)


def _device_extra(m: MaxPatch) -> dict[str, Any]:
    """The Max for Live patcher's own keys: its Live parameters (live.* boxes) by box id, and its width."""
    names = {b["box"]["id"]: b["box"]["varname"] for b in m.boxes if b["box"].get("parameter_enable") == 1
             and b["box"]["maxclass"].startswith("live.")}
    return {"parameters": {**{i: [n, n, 0] for i, n in names.items()}, "inherited_shortname": 1},
            "devicewidth": DEVICE_WIDTH}


def build_max(m4l: bool) -> dict[str, Any]:
    """The Max patcher (``m4l``: the Max for Live twin with live.* parameters and live.thisdevice),
    section by section in the order the boxes are numbered."""
    m = MaxPatch()
    send = _header(m, m4l)
    _xy_pad(m, send, m4l)
    _play(m, send, m4l)
    _midi(m, send, m4l)
    _pads(m, send, m4l)
    _engine(m, send, m4l)
    _feedback(m, send, m4l)
    _kit(m, send, m4l)
    _locate(m, send, m4l)
    return m.patcher((40, 80, 1980, 1080), presentation=m4l, extra=_device_extra(m) if m4l else {})
