"""MidiInput on real MIDI systems: JACK virtual ports on a dummy jackd, and the real failures
of backends this machine lacks (no ALSA sequencer, no JACK server)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from typing import Any

import mido
import pytest

from gesam_engine.errors import ConfigError, GesamError
from osc_bridge.commands import Command, Move, Note, PitchBend, ProgramChange
from osc_bridge.midi.input import BACKENDS, MidiInput, MidiUnavailable, resolve_backend
from osc_bridge.midi.mailbox import MidiMailbox
from osc_bridge.midi.map import MidiMapping
from tests.runtime.jack_harness import jack_server  # noqa: F401  (the fixture)
from tests.waiting import wait_for, wait_until

JACK = BACKENDS["jack"]


class Recorder:
    """An execute callable that keeps what it was given (thread-safe); a timed command's time
    (``at``) is kept apart in ``times``, so commands compare as plain values."""

    def __init__(self, fail: Any = None) -> None:
        self.commands: list[Command] = []
        self.times: list[float] = []
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, cmd: Command) -> list[Any]:
        if self.fail is not None and self.fail(cmd):
            raise GesamError(f"refused {cmd}")
        with self.lock:
            at = getattr(cmd, "at", None)
            if at is not None:
                self.times.append(at)
                cmd = dataclasses.replace(cmd, at=None)  # type: ignore[arg-type]
            self.commands.append(cmd)
        return []

    def got(self, n: int) -> bool:
        with self.lock:
            return len(self.commands) >= n


def sender(name_part: str = "gesam_in") -> mido.ports.BaseOutput:
    """A mido output on the JACK backend connected to the port whose name contains ``name_part``."""
    backend = mido.Backend(JACK, load=True, use_environ=False)
    names = [n for n in backend.get_output_names() if name_part in n]
    assert len(names) == 1, f"expected one port containing {name_part!r}, got {backend.get_output_names()}"
    return backend.open_output(names[0])


def primed(out: mido.ports.BaseOutput, midi: MidiInput) -> mido.ports.BaseOutput:
    """``out`` once a message sent on it reaches ``midi``: a new JACK connection takes effect at
    a cycle boundary, and what is sent before that is lost. Sends unmapped CC 119s (ignored)."""
    for _ in range(100):
        before = midi.stats()["arrived"]
        out.send(mido.Message("control_change", control=119, value=0))
        if wait_until(lambda: midi.stats()["arrived"] > before, 0.1):
            return out
    raise AssertionError(f"nothing sent on {out.name} reached {midi.port_names}")


# -- without a MIDI system: names and real failures ------------------------------------------------

def test_backend_names_resolve(monkeypatch) -> None:
    monkeypatch.delenv("MIDO_BACKEND", raising=False)
    assert resolve_backend(None) == "mido.backends.rtmidi"
    assert resolve_backend("jack") == JACK and resolve_backend("ALSA") == BACKENDS["alsa"]
    assert resolve_backend("mido.backends.portmidi") == "mido.backends.portmidi"
    monkeypatch.setenv("MIDO_BACKEND", "jack")
    assert resolve_backend(None) == JACK
    assert resolve_backend("alsa") == BACKENDS["alsa"]  # an explicit name beats the environment


def test_unknown_backend_lists_the_valid_ones(monkeypatch) -> None:
    with pytest.raises(MidiUnavailable, match="unknown MIDI backend 'jak': valid names are alsa, jack, coremidi, "
                                              "windows or a mido backend module such as mido.backends.rtmidi/UNIX_JACK"):
        MidiInput(Recorder(), backend="jak")
    monkeypatch.setenv("MIDO_BACKEND", "nonsense")
    with pytest.raises(MidiUnavailable, match="unknown MIDO_BACKEND 'nonsense'"):
        MidiInput(Recorder())


def test_nothing_to_open_is_refused() -> None:
    with pytest.raises(ConfigError, match="virtual port name or at least one port"):
        MidiInput(Recorder(), virtual_name=None)


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_alsa_without_a_sequencer_is_one_clear_error(capfd) -> None:
    midi = MidiInput(Recorder(), backend="alsa")
    with pytest.raises(MidiUnavailable) as info:
        midi.start()
    message = str(info.value)
    assert message == ("MIDI backend 'alsa' (mido.backends.rtmidi/LINUX_ALSA) cannot start: there is no ALSA "
                       "sequencer (/dev/snd/seq does not exist; load the snd-seq kernel module); choose another "
                       "backend with --midi-backend jack (or MIDO_BACKEND), or play without MIDI.")
    assert "snd_seq_hw_open" in info.value.detail  # alsa-lib's own complaint, kept off the terminal
    out, err = capfd.readouterr()
    assert "ALSA lib" not in err and "ALSA lib" not in out
    assert not midi.running
    midi.close()  # closing a MidiInput that never started is fine


def test_jack_without_a_server_is_one_clear_error(monkeypatch, capfd) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"gesam-absent-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with pytest.raises(MidiUnavailable, match=r"^MIDI backend 'jack' \(mido.backends.rtmidi/UNIX_JACK\) cannot start: "
                                              r"no JACK server is running \(server 'gesam-absent-\w+'; start jackd "
                                              r"first\); choose another backend with --midi-backend alsa"):
        MidiInput(Recorder(), backend="jack").start()
    assert "Cannot connect to server" not in capfd.readouterr().err


# -- JACK: real virtual ports on a dummy server -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.e2e
def test_ccs_notes_bend_and_programs_arrive_in_order(jack_server) -> None:  # noqa: F811
    got = Recorder()
    with MidiInput(got, backend="jack") as midi:
        assert midi.port_names == ["gesam_in"]
        out = sender()
        try:
            out.send(mido.Message("control_change", control=16, value=127))
            out.send(mido.Message("control_change", control=17, value=0))
            out.send(mido.Message("control_change", control=48, value=127))  # 14-bit refinement of x
            out.send(mido.Message("control_change", control=7, value=50))  # not mapped: nothing
            out.send(mido.Message("note_on", note=36, velocity=100, channel=9))
            out.send(mido.Message("note_on", note=36, velocity=0, channel=9))  # off: nothing
            out.send(mido.Message("note_on", note=62, velocity=20))
            out.send(mido.Message("pitchwheel", pitch=-8192))
            out.send(mido.Message("program_change", program=3))
            wait_for(lambda: got.got(7), timeout=10)
        finally:
            out.close()
        stats = midi.stats()
    assert got.commands == [Move(1.0, 0.5), Move(1.0, 0.0), Move(1.0, 0.0), Note(36, 100), Note(62, 20),
                            PitchBend(-2.0), ProgramChange(3)]
    # the notes carry the moment they arrived (stamped in the backend's thread), in order
    assert len(got.times) == 2 and got.times[0] <= got.times[1] <= time.perf_counter()
    assert stats["received"] == 9 and stats["commands"] == 7 and stats["ignored"] == 2 and stats["errors"] == 0
    assert stats["latency_ms"]["count"] == 7 and 0 <= stats["latency_ms"]["median"] < 1000
    assert not midi.running and midi.port_names == []


@pytest.mark.slow
@pytest.mark.e2e
def test_a_failing_execute_does_not_stop_midi(jack_server) -> None:  # noqa: F811
    got = Recorder(fail=lambda cmd: isinstance(cmd, Note) and cmd.note == 40)
    midi = MidiInput(got, backend=JACK).start()
    out = sender()
    try:
        for note in (38, 40, 42, 40, 44):
            out.send(mido.Message("note_on", note=note, velocity=90))
        wait_for(lambda: got.got(3) and midi.errors == 2, timeout=10)
        out.send(mido.Message("control_change", control=17, value=127))
        wait_for(lambda: got.got(4), timeout=10)
    finally:
        out.close()
        midi.close()
    assert got.commands == [Note(38, 90), Note(42, 90), Note(44, 90), Move(0.5, 1.0)]
    stats = midi.stats()
    assert stats["errors"] == 2 and stats["commands"] == 4
    assert stats["last_error"].startswith("GesamError: refused Note(note=40, velocity=90, at=")
    midi.close()  # twice is fine


@pytest.mark.slow
@pytest.mark.e2e
def test_learn_over_midi_then_save(jack_server, tmp_path) -> None:  # noqa: F811
    got = Recorder()
    learned: list[MidiMapping] = []
    midi = MidiInput(got, MidiMapping(channel=1), backend="jack", on_learned=learned.append).start()
    out = sender()
    try:
        midi.learn("x")
        out.send(mido.Message("control_change", control=1, value=0, channel=5))  # other channel: not learned
        out.send(mido.Message("control_change", control=1, value=127, channel=0))
        wait_for(lambda: got.got(1), timeout=10)
        out.send(mido.Message("control_change", control=16, value=0))  # the old x controller: nothing
        out.send(mido.Message("control_change", control=33, value=127))  # the learned LSB refines x
        wait_for(lambda: got.got(2), timeout=10)
    finally:
        out.close()
        midi.close()
    assert got.commands == [Move(1.0, 0.5), Move(16383 / 16383, 0.5)]
    assert (midi.mapping.x_cc, midi.mapping.x_cc_lsb) == (1, 33) and learned == [midi.mapping]
    assert MidiMapping.load(midi.mapping.save(tmp_path / "midi.toml")) == midi.mapping


@pytest.mark.slow
@pytest.mark.e2e
def test_connects_to_an_existing_port_by_name(jack_server) -> None:  # noqa: F811
    backend = mido.Backend(JACK, load=True, use_environ=False)
    keyboard = backend.open_output("keys_out", virtual=True, client_name="fake_keyboard")
    got = Recorder()
    try:
        with pytest.raises(MidiUnavailable, match=r"no MIDI input port matches \['nothing_like_this'\]; "
                                                  r"available: \['fake_keyboard:keys_out'\]"):
            MidiInput(got, backend="jack", virtual_name=None, connect=["nothing_like_this"]).start()
        with MidiInput(got, backend="jack", virtual_name=None, connect=["keys_out"]) as midi:
            assert midi.port_names == ["fake_keyboard:keys_out"]
            keyboard.send(mido.Message("note_on", note=50, velocity=64))
            wait_for(lambda: got.got(1), timeout=10)
    finally:
        keyboard.close()
    assert got.commands == [Note(50, 64)]


@pytest.mark.slow
@pytest.mark.reliability
def test_a_connected_port_that_vanishes_and_returns_is_reconnected(jack_server) -> None:  # noqa: F811
    """A controller unplugged and plugged in again (its JACK port closed, then made again)."""
    backend = mido.Backend(JACK, load=True, use_environ=False)
    keyboard = backend.open_output("keys_out", virtual=True, client_name="fake_keyboard")
    got, lines = Recorder(), []
    midi = MidiInput(got, backend="jack", virtual_name="gesam_in", connect=["keys_out"], rescan_s=0.2,
                     on_port_change=lines.append).start()
    try:
        keyboard.send(mido.Message("note_on", note=50, velocity=64))
        wait_for(lambda: got.got(1), timeout=10)
        keyboard.close()
        wait_for(lambda: any("went away" in line for line in lines), timeout=10)
        assert midi.port_names == ["gesam_in"] and midi.running  # the virtual port plays on
        with primed(sender("gesam_in"), midi) as other:  # and still takes messages meanwhile
            other.send(mido.Message("note_on", note=40, velocity=10))
            assert wait_until(lambda: got.got(2), timeout=10), midi.stats()
        keyboard = backend.open_output("keys_out", virtual=True, client_name="fake_keyboard")
        wait_for(lambda: any("is connected" in line for line in lines), timeout=10)
        assert sorted(midi.port_names) == ["fake_keyboard:keys_out", "gesam_in"]
        primed(keyboard, midi).send(mido.Message("note_on", note=51, velocity=64))
        wait_for(lambda: got.got(3), timeout=10)
    finally:
        keyboard.close()
        midi.close()
    assert got.commands == [Note(50, 64), Note(40, 10), Note(51, 64)]
    assert lines == ["MIDI port fake_keyboard:keys_out went away; playing on, waiting for it to come back",
                     "MIDI port fake_keyboard:keys_out is connected"]
    assert midi.errors == 0


# -- floods: controls coalesce, notes never do -------------------------------------------------------

def _cc(value: int, control: int = 16, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def _drain(box: MidiMailbox) -> list[mido.Message]:
    out = []
    while (item := box.get(timeout=0)) is not None:
        out.append(item[1])
    return out


@pytest.mark.reliability
def test_the_mailbox_keeps_each_controllers_newest_value_and_every_note_in_order() -> None:
    box = MidiMailbox(capacity=16)
    note, program = mido.Message("note_on", note=36, velocity=100), mido.Message("program_change", program=3)
    sent = [_cc(1), _cc(2), _cc(5, control=17), _cc(3), note, _cc(4), _cc(5), _cc(9, channel=1),
            mido.Message("pitchwheel", pitch=100), mido.Message("pitchwheel", pitch=200), program, _cc(6)]
    for i, msg in enumerate(sent):
        box.put(float(i), msg)
    assert _drain(box) == [_cc(5, control=17), _cc(3), note, _cc(5), _cc(9, channel=1),
                           mido.Message("pitchwheel", pitch=200), program, _cc(6)]
    assert box.stats() == {"arrived": 12, "coalesced": 4, "dropped": 0, "dropped_notes": 0, "waiting": 0}


@pytest.mark.reliability
def test_a_full_mailbox_counts_what_it_drops_but_never_loses_a_knobs_last_position() -> None:
    box = MidiMailbox(capacity=3)
    notes = [mido.Message("note_on", note=n, velocity=90) for n in (40, 41, 42)]
    box.put(0.0, _cc(1))
    box.put(1.0, notes[0])
    box.put(2.0, notes[1])  # full
    box.put(3.0, notes[2])  # dropped, and counted as a note
    box.put(4.0, _cc(99))  # full, but x's last position replaces the waiting one
    box.put(5.0, _cc(7, control=17))  # full and nothing of its key waits: dropped, counted
    assert box.stats() == {"arrived": 6, "coalesced": 1, "dropped": 2, "dropped_notes": 1, "waiting": 3}
    assert _drain(box) == [_cc(99), notes[0], notes[1]]
    box.close()
    assert box.get() is None  # closed and empty: the worker ends


class Held(Recorder):
    """A Recorder whose first command blocks until ``release`` is set: the engine busy elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, cmd: Command) -> list[Any]:
        self.entered.set()
        assert self.release.wait(60), "never released"
        return super().__call__(cmd)


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.reliability
def test_ten_thousand_ccs_end_on_the_last_value_and_no_note_is_lost(jack_server) -> None:  # noqa: F811
    """A knob swept 10,000 times while the worker is busy: the last value wins, the note in the
    middle plays between the positions sent around it (before, 10 k of them dropped the newest)."""
    got = Held()
    n, chunk = 10_000, 200
    values = [i % 127 for i in range(n - 1)] + [77]  # the last one differs from the one before
    done = mido.Message("note_on", note=127, velocity=1, channel=9)  # sent last: all before it has arrived
    midi = MidiInput(got, backend=JACK).start()
    out = sender()
    try:
        while not got.entered.is_set():  # until the JACK connection carries it; repeats coalesce
            out.send(_cc(values[0]))
            got.entered.wait(0.05)
        # the worker now holds the first value, as if the engine were busy: everything else waits
        for i, value in enumerate(values[1:], start=1):
            if i == n // 2:
                out.send(mido.Message("note_on", note=36, velocity=100, channel=9))
            out.send(_cc(value))
            if i % chunk == 0:  # paced by what arrived, so JACK's own buffers never overflow
                wait_for(lambda: midi.stats()["arrived"] >= i, 10)
        out.send(done)
        # waiting: the sweep before the note, the note, the sweep after it, the last note
        wait_for(lambda: midi.stats()["waiting"] == 4, 10)
        got.release.set()
        wait_for(lambda: got.got(5) and midi.stats()["waiting"] == 0, 10)
    finally:
        got.release.set()
        out.close()
        midi.close()
    stats = midi.stats()
    half = n // 2
    assert got.commands == [Move(values[0] / 127, 0.5), Move(values[half - 1] / 127, 0.5), Note(36, 100),
                            Move(77 / 127, 0.5), Note(127, 1)], got.commands
    assert stats["dropped"] == 0 and stats["received"] == 5 and stats["errors"] == 0, stats
    assert stats["arrived"] == stats["received"] + stats["coalesced"] >= n + 2, stats
