"""The Max for Live sampler instrument (``gesam_sampler_m4l.maxpat``): Live plays gesam's sounds itself.

When the device loads it asks the engine for its sound files (``/gesam/sounds``); each
``/gesam/state/sound slot path`` loads that WAV into the slot's [buffer~] (``replace``). MIDI notes
36-51 play pads 0-15 and note 60 the cursor through [play~], at velocity/127, into [plugout~]: the
sound goes through Live's mixer, automation and bounce with the host's timing. The device also
shows the model, the engine's latency and its errors. Built with ``maxpat.MaxPatch``.
"""

from __future__ import annotations

from typing import Any

from max_patches import SAMPLER_PORT, SAMPLER_ROUTES, SEND_HOST, SEND_PORT, SLOT_NOTES, SLOTS
from max_patches.maxpat import MaxPatch

COLUMN = 170  # width of one slot's column
VOICE_Y, OUT_Y, RECEIVE_Y, LOAD_Y, STATUS_Y = 360, 830, 900, 1000, 1180  # tops of the sections
DEVICE_WIDTH = 470.0


def buffer_name(slot: str) -> str:
    """The slot's [buffer~] name; Live makes ``---`` unique to each copy of the device."""
    return f"---gesam-{slot}"


def _column(k: int, top: int, band_height: int) -> tuple[int, int]:
    """Where slot ``k``'s column starts: the cursor and pads 0-7 in the first band, pads 8-15 below."""
    band, col = divmod(k, 9)
    return 30 + COLUMN * col, top + band_height * band


def _header(m: MaxPatch) -> str:
    """The title, the [udpsend] and the ask: /gesam/sounds when the device loads (and on a click)."""
    m.comment(f"gesam sampler (Max for Live instrument): Live plays gesam's sounds. When the device loads it asks "
              f"the engine at {SEND_HOST}:{SEND_PORT} for its sound files; it listens on {SAMPLER_PORT}: start the "
              f"engine with --feedback 127.0.0.1:{SAMPLER_PORT} (add 127.0.0.1:9001 for an XY patch too). Notes "
              "36-51 play pads 0-15, note 60 the cursor.",
              30, 10, 1000, 2, fontsize=13.0)
    m.comment("gesam sampler", 30, 50, 120, present=(5.0, 5.0, 120.0, 20.0), fontsize=13.0)
    loaded = m.obj("live.thisdevice", 30, 80, 100)
    m.comment("device loaded: ask for the sound files (click the message to ask again)", 140, 80, 420)
    ask = m.msg("/gesam/sounds", 30, 110, 100, present=(5.0, 27.0, 100.0, 22.0))
    m.connect(loaded, 0, ask, 0)
    send = m.obj(f"udpsend {SEND_HOST} {SEND_PORT}", 30, 140, 160)
    m.connect(ask, 0, send, 0)
    m.comment(f"to the engine: OSC over UDP to {SEND_HOST}:{SEND_PORT}", 200, 140, 300)
    return send


def _notes(m: MaxPatch) -> str:
    """MIDI note-ons (note-offs dropped: one-shots ring out) into one [route] by note, in ``SLOTS``' order."""
    m.comment("Notes: 60 plays the cursor, 36-51 pads 0-15, at velocity/127 (the buttons below play each at 127)",
              30, 190, 600)
    notein = m.obj("notein", 30, 220, 60)
    strip = m.obj("stripnote", 30, 250, 70)
    m.connect(notein, 0, strip, 0)
    m.connect(notein, 1, strip, 1)
    pack = m.obj("pack 0 0", 30, 280, 60)
    m.connect(strip, 0, pack, 0)
    m.connect(strip, 1, pack, 1)
    by_note = m.obj("route " + " ".join(str(n) for n in SLOT_NOTES), 30, 310)
    m.connect(pack, 0, by_note, 0)
    return by_note


def _present_button(k: int) -> tuple[float, float, float, float]:
    """The device view: pads in a 4 x 4 grid (0 at the bottom left), the cursor's button beside it."""
    if k == 0:
        return 410.0, 5.0, 40.0, 40.0
    col, row = (k - 1) % 4, 3 - (k - 1) // 4
    return 270.0 + 34 * col, 5.0 + 34 * row, 30.0, 30.0


def _voices(m: MaxPatch, by_note: str, out: str) -> None:
    """One voice per slot: velocity/127 sets its gain, then [play~] plays the slot's buffer from the
    start (a new note restarts it) into both inputs of [plugout~]."""
    for k, (slot, note) in enumerate(zip(SLOTS, SLOT_NOTES)):
        x, y = _column(k, VOICE_Y, 270)
        button = m.ui("button", (x, y, 24, 24), present=_present_button(k))
        hit = m.msg(f"{note} 127", x + 30, y, 60)
        m.connect(button, 0, hit, 0)
        m.connect(hit, 0, by_note, 0)
        m.comment(slot, x + 95, y, 60)
        gain = m.obj("/ 127.", x, y + 35, 50)
        m.connect(by_note, k, gain, 0)
        t = m.obj("t b f", x, y + 65, 45)
        m.connect(gain, 0, t, 0)
        start = m.msg("start", x, y + 95, 45)
        m.connect(t, 0, start, 0)
        play = m.obj(f"play~ {buffer_name(slot)}", x, y + 125)
        m.connect(start, 0, play, 0)
        amp = m.obj("*~ 0.", x, y + 155, 45)
        m.connect(t, 1, amp, 1)
        m.connect(play, 0, amp, 0)
        m.connect(amp, 0, out, 0)
        m.connect(amp, 0, out, 1)
    m.comment("the big button plays the cursor; pads 0-15 with 0 at the bottom left", 640, 220, 420,
              present=(410.0, 50.0, 58.0, 90.0))


def _receive(m: MaxPatch) -> None:
    """[udpreceive] into one [route] (``SAMPLER_ROUTES``' order): sound files into the buffers, and the
    model, latency and errors shown."""
    y = RECEIVE_Y
    m.comment(f"From the engine on UDP {SAMPLER_PORT}: /gesam/state/sound slot path loads the WAV into the slot's "
              "buffer~ (replace: read and resize); the model, the engine's latency and errors are shown.",
              30, y - 40, 1000)
    recv = m.obj(f"udpreceive {SAMPLER_PORT}", 30, y, 120)
    route = m.obj("route " + " ".join(SAMPLER_ROUTES), 30, y + 30)
    m.connect(recv, 0, route, 0)
    by_slot = m.obj("route " + " ".join(SLOTS), 30, y + 60)
    m.connect(route, 0, by_slot, 0)
    for k, slot in enumerate(SLOTS):
        x, top = _column(k, LOAD_Y, 80)
        replace = m.obj("prepend replace", x, top)
        m.connect(by_slot, k, replace, 0)
        m.connect(replace, 0, m.obj(f"buffer~ {buffer_name(slot)}", x, top + 30), 0)
    _status(m, route)


def _status(m: MaxPatch, route: str) -> None:
    """The last sound loaded (route outlet 0), the latency (1: trigger and timed trigger ms), the
    model (2) and errors (3, also printed); other feedback (4) is dropped."""
    y = STATUS_Y
    err_set = m.obj("prepend set", 30, y, 80)
    m.connect(route, 3, err_set, 0)
    err = m.msg("", 30, y + 30, 250, present=(5.0, 126.0, 255.0, 40.0))
    m.connect(err_set, 0, err, 0)
    m.connect(route, 3, m.obj("print gesam-error", 120, y, 115), 0)
    m.comment("error: why the engine refused a message", 30, y + 60, 250)
    model_set = m.obj("prepend set", 300, y, 80)
    m.connect(route, 2, model_set, 0)
    model = m.msg("", 300, y + 30, 150, present=(110.0, 27.0, 150.0, 22.0))
    m.connect(model_set, 0, model, 0)
    m.comment("model", 455, y + 30, 50)
    shown = m.obj("prepend set", 520, y, 80)
    m.connect(route, 0, shown, 0)
    sound = m.msg("", 520, y + 30, 250, present=(5.0, 76.0, 255.0, 22.0))
    m.connect(shown, 0, sound, 0)
    m.comment("last sound loaded (slot path)", 520, y + 60, 250)
    latency = m.obj("unpack 0. 0. 0. 0. 0. 0.", 800, y, 160)
    m.connect(route, 1, latency, 0)
    trig = m.ui("flonum", (800, y + 30, 60, 22), present=(5.0, 101.0, 55.0, 22.0), parameter_enable=0)
    timed = m.ui("flonum", (865, y + 30, 60, 22), present=(62.0, 101.0, 55.0, 22.0), parameter_enable=0)
    m.connect(latency, 0, trig, 0)
    m.connect(latency, 1, timed, 0)
    m.comment("engine latency ms: trigger, timed", 930, y + 30, 200, present=(120.0, 101.0, 145.0, 22.0))


def build_sampler_max() -> dict[str, Any]:
    """The Max for Live sampler instrument, section by section in the order the boxes are numbered."""
    m = MaxPatch()
    _header(m)
    by_note = _notes(m)
    out = m.obj("plugout~", 30, OUT_Y, 70)
    m.comment("to Live: the track's audio (left and right)", 110, OUT_Y, 300)
    _voices(m, by_note, out)
    _receive(m)
    return m.patcher((40, 80, 1600, 1300), presentation=True,
                     extra={"parameters": {"inherited_shortname": 1}, "devicewidth": DEVICE_WIDTH})
