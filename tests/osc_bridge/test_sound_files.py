"""The DAW sampler devices' sound files (``osc_bridge.sound_files``) on a real started Engine (tiny
model, WAV output): what /gesam/sounds answers, the WAVs (24-bit, the engine's rate, the sound a
trigger plays), a new version on each ready event, old versions removed after a while, and the
serve wiring (options, pushes to OSC clients over real UDP)."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import soundfile as sf

from gesam_engine.cli.serve_cmd import add_serve_parser, make_sound_files, osc_push
from gesam_engine.errors import GesamError
from osc_bridge.controller import BridgeError, Controller, Reply
from osc_bridge.osc.server import OscServer
from osc_bridge.sound_files import FILE_NAME, SOUND_ADDRESS, SoundFiles, SoundSource
from tests.osc_bridge import Client, make_engine
from tests.waiting import wait_for

LSB = 2.0 ** -23  # one step of a 24-bit sample


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    e = make_engine(tmp_path_factory.mktemp("sound_files_engine"))
    yield e
    e.stop()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pushed:
    """The replies a SoundFiles pushed (from its writer thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.replies: list[Reply] = []

    def __call__(self, replies: list[Reply]) -> None:
        with self.lock:
            self.replies.extend(replies)

    def for_slot(self, slot: str) -> list[str]:
        with self.lock:
            return [args[1] for address, args in self.replies if address == SOUND_ADDRESS and args[0] == slot]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pushed() -> Pushed:
    return Pushed()


@pytest.fixture
def files(engine: Any, tmp_path: Path, clock: Clock, pushed: Pushed) -> Iterator[SoundFiles]:
    sound_files = SoundFiles(engine, tmp_path / "live", keep_s=5.0, push=pushed, clock=clock).start()
    yield sound_files
    sound_files.stop()


def sounds(replies: list[Reply]) -> dict[str, Path]:
    return {args[0]: Path(args[1]) for address, args in replies if address == SOUND_ADDRESS}


def assert_holds(path: Path, wave: np.ndarray, rate: int) -> None:
    """``path`` is a 24-bit mono WAV at ``rate`` holding ``wave`` (to the 24-bit step)."""
    info = sf.info(str(path))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_24", rate, 1)
    data, _ = sf.read(str(path), dtype="float64")
    assert data.shape == wave.shape
    assert np.max(np.abs(data - np.clip(wave, -1, 1))) <= LSB
    assert np.max(np.abs(data)) > 1e-3  # a sound, not silence


def test_the_engine_is_a_sound_source(engine: Any) -> None:
    source: SoundSource = engine  # mypy checks the protocol here, the asserts at run time
    assert source.sample_rate == engine.sample_rate and callable(source.sound_for)


def test_sounds_answers_the_model_and_every_slot_with_the_sound_a_trigger_plays(engine: Any, files: SoundFiles) -> None:
    replies = files.replies()
    assert replies[0] == ("/gesam/state/model", [engine.model_name])
    slots = sounds(replies)
    assert list(slots) == ["cursor", *(f"pad{n}" for n in range(16))] == files.slots()
    for slot, path in slots.items():
        assert path.is_absolute() and path.parent == files.folder and FILE_NAME.match(path.name)
        assert path.name.startswith(f"{slot}-")
        xy = engine.cursor if slot == "cursor" else engine.pad(int(slot[3:])).xy
        assert_holds(path, engine.sound_for(xy)[0], engine.sample_rate)
    assert len({p.name for p in slots.values()}) == 17  # a name per file
    assert files.replies()[1:] == replies[1:]  # nothing changed: the same files, not written again
    assert sorted(files.folder.iterdir()) == sorted(slots.values())  # no temporary files left


def test_nothing_is_written_until_a_client_asks(engine: Any, files: SoundFiles, pushed: Pushed) -> None:
    engine.move(0.31, 0.42)
    wait_for(lambda: engine.is_ready((0.31, 0.42)))
    engine.move(0.31, 0.42)  # ready at once: its ready event comes on this thread
    assert not files.folder.exists() and pushed.replies == []


def test_a_moved_cursor_gets_a_new_version_and_the_old_one_goes_after_a_while(
        engine: Any, files: SoundFiles, pushed: Pushed, clock: Clock) -> None:
    engine.move(0.2, 0.2)
    first = sounds(files.replies())
    engine.move(0.8, 0.7)
    wait_for(lambda: len(pushed.for_slot("cursor")) >= 1)
    (new,) = pushed.for_slot("cursor")[:1]
    new_path = Path(new)
    assert new_path != first["cursor"] and files.path("cursor") == new_path
    number = int(FILE_NAME.match(new_path.name).group(2))  # type: ignore[union-attr]
    assert number > max(int(FILE_NAME.match(p.name).group(2)) for p in first.values())  # type: ignore[union-attr]
    assert engine.is_ready((0.8, 0.7))
    assert_holds(new_path, engine.sound_for((0.8, 0.7))[0], engine.sample_rate)
    assert first["cursor"].is_file()  # kept: a device may still be loading it
    assert all(first[f"pad{n}"].is_file() for n in range(16))  # the pads did not change
    assert pushed.for_slot("pad0") == []
    clock.now += 4.9
    files.prune()
    assert first["cursor"].is_file()
    clock.now += 0.1
    assert files.prune() is None  # nothing else waits to be removed
    assert not first["cursor"].exists() and new_path.is_file()


def test_a_pad_set_elsewhere_is_pushed_with_its_own_sound(engine: Any, files: SoundFiles, pushed: Pushed) -> None:
    before = sounds(files.replies())
    pad = engine.set_pad(5, 0.91, 0.12)
    wait_for(lambda: len(pushed.for_slot("pad5")) >= 1)
    path = Path(pushed.for_slot("pad5")[-1])
    wait_for(lambda: files.path("pad5") == path)
    assert_holds(path, engine.sound_for(pad.xy)[0], engine.sample_rate)
    data, _ = sf.read(str(path), dtype="float32")
    other, _ = engine.sound_for(engine.pad(4).xy)
    assert data.shape != other.shape or np.max(np.abs(data - other)) > 1e-3  # pad 5's sound, not pad 4's
    assert sounds(files.replies())["pad4"] == before["pad4"]


def test_stale_points_unknown_slots_and_variants_write_nothing(engine: Any, files: SoundFiles, pushed: Pushed) -> None:
    files.replies()
    names = sorted(files.folder.iterdir())
    x, y = engine.cursor
    for data in ({"slot": "cursor", "xy": (x / 2, y / 2)}, {"slot": "pad99", "xy": (0.5, 0.5)},
                 {"slot": "variant3:0.1000,0.2000", "xy": (0.1, 0.2)}, {"xy": (0.5, 0.5)}):
        files.on_event("ready", {**data, "ms": 1.0})
    files.on_event("model", {"error": "no such model", "name": "x", "path": "/x"})
    files.stop()  # the writer has taken what was queued (nothing)
    assert sorted(files.folder.iterdir()) == names and pushed.replies == []


class Recording(SoundFiles):
    """SoundFiles that notes every slot its writer thread updates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updated: list[str] = []

    def update(self, slot: str) -> Reply | None:
        self.updated.append(slot)
        return super().update(slot)


def test_a_model_switch_looks_at_every_slot_again(engine: Any, tmp_path: Path) -> None:
    sound_files = Recording(engine, tmp_path / "live").start()
    try:
        sound_files.on_event("model", {"name": "other", "path": "/models/other", "ms": 10.0})
        sound_files.replies()
        sound_files.updated.clear()
        sound_files.on_event("model", {"name": "other", "path": "/models/other", "ms": 10.0})
        wait_for(lambda: len(sound_files.updated) == 17)
    finally:
        sound_files.stop()
    assert sound_files.updated == sound_files.slots()  # not before a client asked (the first event)


def test_a_missing_file_is_written_again(engine: Any, files: SoundFiles) -> None:
    first = sounds(files.replies())
    first["pad2"].unlink()
    again = sounds(files.replies())
    assert again["pad2"] != first["pad2"] and again["pad2"].is_file()
    assert {s: p for s, p in again.items() if s != "pad2"} == {s: p for s, p in first.items() if s != "pad2"}


def test_files_of_an_earlier_run_are_removed_and_their_numbers_not_reused(engine: Any, tmp_path: Path) -> None:
    folder = tmp_path / "live"
    folder.mkdir()
    (folder / "cursor-000041.wav").write_bytes(b"old")
    (folder / "pad3-000077.wav").write_bytes(b"old")
    (folder / "notes.txt").write_text("mine")
    replies = sounds(SoundFiles(engine, folder).replies())
    assert not (folder / "cursor-000041.wav").exists() and not (folder / "pad3-000077.wav").exists()
    assert (folder / "notes.txt").read_text() == "mine"
    assert min(int(FILE_NAME.match(p.name).group(2)) for p in replies.values()) == 78  # type: ignore[union-attr]


def test_bad_slots_and_folders_are_refused_with_what_is_valid(engine: Any, tmp_path: Path) -> None:
    files = SoundFiles(engine, tmp_path / "live")
    with pytest.raises(BridgeError, match=r"'cursor' or 'pad<n>'"):
        files.update("kick")
    with pytest.raises(BridgeError, match=r"pads 0\.\.15"):
        files.update("pad16")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(BridgeError, match="cannot use the sound file folder"):
        SoundFiles(engine, tmp_path / "a-file" / "live").replies()
    with pytest.raises(BridgeError, match="keep_s"):
        SoundFiles(engine, tmp_path, keep_s=float("nan"))


# ---- gesam serve -------------------------------------------------------------------------------
def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_parser(parser)
    return parser.parse_args(list(argv))


def test_serve_writes_into_the_render_folder_unless_told_otherwise(engine: Any, tmp_path: Path) -> None:
    made = make_sound_files(serve_args("--render-dir", str(tmp_path / "r")), engine)
    assert made is not None and made.folder == (tmp_path / "r" / "live").resolve()
    made = make_sound_files(serve_args("--sound-files", str(tmp_path / "daw")), engine)
    assert made is not None and made.folder == (tmp_path / "daw").resolve()
    assert make_sound_files(serve_args("--no-sound-files"), engine) is None
    assert make_sound_files(serve_args("--no-osc"), engine) is None
    with pytest.raises(GesamError, match="contradict"):
        make_sound_files(serve_args("--no-sound-files", "--sound-files", "x"), engine)


def test_sounds_over_osc_and_pushes_reach_the_feedback_address(engine: Any, tmp_path: Path) -> None:
    """Real UDP: /gesam/sounds through the server's Controller, then a pad change pushed unasked."""
    listener = Client(("127.0.0.1", 9))  # only receives: the feedback address
    sound_files = SoundFiles(engine, tmp_path / "live")
    server = OscServer(Controller(engine, tmp_path, on_sounds=sound_files.replies), "127.0.0.1", 0,
                       feedback=listener.address).start()
    sound_files.push = osc_push(server)
    sound_files.start()
    sender = Client(server.address)
    try:
        sender.send("/gesam/sounds")
        assert listener.expect("/gesam/state/model") == [engine.model_name]
        got = dict(listener.expect(SOUND_ADDRESS) for _ in range(17))
        assert set(got) == set(sound_files.slots()) and all(Path(p).is_file() for p in got.values())
        pad = engine.set_pad(9, 0.05, 0.95)
        slot, path = listener.expect(SOUND_ADDRESS, timeout=30)
        assert slot == "pad9" and path != got["pad9"]
        assert_holds(Path(path), engine.sound_for(pad.xy)[0], engine.sample_rate)
    finally:
        sound_files.stop()
        server.stop()
        sender.close()
        listener.close()


def test_sounds_is_refused_without_sound_files(engine: Any, tmp_path: Path) -> None:
    server = OscServer(Controller(engine, tmp_path), "127.0.0.1", 0).start()
    client = Client(server.address)
    try:
        client.send("/gesam/sounds")
        (reason,) = client.expect("/gesam/error")
        assert "sound files" in reason
    finally:
        server.stop()
        client.close()


@pytest.mark.slow
@pytest.mark.e2e
def test_gesam_serve_answers_sounds_and_pushes_a_changed_pad(tmp_path: Path) -> None:
    """The CLI wiring: `gesam serve --feedback ... --sound-files DIR` as a process, over real UDP."""
    from tests.cli.test_serve_lifecycle import finish, read_until
    from tests.tiny import tiny_model

    tiny_model(0.3).save(tmp_path / "kick-model")
    listener = Client(("127.0.0.1", 9))
    proc = subprocess.Popen([sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(tmp_path / "kick-model"),
                             "--osc-port", "0", "--cache", str(tmp_path / "cache"), "--device", "no-such-device",
                             "--feedback", f"127.0.0.1:{listener.address[1]}", "--sound-files", str(tmp_path / "daw"),
                             "--daemon"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sender = None
    try:
        lines = read_until(proc, "listening for OSC")
        port = int(lines[-1].strip().rsplit(":", 1)[1])
        sender = Client(("127.0.0.1", port))
        sender.send("/gesam/sounds")
        assert listener.expect("/gesam/state/model", timeout=30) == ["kick-model"]
        got = dict(listener.expect(SOUND_ADDRESS) for _ in range(17))
        assert {Path(p).parent for p in got.values()} == {(tmp_path / "daw").resolve()}
        assert all(Path(p).is_file() for p in got.values())
        sender.send("/gesam/pad/2/xy", 0.9, 0.1)
        slot, path = listener.expect(SOUND_ADDRESS, timeout=60)
        assert slot == "pad2" and path != got["pad2"] and Path(path).is_file()
        proc.send_signal(signal.SIGTERM)
        out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        listener.close()
        if sender is not None:
            sender.close()
    assert proc.returncode == 0 and "Traceback" not in out, out
