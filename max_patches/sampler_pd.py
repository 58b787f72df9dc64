"""The Pure Data twin of the sampler device (``gesam_sampler.pd``): Pd plays gesam's sounds itself.

On load it asks the engine for its sound files (``/gesam/sounds``); each ``/gesam/state/sound slot
path`` reads that WAV into the slot's table. MIDI notes 36-51 play pads 0-15 and note 60 the cursor
at velocity/127, to [dac~]. Notes also come as FUDI over UDP (``note 39 100;``) or on the receive
name ``gesam-sampler-note``, and ``record open FILE``, ``record start`` and ``record stop`` drive a
[writesf~] of everything it plays (how the headless test hears it).
"""

from __future__ import annotations

from max_patches import (
    SAMPLER_CONTROL_PORT, SAMPLER_PORT, SEND_HOST, SEND_PORT, SLOT_NOTES, SLOTS,
)
from max_patches.pdpatch import PdPatch, _bng, _OscOut

COLUMN = 130  # width of one slot's column
LOAD_Y, VOICE_Y = 330, 720  # tops of the loaders and the voices (two bands of columns each)


def table(slot: str) -> str:
    """The Pd array a slot's sound is read into (global, like every Pd array name)."""
    return f"gesam-sound-{slot}"


def _column(k: int, top: int) -> tuple[int, int]:
    """Where slot ``k``'s column starts: the cursor and pads 0-7 in the first band, pads 8-15 below."""
    band, col = divmod(k, 9)
    return 20 + COLUMN * col, top + 160 * band


def _header(p: PdPatch) -> _OscOut:
    """The title and the OSC sender; on load: connect to the engine, switch the DSP on and ask for
    the sound files (also on the 'ask' button)."""
    p.text(20, 10, f"gesam sampler (Pure Data): plays gesam's sounds in Pd. On load it asks the engine at "
                   f"{SEND_HOST}:{SEND_PORT} for its sound files (/gesam/sounds) and listens on {SAMPLER_PORT}: "
                   f"start the engine with --feedback 127.0.0.1:{SAMPLER_PORT} (add 127.0.0.1:9001 for an XY patch "
                   "too). Notes 36-51 play pads 0-15, "
                   "note 60 the cursor, at velocity/127.", 120)
    prepend = p.obj(20, 150, "list prepend send")
    trim = p.obj(20, 175, "list trim")
    net = p.obj(20, 200, "netsend -u -b")
    p.connect(prepend, 0, trim, 0)
    p.connect(trim, 0, net, 0)
    p.text(140, 200, f"to the engine: OSC over UDP to {SEND_HOST}:{SEND_PORT}")
    out = _OscOut(p, prepend)
    load = p.obj(20, 70, "loadbang")
    t_load = p.obj(20, 95, "t b b b")
    p.connect(load, 0, t_load, 0)
    connect = p.msg(220, 120, f"connect {SEND_HOST} {SEND_PORT}")
    p.connect(t_load, 2, connect, 0)
    p.connect(connect, 0, net, 0)
    dsp = p.msg(120, 120, "; pd dsp 1")
    p.connect(t_load, 1, dsp, 0)
    ask = out.osc(20, 120, "/gesam/sounds")
    p.connect(t_load, 0, ask, 0)
    again = p.obj(440, 70, _bng("gesam-sampler-ask", "ask", 20))
    p.connect(again, 0, ask, 0)
    return out


def _receive(p: PdPatch) -> int:
    """(1) The engine's messages: [netreceive] -> [oscparse] -> routes by address; the model, latency
    and errors shown. Returns the [route sound latency model]."""
    p.text(20, 240, f"(1) From the engine on UDP {SAMPLER_PORT}: /gesam/state/sound slot path reads the WAV into "
                    "the slot's table (the Pd window says 'gesam-sampler: loaded slot N' with its samples); "
                    "the model, the engine's latency (ms) and errors are shown.", 120)
    recv = p.obj(560, 70, f"netreceive -u -b {SAMPLER_PORT}")
    parse = p.obj(560, 95, "oscparse")
    p.connect(recv, 0, parse, 0)
    trim = p.obj(560, 120, "list trim")
    p.connect(parse, 0, trim, 0)
    r_gesam = p.obj(560, 145, "route gesam")
    p.connect(trim, 0, r_gesam, 0)
    r_top = p.obj(560, 170, "route state error")
    p.connect(r_gesam, 0, r_top, 0)
    r_state = p.obj(560, 195, "route sound latency model")
    p.connect(r_top, 0, r_state, 0)
    _status(p, r_top, r_state)
    return r_state


def _status(p: PdPatch, r_top: int, r_state: int) -> None:
    """The model's name, the engine's trigger latencies (untimed, timed) and the last error."""
    x = 800
    model_list = p.obj(x, 70, "list")
    p.connect(r_state, 2, model_list, 0)
    model = p.obj(x, 95, "symbol")
    p.connect(model_list, 0, model, 0)
    p.connect(model, 0, p.symbolatom(x, 120, 16, "model"), 0)
    latency = p.obj(x + 170, 70, "unpack f f f f f f")
    p.connect(r_state, 1, latency, 0)
    p.connect(latency, 0, p.floatatom(x + 170, 120, 6, label="trigger-ms"), 0)
    p.connect(latency, 1, p.floatatom(x + 260, 120, 6, label="timed-ms"), 0)
    err_list = p.obj(x, 160, "list")
    p.connect(r_top, 1, err_list, 0)
    err = p.obj(x, 185, "symbol")
    p.connect(err_list, 0, err, 0)
    p.connect(err, 0, p.symbolatom(x, 210, 40, "error"), 0)
    p.connect(r_top, 1, p.obj(x + 170, 160, "print gesam-error"), 0)


def _loaders(p: PdPatch, r_state: int, say: int) -> None:
    """Each slot's path -> [symbol] -> read -resize into its table -> 'loaded slot N' in the Pd window."""
    r_slot = p.obj(20, 300, "route " + " ".join(SLOTS))
    p.connect(r_state, 0, r_slot, 0)
    for k, slot in enumerate(SLOTS):
        x, y = _column(k, LOAD_Y)
        path = p.obj(x, y, "symbol")
        p.connect(r_slot, k, path, 0)
        read = p.msg(x, y + 25, f"read -resize $1 {table(slot)}")
        p.connect(path, 0, read, 0)
        filer = p.obj(x, y + 75, "soundfiler")
        p.connect(read, 0, filer, 0)
        loaded = p.msg(x, y + 100, f"loaded {slot} $1")
        p.connect(filer, 0, loaded, 0)
        p.connect(loaded, 0, say, 0)
        p.obj(x, y + 125, f"table {table(slot)}")


def _notes(p: PdPatch) -> tuple[int, int]:
    """(2) Notes: MIDI note-ons, FUDI ``note N V;`` on UDP, the receive name gesam-sampler-note, or the
    example boxes, into one [route] by note (``SLOT_NOTES``' order). Returns it and the recorder's
    order outlet's owner ([route note record])."""
    y = 640
    p.text(20, y - 20, f"(2) Notes: MIDI, or FUDI 'note 39 100;' on UDP {SAMPLER_CONTROL_PORT} (also 'record open "
                       "FILE; record start; record stop;' for [writesf~]), or [s gesam-sampler-note]. The boxes "
                       "play the cursor and pad 0 to try it.", 120)
    notein = p.obj(20, y + 20, "notein")
    strip = p.obj(20, y + 45, "stripnote")
    p.connect(notein, 0, strip, 0)
    p.connect(notein, 1, strip, 1)
    pack = p.obj(20, y + 70, "pack f f")
    p.connect(strip, 0, pack, 0)
    p.connect(strip, 1, pack, 1)
    by_note = p.obj(20, y + 95, "route " + " ".join(str(n) for n in SLOT_NOTES))
    p.connect(pack, 0, by_note, 0)
    control = p.obj(200, y + 20, f"netreceive -u {SAMPLER_CONTROL_PORT}")
    orders = p.obj(200, y + 45, "route note record")
    p.connect(control, 0, orders, 0)
    p.connect(orders, 0, by_note, 0)
    named = p.obj(420, y + 20, "r gesam-sampler-note")
    p.connect(named, 0, by_note, 0)
    for k, text in enumerate(("60 127", "36 127")):
        example = p.msg(600 + 80 * k, y + 20, text)
        p.connect(example, 0, by_note, 0)
    return by_note, orders


def _voices(p: PdPatch, by_note: int, say: int, outs: tuple[int, ...]) -> None:
    """(3) One voice per slot: velocity/127 sets its gain, then [tabplay~] plays its table from the
    start (a new note restarts it); every voice goes to ``outs`` ([dac~] left and right, [writesf~])."""
    p.text(20, VOICE_Y - 30, "(3) One voice per slot: velocity/127 -> gain, then the slot's table plays from its start "
                             "('gesam-sampler: played slot' at its end).", 120)
    dac, rec = outs
    for k, slot in enumerate(SLOTS):
        x, y = _column(k, VOICE_Y)
        gain = p.obj(x, y, "/ 127")
        p.connect(by_note, k, gain, 0)
        t = p.obj(x, y + 25, "t b f")
        p.connect(gain, 0, t, 0)
        play = p.obj(x, y + 50, f"tabplay~ {table(slot)}")
        p.connect(t, 0, play, 0)
        amp = p.obj(x, y + 75, "*~ 0")
        p.connect(t, 1, amp, 1)
        p.connect(play, 0, amp, 0)
        p.connect(amp, 0, dac, 0)
        p.connect(amp, 0, dac, 1)
        p.connect(amp, 0, rec, 0)
        played = p.msg(x, y + 100, f"played {slot}")
        p.connect(play, 1, played, 0)
        p.connect(played, 0, say, 0)


def build_sampler_pd() -> str:
    """The Pure Data sampler twin (vanilla objects only), section by section in Pd's numbering order."""
    p = PdPatch()
    _header(p)
    r_state = _receive(p)
    say = p.obj(1000, 300, "print gesam-sampler")
    _loaders(p, r_state, say)
    by_note, orders = _notes(p)
    out_y = VOICE_Y + 330
    p.text(20, out_y - 20, "(4) Out: the sound card, and a recorder driven by 'record ...' orders "
                           "(FUDI, or [s gesam-sampler-record]).")
    dac = p.obj(20, out_y + 40, "dac~")
    rec = p.obj(200, out_y + 40, "writesf~ 1")
    p.connect(orders, 1, rec, 0)
    p.connect(p.obj(200, out_y + 10, "r gesam-sampler-record"), 0, rec, 0)
    _voices(p, by_note, say, (dac, rec))
    return p.text_file(1250, out_y + 100)
