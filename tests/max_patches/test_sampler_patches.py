"""The DAW sampler devices, read as files: the Max for Live instrument's JSON and its Pure Data twin.

Along the cords: the device asks for the sound files when it loads; the engine's /gesam/state/sound
reaches the slot's buffer (Max: ``replace`` into [buffer~]; Pd: ``read -resize`` into a table); the
note of each slot (the engine's own note numbers) reaches that slot's player and no other, with a
velocity gain; every player reaches the DAW ([plugout~]) or Pd's output and recorder. Pd itself
loads the twin and saves it back unchanged (every object and cord accepted).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from gesam_engine.runtime.engine_config import EngineSettings
from osc_bridge.sound_files import SLOT_NAME
from tests.max_patches.test_patches import (
    PATCHES, _overlaps, boxes, check_args, cords, find, load_max, max_messages, outgoing, pd_objects,
    pd_osc_addresses, pd_routed, reaches, incoming,
)
from tests.max_patches.test_pd_osc import pd_errors
from tests.part_required import missing_part

SETTINGS = EngineSettings()
SLOTS = ["cursor", *(f"pad{n}" for n in range(SETTINGS.pads))]
NOTES = [SETTINGS.root_note, *(SETTINGS.first_pad_note + n for n in range(SETTINGS.pads))]  # the engine's notes
SAMPLER_ROUTED = {"/gesam/state/sound", "/gesam/state/latency", "/gesam/state/model", "/gesam/error"}
DEVICE = "gesam_sampler_m4l.maxpat"
PD_SAMPLER = "gesam_sampler.pd"


def test_the_slots_are_the_engines() -> None:
    assert all(SLOT_NAME.match(s) for s in SLOTS) and len(SLOTS) == 17
    assert NOTES[:2] == [60, 36] and NOTES[-1] == 51


# ---- Max for Live ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def device() -> dict[str, Any]:
    return load_max(DEVICE)


def outlet_reaches(patcher: dict[str, Any], src: str, outlet: int, goal: str) -> bool:
    """Whether a cord from ``src``'s ``outlet`` leads (through any boxes) to ``goal``."""
    firsts = [d for s, o, d, _ in cords(patcher) if s == src and o == outlet]
    return any(d == goal or reaches(patcher, d, goal) for d in firsts)


def one(patcher: dict[str, Any], maxclass: str, text: str) -> str:
    found = find(patcher, maxclass, text)
    assert len(found) == 1, (text, found)
    return found[0]


def test_the_device_is_a_valid_patcher(device: dict[str, Any]) -> None:
    assert device["fileversion"] == 1 and device["appversion"]["major"] == 8
    bx = boxes(device)
    assert len(bx) == len(device["boxes"])
    for src, outlet, dst, inlet in cords(device):
        assert 0 <= outlet < bx[src]["numoutlets"] and 0 <= inlet < bx[dst]["numinlets"], (src, outlet, dst, inlet)
    for b in bx.values():
        assert len(b.get("outlettype", [])) in (0, b["numoutlets"])
    assert len([b for b in bx.values() if b["maxclass"] == "comment"]) >= 8


def test_the_device_asks_for_the_sound_files_when_it_loads(device: dict[str, Any]) -> None:
    messages = max_messages(device)
    for address, args in messages:
        check_args(address, args)
    assert {a for a, _ in messages} == {"/gesam/sounds"}
    send = one(device, "newobj", "udpsend 127.0.0.1 9000")
    ask = one(device, "message", "/gesam/sounds")
    assert reaches(device, one(device, "newobj", "live.thisdevice"), ask) and reaches(device, ask, send)
    assert boxes(device)[ask].get("presentation") == 1  # a click asks again


def test_the_route_feeds_each_slots_buffer(device: dict[str, Any]) -> None:
    bx = boxes(device)
    recv = one(device, "newobj", "udpreceive 9002")
    [route] = [i for i, b in bx.items() if b.get("text", "").startswith("route /gesam/")]
    addresses = bx[route]["text"].split()[1:]
    assert set(addresses) == SAMPLER_ROUTED and all(outgoing(a) for a in addresses)
    assert reaches(device, recv, route)
    by_slot = one(device, "newobj", "route " + " ".join(SLOTS))
    assert outlet_reaches(device, route, addresses.index("/gesam/state/sound"), by_slot)
    buffers = {b["text"].split()[1]: i for i, b in bx.items() if b.get("text", "").startswith("buffer~ ")}
    assert set(buffers) == {f"---gesam-{s}" for s in SLOTS}  # --- : unique to each copy of the device
    for k, slot in enumerate(SLOTS):
        buffer = buffers[f"---gesam-{slot}"]
        assert [s for s in SLOTS if outlet_reaches(device, by_slot, SLOTS.index(s), buffer)] == [slot]
        (replace,) = [s for s, _, d, _ in cords(device) if d == buffer]
        assert bx[replace]["text"] == "prepend replace"  # replace: read the file and resize the buffer
    latency = addresses.index("/gesam/state/latency")
    assert sum(outlet_reaches(device, route, latency, f) for f in find(device, "flonum")) == 2  # trigger, timed
    for address in ("/gesam/state/model", "/gesam/error", "/gesam/state/sound"):  # shown in the device
        assert any(outlet_reaches(device, route, addresses.index(address), d) and bx[d].get("presentation")
                   for d in find(device, "message", ""))


def test_each_note_plays_its_slots_buffer_with_a_velocity_gain_into_plugout(device: dict[str, Any]) -> None:
    bx = boxes(device)
    notein = one(device, "newobj", "notein")
    by_note = one(device, "newobj", "route " + " ".join(str(n) for n in NOTES))
    assert reaches(device, notein, by_note) and reaches(device, one(device, "newobj", "stripnote"), by_note)
    out = one(device, "newobj", "plugout~")
    players = {b["text"].split()[1]: i for i, b in bx.items() if b.get("text", "").startswith("play~ ")}
    assert set(players) == {f"---gesam-{s}" for s in SLOTS}  # each plays its slot's buffer
    for k, slot in enumerate(SLOTS):
        player = players[f"---gesam-{slot}"]
        assert [s for s in SLOTS if outlet_reaches(device, by_note, SLOTS.index(s), player)] == [slot]
        assert reaches(device, player, out)
        (amp,) = [d for s, o, d, i in cords(device) if s == player and o == 0]
        assert bx[amp]["text"].startswith("*~") and {i for s, _, d, i in cords(device) if s == amp and d == out} == {0, 1}
        [(t, outlet)] = [(s, o) for s, o, d, i in cords(device) if d == amp and i == 1]
        assert (bx[t]["text"], outlet) == ("t b f", 1)  # the velocity sets the gain, then (outlet 0) it plays
        assert outlet_reaches(device, t, 0, player) and not outlet_reaches(device, t, 1, player)
        assert outlet_reaches(device, by_note, k, t)
        assert any(outlet_reaches(device, by_note, k, g) and reaches(device, g, t) for g in find(device, "newobj", "/ 127."))
    buttons = find(device, "button")
    assert len(buttons) == 17 and all(reaches(device, b, by_note) for b in buttons)  # audition each slot


def test_the_device_view_fits_live(device: dict[str, Any]) -> None:
    bx = boxes(device)
    assert device["openinpresentation"] == 1
    assert _overlaps([(i, b["patching_rect"]) for i, b in bx.items()]) == []
    shown = [(i, b["presentation_rect"]) for i, b in bx.items() if b.get("presentation")]
    assert _overlaps(shown) == []
    assert max(r[1] + r[3] for _, r in shown) <= 169 and max(r[0] + r[2] for _, r in shown) <= device["devicewidth"]


# ---- Pure Data -------------------------------------------------------------------------------------
PD_TEXT = (PATCHES / PD_SAMPLER).read_text()
PD_VANILLA = {"loadbang", "netsend", "netreceive", "oscformat", "oscparse", "list", "pack", "unpack", "t", "/",
              "route", "notein", "stripnote", "print", "symbol", "r", "table", "soundfiler", "tabplay~", "*~", "dac~",
              "writesf~", "bng"}


def pd_graph() -> tuple[list[list[str]], dict[tuple[int, int], list[tuple[int, int]]]]:
    items, cords_ = pd_objects(PD_TEXT)
    outs: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for s, o, d, i in cords_:
        outs.setdefault((s, o), []).append((d, i))
    return items, outs


def pd_reaches(outs: dict[tuple[int, int], list[tuple[int, int]]], src: int, outlet: int, goal: int) -> bool:
    seen: set[int] = set()
    todo = deque(d for d, _ in outs.get((src, outlet), []))
    while todo:
        n = todo.popleft()
        if n == goal:
            return True
        if n not in seen:
            seen.add(n)
            todo.extend(d for (s, _), ds in outs.items() if s == n for d, _ in ds)
    return False


def pd_find(items: list[list[str]], text: str) -> int:
    found = [k for k, a in enumerate(items) if a[1] in ("obj", "msg") and " ".join(a[4:]) == text]
    assert len(found) == 1, (text, found)
    return found[0]


def test_the_pd_twin_uses_vanilla_objects_and_asks_the_engine() -> None:
    items, _ = pd_objects(PD_TEXT)
    assert {a[4] for a in items if a[1] == "obj"} <= PD_VANILLA
    assert pd_osc_addresses(PD_TEXT) == [("/gesam/sounds", "")] and incoming("/gesam/sounds")
    msgs = [" ".join(a[4:]) for a in items if a[1] == "msg"]
    assert "connect 127.0.0.1 9000" in msgs and "\\; pd dsp 1" in msgs
    assert [a[4:] for a in items if a[1] == "obj" and a[4] in ("netsend", "netreceive")] == [
        ["netsend", "-u", "-b"], ["netreceive", "-u", "-b", "9002"], ["netreceive", "-u", "9003"]]
    _, outs = pd_graph()
    load, ask = pd_find(items, "loadbang"), pd_find(items, "oscformat gesam sounds")
    assert pd_reaches(outs, load, 0, ask)


def test_the_pd_twin_routes_only_what_the_engine_sends() -> None:
    routed, final = pd_routed(PD_TEXT)
    slots = {f"/gesam/state/sound/{s}" for s in SLOTS}  # the slot route after /gesam/state/sound
    assert slots <= final
    for address in final - slots:
        assert outgoing(address), address
    assert SAMPLER_ROUTED <= routed


def test_each_pd_slot_is_read_into_its_table_and_played_by_its_note() -> None:
    items, outs = pd_graph()
    by_slot = pd_find(items, "route " + " ".join(SLOTS))
    by_note = pd_find(items, "route " + " ".join(str(n) for n in NOTES))
    dac, rec = pd_find(items, "dac~"), pd_find(items, "writesf~ 1")
    for k, slot in enumerate(SLOTS):
        read = pd_find(items, f"read -resize \\$1 gesam-sound-{slot}")
        assert [s for j, s in enumerate(SLOTS) if pd_reaches(outs, by_slot, j, read)] == [slot]
        pd_find(items, f"table gesam-sound-{slot}")
        player = pd_find(items, f"tabplay~ gesam-sound-{slot}")
        assert [s for j, s in enumerate(SLOTS) if pd_reaches(outs, by_note, j, player)] == [slot]
        (amp,) = [d for d, _ in outs[(player, 0)]]
        assert items[amp][4:] == ["*~", "0"]
        assert sorted(outs[(amp, 0)]) == sorted([(dac, 0), (dac, 1), (rec, 0)])
        (t,) = [s for (s, o), ds in outs.items() if (amp, 1) in ds]  # the velocity sets the gain first
        assert items[t][4:] == ["t", "b", "f"] and outs[(t, 0)] == [(player, 0)]
    notein, control = pd_find(items, "notein"), pd_find(items, "netreceive -u 9003")
    orders = pd_find(items, "route note record")
    assert pd_reaches(outs, notein, 0, by_note) and pd_reaches(outs, orders, 0, by_note)
    assert outs[(control, 0)] == [(orders, 0)] and outs[(orders, 1)] == [(rec, 0)]


def test_pd_loads_the_sampler_twin_and_saves_it_back_unchanged(tmp_path: Path) -> None:
    if shutil.which("pd") is None:
        missing_part("Pure Data is not installed (apt-get install puredata-core)")
    twin = tmp_path / PD_SAMPLER
    twin.write_text(re.sub(r"\b900([0-3])\b", r"1900\1", PD_TEXT))  # ports nothing else uses while it loads
    proc = subprocess.run(["timeout", "10", "pd", "-nogui", "-noaudio", "-nomidi", "-stderr", "-batch",
                           "-send", f"pd-{PD_SAMPLER} menusave; pd quit", str(twin)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and "saved to:" in proc.stderr, proc.stderr
    assert "couldn't create" not in proc.stderr
    assert [e for e in pd_errors(proc.stderr) if not e.startswith("saved to:")] == []
    assert twin.read_text() == re.sub(r"\b900([0-3])\b", r"1900\1", PD_TEXT)
