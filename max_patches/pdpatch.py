"""The Pure Data twin (``gesam_xy.pd``): vanilla objects only, written in the exact form Pd saves."""

from __future__ import annotations

from max_patches import FEEDBACK_PORT, N_PADS, SEND_HOST, SEND_PORT

RIGHT_X = 620  # the right-hand column: pads above, engine below
FEEDBACK_Y = 700  # top of the feedback section
KIT_X = 1220  # the third column: kit (randomize, undo, locks) above, locate below
STATE_X = 860  # the feedback's right part: located class, latency, kit


def _pd_escape(text: str) -> str:
    """Pd file text: one space between atoms; ``;``, ``,`` and ``$`` escaped with a backslash."""
    atoms = text.replace(";", " ; ").replace(",", " , ").split()
    return " ".join("\\" + a if a in (";", ",") else a.replace("$", "\\$") for a in atoms)


class PdPatch:
    """Pd records in creation order (the numbers ``#X connect`` uses); outlet/inlet counts checked."""

    IO = {"loadbang": (1, 1), "netsend": (1, 2), "netreceive": (1, 2), "oscformat": (1, 1), "oscparse": (1, 1),
          "list": (2, 1), "pack": (2, 1), "unpack": (1, 2), "t": (1, 2), "f": (2, 1), "/": (2, 1),
          "route": (1, 2), "notein": (0, 3), "stripnote": (2, 2), "spigot": (2, 1), "==": (2, 1),
          "print": (1, 0), "s": (1, 0), "symbol": (2, 1), "openpanel": (1, 1),
          "hsl": (1, 1), "vsl": (1, 1), "bng": (1, 1), "tgl": (1, 1), "cnv": (1, 0),
          # the sampler twin's (sampler_pd.py)
          "r": (0, 1), "table": (0, 0), "soundfiler": (1, 2), "tabplay~": (1, 2), "*~": (2, 1), "dac~": (2, 0),
          "writesf~": (1, 0)}

    def __init__(self) -> None:
        self.records: list[str] = []
        self.connects: list[tuple[int, int, int, int]] = []
        self._io: list[tuple[int, int]] = []

    def _add(self, record: str, io: tuple[int, int]) -> int:
        self.records.append(record)
        self._io.append(io)
        return len(self.records) - 1

    def obj(self, x: int, y: int, text: str) -> int:
        name, *args = text.split()
        ins, outs = self.IO[name]
        if name in ("route", "t", "unpack"):
            outs = len(args) + (name == "route")
        if name == "pack":
            ins = len(args)
        if name in ("hsl", "vsl", "bng", "tgl") and args[{"hsl": 6, "vsl": 6, "bng": 4, "tgl": 2}[name]] != "empty":
            raise ValueError(f"make_patches: keep the send name of [{name}] empty, or its outlet disappears")
        return self._add(f"#X obj {x} {y} {_pd_escape(text)};", (ins, outs))

    def msg(self, x: int, y: int, text: str) -> int:
        return self._add(f"#X msg {x} {y} {_pd_escape(text)};", (1, 1))

    def text(self, x: int, y: int, text: str, width: int = 0) -> int:
        suffix = f", f {width}" if width else ""
        return self._add(f"#X text {x} {y} {_pd_escape(text)}{suffix};", (0, 0))

    def floatatom(self, x: int, y: int, width: int = 5, lo: float = 0, hi: float = 0, label: str = "-",
                  receive: str = "-") -> int:
        return self._add(f"#X floatatom {x} {y} {width} {lo:g} {hi:g} 0 {label} {receive} - 0;", (1, 1))

    def symbolatom(self, x: int, y: int, width: int = 10, label: str = "-") -> int:
        return self._add(f"#X symbolatom {x} {y} {width} 0 0 0 {label} - - 0;", (1, 1))

    def connect(self, src: int, outlet: int, dst: int, inlet: int) -> None:
        if not 0 <= outlet < self._io[src][1] or not 0 <= inlet < self._io[dst][0]:
            raise ValueError(f"make_patches: no Pd cord from {self.records[src]} outlet {outlet} "
                             f"to {self.records[dst]} inlet {inlet}")
        self.connects.append((src, outlet, dst, inlet))

    def text_file(self, width: int, height: int) -> str:
        """The .pd file."""
        # cords in the order Pd itself saves them (by source object and outlet), so a patch saved
        # from Pd unchanged is this file byte for byte
        cords = [f"#X connect {s} {o} {d} {i};" for s, o, d, i in sorted(self.connects, key=lambda c: c[:2])]
        return "\n".join([f"#N canvas 40 40 {width} {height} 12;", *self.records, *cords]) + "\n"


def _slider(kind: str, receive: str, label: str, lo: float, hi: float, long: int = 200) -> str:
    """An [hsl]/[vsl] from ``lo`` to ``hi`` that listens on ``receive`` (its send name stays empty)."""
    w, h = (long, 20) if kind == "hsl" else (20, long)
    return f"{kind} {w} {h} {lo:g} {hi:g} 0 0 empty {receive} {label} 0 -10 0 12 #fcfcfc #000000 #000000 0 1"


def _bng(receive: str, label: str, size: int = 25) -> str:
    return f"bng {size} 250 50 0 empty {receive} {label} 0 -10 0 12 #fcfcfc #000000 #000000"


class _OscOut:
    """The patch's one OSC sender: every [oscformat ...] made by ``osc`` feeds ``prepend``
    ([list prepend send] -> [list trim] -> [netsend -u -b])."""

    def __init__(self, p: PdPatch, prepend: int) -> None:
        self.p, self.prepend = p, prepend

    def osc(self, x: int, y: int, address: str, fmt: str = "") -> int:
        """An [oscformat] for ``address`` (``fmt``: its -f type string) wired to the sender; its number."""
        parts = address.strip("/").split("/")
        box = self.p.obj(x, y, "oscformat " + (f"-f {fmt} " if fmt else "") + " ".join(parts))
        self.p.connect(box, 0, self.prepend, 0)
        return box


def _header(p: PdPatch) -> tuple[_OscOut, int, int]:
    """The title, the OSC sender and the start-up: on load, connect [netsend] to the engine and ping it.
    Returns the sender, the [loadbang] and the ping's [oscformat]."""
    p.text(20, 10, f"gesam XY (Pure Data): play the gesam drum map. Every control sends OSC over UDP to the "
                   f"engine at {SEND_HOST}:{SEND_PORT} (gesam serve's default). The feedback section listens on "
                   f"{FEEDBACK_PORT}: start the engine with --feedback 127.0.0.1:{FEEDBACK_PORT}.", 110)
    # one OSC sender for everything: [oscformat ...] -> send <bytes> -> [netsend -u -b]
    prepend = p.obj(20, 600, "list prepend send")
    trim = p.obj(20, 625, "list trim")
    net = p.obj(20, 650, "netsend -u -b")
    p.connect(prepend, 0, trim, 0)
    p.connect(trim, 0, net, 0)
    p.text(140, 650, f"to the engine: OSC over UDP to {SEND_HOST}:{SEND_PORT}")
    load = p.obj(20, 520, "loadbang")
    t_load = p.obj(20, 545, "t b b")
    p.connect(load, 0, t_load, 0)
    connect = p.msg(120, 570, f"connect {SEND_HOST} {SEND_PORT}")
    p.connect(t_load, 1, connect, 0)
    p.connect(connect, 0, net, 0)
    out = _OscOut(p, prepend)
    ping = out.osc(20, 570, "/gesam/ping")
    p.connect(t_load, 0, ping, 0)
    return out, load, ping


def _xy(p: PdPatch, out: _OscOut) -> tuple[int, int]:
    """(1) XY: two sliders (x to the right, y up: vsl's bottom is 0) -> /gesam/xy x y. x and y are kept
    in two [f] stores (returned) that the feedback also updates (quietly), so moving one slider sends
    the other's latest value even after the cursor was moved from elsewhere (MIDI, another client)."""
    p.text(20, 60, "(1) XY: x to the right and y up (0..1). Sends /gesam/xy x y.")
    sx = p.obj(20, 110, _slider("hsl", "gesam-x", "X", 0, 1))
    sy = p.obj(240, 90, _slider("vsl", "gesam-y", "Y", 0, 1))
    tx, ty = p.obj(20, 160, "t b f"), p.obj(240, 300, "t b f")
    p.connect(sx, 0, tx, 0)
    p.connect(sy, 0, ty, 0)
    send_xy = p.obj(20, 300, "t b b")
    store_x, store_y = p.obj(20, 330, "f"), p.obj(100, 330, "f")
    for t, store in ((tx, store_x), (ty, store_y)):
        p.connect(t, 1, store, 1)
        p.connect(t, 0, send_xy, 0)
    pack = p.obj(20, 360, "pack f f")
    p.connect(send_xy, 1, store_y, 0)
    p.connect(send_xy, 0, store_x, 0)
    p.connect(store_y, 0, pack, 1)
    p.connect(store_x, 0, pack, 0)
    xy = out.osc(20, 390, "/gesam/xy")
    p.connect(pack, 0, xy, 0)
    return store_x, store_y


def _play(p: PdPatch, out: _OscOut, load: int) -> None:
    """(2) Play the cursor's sound at the velocity slider's value: /gesam/trigger v (velocity and gain
    set to 1 on load)."""
    p.text(300, 60, "(2) Play the cursor's sound at this velocity (0..1). Sends /gesam/trigger v.")
    play = p.obj(300, 110, _bng("gesam-trigger", "play", 30))
    vel = p.obj(350, 115, _slider("hsl", "gesam-velocity", "velocity", 0, 1, 120))
    f = p.obj(300, 160, "f 1")
    p.connect(play, 0, f, 0)
    p.connect(vel, 0, f, 1)
    trig = out.osc(300, 190, "/gesam/trigger")
    p.connect(f, 0, trig, 0)
    vel_init = p.msg(120, 520, "; gesam-velocity set 1; gesam-gain set 1")
    p.connect(load, 0, vel_init, 0)


def _midi(p: PdPatch, out: _OscOut) -> None:
    """(3) MIDI in: note-ons as /gesam/trigger v, or with the toggle on as /gesam/note n v."""
    p.text(300, 230, "(3) MIDI in: each note-on plays the cursor with velocity/127. Toggle on: notes go as "
                     "/gesam/note n v (36-51 play pads 0-15).", 60)
    notein = p.obj(300, 290, "notein")
    strip = p.obj(300, 315, "stripnote")
    p.connect(notein, 0, strip, 0)
    p.connect(notein, 1, strip, 1)
    mode = p.obj(420, 290, "tgl 20 0 empty gesam-notes notes 24 10 0 12 #fcfcfc #000000 #000000 0 1")
    not_mode = p.obj(420, 320, "== 0")
    p.connect(mode, 0, not_mode, 0)
    vel_gate = p.obj(380, 345, "spigot 1")
    p.connect(strip, 1, vel_gate, 0)
    p.connect(not_mode, 0, vel_gate, 1)
    per127 = p.obj(380, 370, "/ 127")
    p.connect(vel_gate, 0, per127, 0)
    note_trig = out.osc(380, 395, "/gesam/trigger")
    p.connect(per127, 0, note_trig, 0)
    note_pack = p.obj(300, 345, "pack f f")
    p.connect(strip, 0, note_pack, 0)
    p.connect(strip, 1, note_pack, 1)
    note_gate = p.obj(300, 420, "spigot 0")
    p.connect(note_pack, 0, note_gate, 0)
    p.connect(mode, 0, note_gate, 1)
    note = out.osc(300, 445, "/gesam/note", "ii")
    p.connect(note_gate, 0, note, 0)


def _pads(p: PdPatch, out: _OscOut) -> None:
    """(4) Pads 0-15 in a 4 x 4 grid, 0 at the bottom left: /gesam/pad/n/trigger 1."""
    x0, y0 = RIGHT_X, 60
    p.text(x0, y0, "(4) Pads 0-15 (bottom row 0-3). Each sends /gesam/pad/n/trigger 1")
    for n in range(N_PADS):
        col, row = n % 4, 3 - n // 4
        bx, by = x0 + 120 * col, y0 + 50 + 80 * row
        b = p.obj(bx, by, _bng(f"gesam-pad-{n}", str(n)))
        one = p.msg(bx, by + 30, "1")
        p.connect(b, 0, one, 0)
        p.connect(one, 0, out.osc(bx, by + 52, f"/gesam/pad/{n}/trigger"), 0)


def _engine(p: PdPatch, out: _OscOut, ping: int) -> None:
    """(5) The engine: output gain, saved kit, panic, and a ping button (into the start-up's ping)."""
    x0, ey = RIGHT_X, 450
    p.text(x0, ey, "(5) Engine: output gain (0..4), load saved kit n, stop every voice, ping.")
    gain = p.obj(x0, ey + 45, _slider("hsl", "gesam-gain", "gain", 0, 4, 120))
    p.connect(gain, 0, out.osc(x0, ey + 75, "/gesam/gain"), 0)
    kit = p.floatatom(x0 + 170, ey + 45, 5, 0, 127, "kit")
    p.connect(kit, 0, out.osc(x0 + 170, ey + 75, "/gesam/kit", "i"), 0)
    panic = p.obj(x0 + 280, ey + 35, _bng("gesam-panic", "panic"))
    p.connect(panic, 0, out.osc(x0 + 280, ey + 75, "/gesam/panic"), 0)
    ping_b = p.obj(x0 + 380, ey + 35, _bng("gesam-ping", "ping"))
    p.connect(ping_b, 0, ping, 0)


def _feedback(p: PdPatch, out: _OscOut, store_x: int, store_y: int) -> None:
    """(6) Feedback from the engine: [netreceive] -> [oscparse] -> routes by address, whose outlets
    feed the cursor (into the XY section's stores), the class, the ready/error/pong indicators, the
    located file's class, the latency (with a button that asks for it) and the kit."""
    fy = FEEDBACK_Y
    p.text(20, fy, f"(6) Feedback from the engine on UDP {FEEDBACK_PORT} (gesam serve --feedback "
                   f"127.0.0.1:{FEEDBACK_PORT}): the cursor moves the sliders, the class shows its name and "
                   "colour, ready flashes, errors and pong print to the Pd window. Right: where a located file "
                   "landed (its class; the sliders move), the engine's latency (ms) and the kit loaded.", 110)
    recv = p.obj(20, fy + 50, f"netreceive -u -b {FEEDBACK_PORT}")
    parse = p.obj(20, fy + 75, "oscparse")
    p.connect(recv, 0, parse, 0)
    ftrim = p.obj(20, fy + 100, "list trim")
    p.connect(parse, 0, ftrim, 0)
    r_gesam = p.obj(20, fy + 125, "route gesam")
    p.connect(ftrim, 0, r_gesam, 0)
    r_top = p.obj(20, fy + 150, "route state error pong")
    p.connect(r_gesam, 0, r_top, 0)
    r_state = p.obj(20, fy + 175, "route " + " ".join(STATE_ROUTES))
    p.connect(r_top, 0, r_state, 0)
    st_xy = _feedback_cursor(p, r_state, store_x, store_y)
    _feedback_class(p, r_state)
    _feedback_status(p, r_top, r_state)
    _feedback_located(p, r_state, st_xy)
    _feedback_latency(p, out, r_state)
    _feedback_kit(p, r_state)


# what [route ...] under /gesam/state/ takes apart, in outlet order (features: dropped; the rest prints)
STATE_ROUTES = ("xy", "class", "ready", "features", "locate", "latency", "kit")


def _state(name: str) -> int:
    """The state [route]'s outlet for ``name`` (the last one for anything else)."""
    return STATE_ROUTES.index(name) if name else len(STATE_ROUTES)


def _feedback_cursor(p: PdPatch, r_state: int, store_x: int, store_y: int) -> int:
    """state/xy sets the sliders and the XY stores without sending, and shows x, y; returns its
    [unpack f f] (state/locate feeds it too)."""
    fy = FEEDBACK_Y
    st_xy = p.obj(20, fy + 205, "unpack f f")
    p.connect(r_state, _state("xy"), st_xy, 0)
    for k, (name, x, store) in enumerate((("gesam-x", 20, store_x), ("gesam-y", 110, store_y))):
        setter = p.msg(x, fy + 235, f"; {name} set $1")
        p.connect(st_xy, k, setter, 0)
        p.connect(st_xy, k, store, 1)  # quietly: feedback never echoes back to the engine
        show = p.floatatom(x, fy + 265, 6)
        p.connect(st_xy, k, show, 0)
    return st_xy


def _feedback_class(p: PdPatch, r_state: int) -> None:
    """state/class: the name in a symbol box, the colour on a canvas."""
    fy = FEEDBACK_Y
    cls_list = p.obj(220, fy + 205, "list")
    p.connect(r_state, _state("class"), cls_list, 0)
    cls = p.obj(220, fy + 230, "unpack s s")
    p.connect(cls_list, 0, cls, 0)
    p.connect(cls, 0, p.symbolatom(220, fy + 260, 14, "class"), 0)
    colour = p.msg(330, fy + 230, "; gesam-class-colour color $1")
    p.connect(cls, 1, colour, 0)
    p.obj(400, fy + 260, "cnv 15 120 30 empty gesam-class-colour colour 4 12 0 12 #e0e0e0 #404040 0")


def _feedback_status(p: PdPatch, r_top: int, r_state: int) -> None:
    """state/ready flashes a button; other state prints; an error shows and prints its reason; pong
    and any other address print to the Pd window."""
    fy = FEEDBACK_Y
    ready = p.obj(560, fy + 205, _bng("gesam-ready", "ready", 20))
    p.connect(r_state, _state("ready"), ready, 0)
    other = p.obj(650, fy + 205, "print gesam-state")
    p.connect(r_state, _state(""), other, 0)
    err_list = p.obj(220, fy + 310, "list")
    p.connect(r_top, 1, err_list, 0)
    err_sym = p.obj(220, fy + 335, "symbol")
    p.connect(err_list, 0, err_sym, 0)
    p.connect(err_sym, 0, p.symbolatom(220, fy + 360, 50, "error"), 0)
    p.connect(r_top, 1, p.obj(400, fy + 310, "print gesam-error"), 0)
    pong = p.msg(560, fy + 310, "engine answered ping")
    p.connect(r_top, 2, pong, 0)
    p.connect(pong, 0, p.obj(560, fy + 335, "print gesam"), 0)
    p.connect(r_top, 3, p.obj(720, fy + 310, "print gesam-feedback"), 0)


def _feedback_located(p: PdPatch, r_state: int, st_xy: int) -> None:
    """state/locate x y class: the class in a symbol box and the Pd window (``gesam-located: x y class``);
    x and y go through state/xy's [unpack f f], so the sliders, the XY stores and the numbers move as
    they do for state/xy."""
    fy = FEEDBACK_Y
    located = p.obj(STATE_X, fy + 205, "unpack f f s")
    p.connect(r_state, _state("locate"), located, 0)
    p.connect(r_state, _state("locate"), p.obj(STATE_X + 120, fy + 205, "print gesam-located"), 0)
    xy = p.obj(STATE_X, fy + 235, "pack f f")
    p.connect(located, 1, xy, 1)
    p.connect(located, 0, xy, 0)
    p.connect(xy, 0, st_xy, 0)
    p.connect(located, 2, p.symbolatom(STATE_X + 90, fy + 235, 14, "located"), 0)


def _feedback_latency(p: PdPatch, out: _OscOut, r_state: int) -> None:
    """state/latency: trigger and timed trigger ms (the first two of six); a button asks for them
    (/gesam/latency; the engine also sends them when its output opens)."""
    fy = FEEDBACK_Y
    latency = p.obj(STATE_X, fy + 300, "unpack f f f f f f")
    p.connect(r_state, _state("latency"), latency, 0)
    p.connect(latency, 0, p.floatatom(STATE_X, fy + 330, 6, label="trigger-ms"), 0)
    p.connect(latency, 1, p.floatatom(STATE_X + 100, fy + 330, 6, label="timed-ms"), 0)
    ask = p.obj(STATE_X + 200, fy + 295, _bng("gesam-latency", "latency", 20))
    p.connect(ask, 0, out.osc(STATE_X + 200, fy + 330, "/gesam/latency"), 0)


def _feedback_kit(p: PdPatch, r_state: int) -> None:
    """state/kit program name: the name in a symbol box and the Pd window (``gesam-kit: program name``;
    program -1 after a randomize or an undo)."""
    fy = FEEDBACK_Y
    kit = p.obj(STATE_X, fy + 375, "unpack f s")
    p.connect(r_state, _state("kit"), kit, 0)
    p.connect(r_state, _state("kit"), p.obj(STATE_X + 100, fy + 375, "print gesam-kit"), 0)
    p.connect(kit, 1, p.symbolatom(STATE_X, fy + 405, 16, "kit"), 0)


def _kit(p: PdPatch, out: _OscOut) -> None:
    """(7) Kit: randomize and undo buttons, and a lock toggle per pad (/gesam/pad/n/lock 0|1), listed
    0 to 15 (their receive names: gesam-randomize, gesam-undo, gesam-lock-0 .. gesam-lock-15)."""
    x0, y0 = KIT_X, 60
    p.text(x0, y0, "(7) Kit: randomize gives every unlocked pad a new point inside its name's class region "
                   "(/gesam/kit/randomize); undo restores the pads as they were before the last kit change "
                   "(/gesam/kit/undo). A locked pad keeps its point: /gesam/pad/n/lock 1 (0 frees it).", 60)
    for k, (label, address) in enumerate((("randomize", "/gesam/kit/randomize"), ("undo", "/gesam/kit/undo"))):
        b = p.obj(x0 + 200 * k, y0 + 90, _bng(f"gesam-{label}", label))
        p.connect(b, 0, out.osc(x0 + 200 * k, y0 + 125, address), 0)
    for n in range(N_PADS):
        y = y0 + 165 + 25 * n
        lock = p.obj(x0, y, f"tgl 20 0 empty gesam-lock-{n} lock-{n} 24 10 0 12 #fcfcfc #000000 #000000 0 1")
        p.connect(lock, 0, out.osc(x0 + 90, y, f"/gesam/pad/{n}/lock", "i"), 0)


def _locate(p: PdPatch, out: _OscOut) -> None:
    """(8) Query by example: [openpanel] (or a path typed in the symbol box, or a symbol sent to
    gesam-locate) -> /gesam/locate path. Pd has no drag and drop."""
    x0, y0 = KIT_X, 650
    p.text(x0, y0, "(8) Query by example: click open and choose an audio file (WAV, AIFF, FLAC, OGG, MP3), type "
                   "a full path in the box, or send a symbol to gesam-locate. Sends "
                   "/gesam/locate path; the engine moves the cursor to where that sound lies on the map.", 60)
    open_b = p.obj(x0, y0 + 95, _bng("gesam-locate-open", "open"))
    panel = p.obj(x0, y0 + 130, "openpanel")
    p.connect(open_b, 0, panel, 0)
    recv = p.obj(x0 + 100, y0 + 130, "r gesam-locate")
    path = p.symbolatom(x0, y0 + 160, 40, "file")
    p.connect(panel, 0, path, 0)
    p.connect(recv, 0, path, 0)
    p.connect(path, 0, out.osc(x0, y0 + 190, "/gesam/locate", "s"), 0)


def build_pd() -> str:
    """The Pure Data twin (vanilla objects only), section by section in the order Pd numbers the objects."""
    p = PdPatch()
    out, load, ping = _header(p)
    store_x, store_y = _xy(p, out)
    _play(p, out, load)
    _midi(p, out)
    _pads(p, out)
    _engine(p, out, ping)
    _feedback(p, out, store_x, store_y)
    _kit(p, out)
    _locate(p, out)
    return p.text_file(1650, 1150)
