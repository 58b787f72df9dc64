"""The OSC server over real UDP on port 0, with a real Engine (tiny model, WAV output) and with
stand-in controllers where a test needs to hold or break the executor.

Clients: python-osc, raw sockets, liblo's ``oscsend`` and Pure Data (programs we did not write).
"""

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import soundfile as sf
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from gesam_engine.errors import GesamError
from osc_bridge.commands import Gain, Move, Ping, Trigger
from osc_bridge.controller import Controller
from osc_bridge.osc.parse import decode_datagram
from osc_bridge.osc.server import OscServer, OscServerError
from tests.osc_bridge import Client, make_engine, message
from tests.waiting import wait_for

F32 = 1e-6  # OSC floats are float32


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    e = make_engine(tmp_path_factory.mktemp("osc_engine"))
    yield e
    e.stop()


@pytest.fixture
def server(engine: Any, tmp_path: Path) -> Iterator[OscServer]:
    s = OscServer(Controller(engine, tmp_path / "renders"), port=0).start()
    yield s
    s.stop()


@pytest.fixture
def client(server: OscServer) -> Iterator[Client]:
    c = Client(server.address)
    yield c
    c.close()


def played(engine: Any) -> int:
    return engine.metrics()["trigger_latency_ms"]["count"]


def settled(server: OscServer) -> bool:
    """Every datagram taken and every message accounted for (handled, refused, coalesced, waiting)."""
    s = server.stats()
    return s["queued"] == 0 and s["received"] == (s["handled"] + s["errors"] + s["coalesced"] + s["ignored"]
                                                  + s["pending_scheduled"] + s["renders_waiting"])


class Recording:
    """A controller that records (time, command) and can hold the executor until released."""

    def __init__(self, inner: Any = None, hold_first: bool = False) -> None:
        self.inner, self.engine = inner, getattr(inner, "engine", None)
        self.done: list[tuple[float, Any]] = []
        self.release, self.entered = threading.Event(), threading.Event()
        if not hold_first:
            self.release.set()

    def execute(self, cmd: Any) -> list:
        self.entered.set()
        self.release.wait(10)
        self.done.append((time.time(), cmd))
        if self.inner is not None:
            return self.inner.execute(cmd)
        if isinstance(cmd, Gain):
            raise RuntimeError("a bug")
        return [("/gesam/pong", [])] if isinstance(cmd, Ping) else []


# ---- a python-osc client, start to finish ---------------------------------------------------------
def test_a_python_osc_client_moves_plays_and_hears_when_the_point_is_ready(server: OscServer, engine: Any) -> None:
    assert server.address[0] == "127.0.0.1"
    before = played(engine)
    c = SimpleUDPClient(*server.address)
    c.send_message("/gesam/xy", [0.123, 0.877])
    c.send_message("/gesam/trigger", [0.9])
    got: list[tuple[str, list]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "/gesam/state/ready" not in [a for a, _ in got]:
        got += [(m.address, m.params) for m in c.get_messages(0.2)
                if m.address not in ("/gesam/state/audio", "/gesam/state/latency")]  # pushed, not replies
    addresses = [a for a, _ in got]
    assert addresses[0] == "/gesam/state/xy" and "/gesam/state/ready" in addresses, got
    for _, xy in got:
        assert xy == pytest.approx([0.123, 0.877], abs=F32)
    assert engine.cursor == pytest.approx((0.123, 0.877), abs=F32) and engine.is_ready()
    wait_for(lambda: played(engine) > before)  # the voice reached the output
    s = server.stats()
    assert s["handled"] == 2 and s["errors"] == s["malformed"] == 0 and s["latency_ms"]["count"] == 2


def test_moving_to_a_ready_point_answers_xy_then_ready(server: OscServer, client: Client, engine: Any) -> None:
    client.send("/gesam/xy", 0.5, 0.5)  # a baked point: ready at once
    assert client.expect("/gesam/state/xy") == [0.5, 0.5]
    assert client.expect("/gesam/state/ready", 2) == [0.5, 0.5]
    assert [a for a, _ in client.replies] == ["/gesam/state/xy", "/gesam/state/ready"]


# ---- refusals -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "reason"), [
    (message("/gesam/xy", 0.5), "/gesam/xy expects 2 numbers (x, y), got 1: [0.5]"),
    (message("/gesam/xy", 0.5, float("nan")), "y must be a finite number"),
    (message("/gesam/nope"), "unknown address '/gesam/nope'"),
    (message("/gesam/gain", 9.0), "gain must be in 0..4"),
    (message("/gesam/fx/reverb/mix", 0.5), "/gesam/fx/reverb/mix: no effects are configured"),  # the engine's refusal
    (message("/gesam/render", 0.5, 0.5, "../x.wav"), "must stay inside the render folder"),
    (b"\x00\x01garbage", "not an OSC packet"),
    (b"/gesam/xy\x00\x00\x00,ff\x00>\x80\x00\x00", "truncated"),
])
def test_a_bad_message_is_answered_on_error_and_the_server_goes_on(server: OscServer, client: Client,
                                                                    data: bytes, reason: str) -> None:
    client.send_raw(data)
    (text,) = client.expect("/gesam/error")
    assert reason in text, text
    client.send("/gesam/ping")
    assert client.expect("/gesam/pong") == []
    s = server.stats()
    assert s["errors"] + s["malformed"] == 1 and s["handled"] == 1 and s["internal_errors"] == 0


def test_an_unexpected_exception_is_counted_answered_and_survived() -> None:
    with OscServer(Recording(), port=0) as server:
        c = Client(server.address)
        c.send("/gesam/gain", 1.0)
        (text,) = c.expect("/gesam/error")
        assert "/gesam/gain: internal error, nothing was done (RuntimeError: a bug)" == text
        c.send("/gesam/ping")
        c.expect("/gesam/pong")
        assert server.stats()["internal_errors"] == 1 and server.stats()["errors"] == 1


# ---- latency and the audio process's health ----------------------------------------------------------
def test_latency_is_answered_and_the_audio_report_reaches_the_client(server: OscServer, engine: Any,
                                                                       client: Client) -> None:
    client.send("/gesam/latency")
    trigger_ms, timed_ms, output_ms, block_ms, limiter_ms, fixed_ms = client.expect("/gesam/state/latency")
    lat = engine.latency()
    assert block_ms == pytest.approx(1000 * engine.blocksize / engine.sample_rate, abs=1e-3) and limiter_ms > 0
    assert trigger_ms == pytest.approx(block_ms + limiter_ms + output_ms, abs=1e-3)
    assert timed_ms == pytest.approx(fixed_ms + limiter_ms + output_ms, abs=1e-3)
    assert fixed_ms == pytest.approx(lat["timed_ms"], abs=1e-3) and fixed_ms >= 2 * block_ms - 1e-3
    server._on_engine_event("audio", engine.audio_state())  # what the engine's watch thread sends once a second
    underruns, xruns, median, p99, top, cpu = client.expect("/gesam/state/audio")
    assert underruns == engine.output.underruns and xruns >= 0
    assert 0 < median <= p99 <= top  # the mixer's render time per block, in ms


# ---- time tags ------------------------------------------------------------------------------------
def bundle(when: float, *dgrams: bytes) -> bytes:
    b = OscBundleBuilder(when)
    for d in dgrams:
        b.add_content(OscMessage(d))
    return b.build().dgram


def test_a_future_bundle_runs_at_its_time_tag_never_before(engine: Any, tmp_path: Path) -> None:
    rec = Recording(Controller(engine, tmp_path))
    with OscServer(rec, port=0) as server:
        c = Client(server.address)
        data = bundle(time.time() + 0.3, message("/gesam/xy", 0.625, 0.375), message("/gesam/trigger"))
        when = decode_datagram(data)[0].timetag
        c.send_raw(data)
        c.send("/gesam/ping")
        c.expect("/gesam/pong", 1)  # answered at once, while the bundle waits
        assert "/gesam/state/xy" not in [a for a, _ in c.replies]
        assert c.expect("/gesam/state/xy", 2) == [0.625, 0.375]
        wait_for(lambda: len(rec.done) == 3, 1)
        (t_move, move), (t_trig, trig) = rec.done[1:3]
        assert move == Move(0.625, 0.375) and trig == Trigger(1.0, at=when - server.wall_offset)  # timed
        assert when <= t_move <= t_trig < when + 0.1
        assert server.stats()["scheduled"] == 2 and max(server.lateness_ms()) < 100
        # a time tag in the past or 'immediately' runs now; too far ahead is refused
        c.send_raw(bundle(time.time() - 10, message("/gesam/xy", 0.25, 0.25)))
        assert c.expect("/gesam/state/xy", 0.5) == [0.25, 0.25]
        c.send_raw(bundle(time.time() + 3600, message("/gesam/trigger")))
        assert "s ahead; gesam schedules at most 300 s ahead" in c.expect("/gesam/error")[0]
        c.send_raw(bundle(time.time() + 5, message("/gesam/xy", float("nan"), 0.5)))  # refused now, not in 5 s
        assert "x must be a finite number" in c.expect("/gesam/error", 0.5)[0]


def test_bundles_with_the_same_time_keep_their_order() -> None:
    rec = Recording()
    with OscServer(rec, port=0) as server:
        c = Client(server.address)
        when = time.time() + 0.1
        c.send_raw(bundle(when, message("/gesam/trigger", 0.1), message("/gesam/trigger", 0.2)))
        c.send_raw(bundle(when, message("/gesam/trigger", 0.3)))
        wait_for(lambda: len(rec.done) == 3, 2)
        assert [cmd.velocity for _, cmd in rec.done] == [pytest.approx(v) for v in (0.1, 0.2, 0.3)]
        tag = decode_datagram(bundle(when, message("/gesam/ping")))[0].timetag
        assert all(t >= tag for t, _ in rec.done)


# ---- floods ---------------------------------------------------------------------------------------
def test_a_burst_of_moves_collapses_to_the_newest_but_nothing_else_is_dropped() -> None:
    rec = Recording(hold_first=True)
    with OscServer(rec, port=0) as server:
        c = Client(server.address)
        c.send("/gesam/ping")  # held in the controller: the rest queues up behind it
        assert rec.entered.wait(2)
        for d in (message("/gesam/xy", 0.125, 0.125), message("/gesam/xy", 0.25, 0.25), message("/gesam/trigger"),
                  message("/gesam/xy", 0.375, 0.375), message("/gesam/xy", float("nan"), 0.0),
                  message("/gesam/xy", 0.5, 0.5), message("/gesam/ping")):
            c.send_raw(d)
        wait_for(lambda: server.stats()["queued"] == 7, 2)
        rec.release.set()
        c.expect("/gesam/pong")
        c.expect("/gesam/pong")
        wait_for(lambda: settled(server), 2)
        assert [cmd for _, cmd in rec.done] == [Ping(), Move(0.25, 0.25), Trigger(), Move(0.5, 0.5), Ping()]
        s = server.stats()
        assert s["coalesced"] == 2 and s["errors"] == 1 and s["handled"] == 5


def test_a_flood_of_moves_ends_on_the_newest_point_and_ping_is_answered_at_once(server: OscServer, client: Client,
                                                                                engine: Any) -> None:
    n = 5000
    dgrams = [message("/gesam/xy", i / 8192, 1 - i / 8192) for i in range(n)]  # exact in float32
    for d in dgrams:
        client.send_raw(d)
    sent = time.perf_counter()
    client.send("/gesam/ping")
    client.expect("/gesam/pong", 1)
    answered_ms = 1000 * (time.perf_counter() - sent)
    wait_for(lambda: settled(server), 5)
    s = server.stats()
    assert engine.cursor == ((n - 1) / 8192, 1 - (n - 1) / 8192), s
    assert answered_ms < 50, (answered_ms, s)
    assert s["received"] == n + 1 and s["errors"] == 0 and s["kernel_drops"] in (0, None)
    assert s["coalesced"] + s["handled"] == n + 1


# ---- where replies go -----------------------------------------------------------------------------
def test_a_feedback_address_gets_every_reply(engine: Any, tmp_path: Path) -> None:
    listener = Client(("127.0.0.1", 9))
    with OscServer(Controller(engine, tmp_path), port=0, feedback=listener.address) as server:
        c = Client(server.address)
        c.send("/gesam/ping")
        c.send("/gesam/xy", 1.5, 0.5)
        c.send("/gesam/bogus")
        listener.expect("/gesam/pong")
        assert listener.expect("/gesam/state/xy") == [1.0, 0.5]
        assert "unknown address" in listener.expect("/gesam/error")[0]
        assert c.poll(0.1) == []


def test_several_feedback_addresses_each_get_every_reply_and_every_push(engine: Any, tmp_path: Path) -> None:
    """An XY patch and a sampler device listen on ports of their own: both hear everything."""
    xy, sampler = Client(("127.0.0.1", 9)), Client(("127.0.0.1", 9))
    with OscServer(Controller(engine, tmp_path), port=0, feedback=[xy.address, sampler.address]) as server:
        c = Client(server.address)
        c.send("/gesam/ping")
        c.send("/gesam/pad/9/xy", 9.0, 0.5)
        for listener in (xy, sampler):
            listener.expect("/gesam/pong")
            assert listener.expect("/gesam/state/pad/9/xy") == [1.0, 0.5]
        server.push("/gesam/state/model", ["other"])
        server.push_error("model broken not loaded")
        for listener in (xy, sampler):
            assert listener.expect("/gesam/state/model") == ["other"]
            assert listener.expect("/gesam/error") == ["model broken not loaded"]
        assert c.poll(0.1) == []


def test_render_over_osc_writes_the_file_and_answers_its_path(server: OscServer, client: Client,
                                                              engine: Any, tmp_path: Path) -> None:
    client.send("/gesam/render", 0.2, 0.3, "snare.wav")
    (path,) = client.expect("/gesam/state/render", 30)
    assert Path(path) == tmp_path / "renders" / "snare.wav"
    audio, rate = sf.read(path)
    assert rate == engine.sample_rate and len(audio) > 0


# ---- binding ----------------------------------------------------------------------------------------
def test_a_port_in_use_is_a_clear_error(server: OscServer) -> None:
    other = OscServer(Controller(None), port=server.address[1])
    with pytest.raises(OscServerError, match=f"OSC port {server.address[1]} on 127.0.0.1 is already in use"):
        other.start()
    assert isinstance(OscServerError("x"), GesamError)
    with pytest.raises(OscServerError, match="cannot listen for OSC on 203.0.113.7"):
        OscServer(Controller(None), host="203.0.113.7", port=0).bind()  # an address this machine does not have


def test_the_server_stops_and_its_port_is_free_again(engine: Any, tmp_path: Path) -> None:
    def osc_threads() -> int:
        return sum(t.name.startswith("gesam-osc-") for t in threading.enumerate())

    before = osc_threads()
    s = OscServer(Controller(engine, tmp_path), port=0).start()
    port = s.address[1]
    assert osc_threads() == before + 4
    s.stop()
    assert osc_threads() == before
    again = OscServer(Controller(engine, tmp_path), port=port).start()
    again.stop()


# ---- programs we did not write ----------------------------------------------------------------------
@pytest.mark.slow
def test_oscsend_moves_the_cursor_and_plays_a_note(server: OscServer, engine: Any) -> None:
    if shutil.which("oscsend") is None:
        pytest.skip("liblo's oscsend is not installed (apt-get install liblo-tools)")
    port = str(server.address[1])
    before = played(engine)
    subprocess.run(["oscsend", "localhost", port, "/gesam/xy", "ff", "0.3", "0.7"], check=True, timeout=10)
    wait_for(lambda: engine.cursor == pytest.approx((0.3, 0.7), abs=F32), 5)
    subprocess.run(["oscsend", "localhost", port, "/gesam/note", "ii", "36", "100"], check=True, timeout=10)
    wait_for(lambda: played(engine) > before, 5)
    assert server.stats()["handled"] == 2 and server.stats()["errors"] == 0


def test_oscsend_sets_a_pads_variation_shape_and_lock_and_randomizes_the_kit(server: OscServer, engine: Any) -> None:
    if shutil.which("oscsend") is None:
        pytest.skip("liblo's oscsend is not installed (apt-get install liblo-tools)")
    port = str(server.address[1])

    def send(*words: str) -> None:
        subprocess.run(["oscsend", "localhost", port, *words], check=True, timeout=10)

    send("/gesam/pad/2/variation", "fis", "0.05", "3", "random")
    send("/gesam/pad/2/shape/decay", "f", "120")
    send("/gesam/pad/2/lock", "i", "1")
    wait_for(lambda: engine.pad(2).locked, 5)
    pad = engine.pad(2)
    assert (pad.variation, pad.variants, pad.variation_mode, pad.decay) == (pytest.approx(0.05), 3, "random", 120.0)
    before = [engine.pad(n).xy for n in range(16)]
    send("/gesam/kit/randomize")
    wait_for(lambda: engine.pad(5).xy != before[5], 5)
    assert engine.pad(2).xy == before[2]  # locked
    send("/gesam/kit/undo")
    wait_for(lambda: engine.pad(5).xy == before[5], 5)
    send("/gesam/pad/2/lock", "i", "0")
    send("/gesam/pad/2/variation", "f", "0")
    send("/gesam/pad/2/shape/decay", "f", "0")
    wait_for(lambda: engine.pad(2).variation == 0 and not engine.pad(2).locked and engine.pad(2).decay == 0, 5)


PD_PATCH = """#N canvas 0 50 450 300 12;
#X obj 10 10 loadbang;
#X obj 10 40 t b b b b;
#X msg 10 300 \\; pd quit;
#X msg 200 70 connect 127.0.0.1 PORT;
#X obj 200 250 netsend -u -b;
#X msg 100 100 0.3 0.7;
#X obj 100 130 oscformat gesam xy;
#X obj 100 160 list prepend send;
#X obj 100 190 list trim;
#X msg 150 100 36 100;
#X obj 150 130 oscformat gesam note;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 1 3 3 0;
#X connect 3 0 4 0;
#X connect 1 2 5 0;
#X connect 5 0 6 0;
#X connect 6 0 7 0;
#X connect 7 0 8 0;
#X connect 8 0 4 0;
#X connect 1 1 9 0;
#X connect 9 0 10 0;
#X connect 10 0 7 0;
"""


@pytest.mark.slow
def test_pure_data_moves_the_cursor_and_plays_a_note_with_floats(server: OscServer, engine: Any,
                                                                 tmp_path: Path) -> None:
    if shutil.which("pd") is None:
        pytest.skip("Pure Data is not installed (apt-get install puredata-core)")
    patch = tmp_path / "send.pd"
    patch.write_text(PD_PATCH.replace("PORT", str(server.address[1])))
    engine.move(0.5, 0.5)
    before = played(engine)
    subprocess.run(["pd", "-nogui", "-noaudio", "-nomidi", "-batch", str(patch)], check=True, timeout=20)
    wait_for(lambda: played(engine) > before, 5)  # /gesam/note ff 36.0 100.0 played pad 0
    assert engine.cursor == pytest.approx((0.3, 0.7), abs=F32)
    assert server.stats()["handled"] == 2 and server.stats()["errors"] == 0


# ---- gesam serve ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny import tiny_model

    path = tmp_path_factory.mktemp("serve") / "model"
    tiny_model(0.3).save(path)
    return path


def test_serve_osc_options() -> None:
    from gesam_engine.cli.main import build_parser
    from gesam_engine.cli.serve_cmd import make_osc_server, parse_host_port

    parser = build_parser()
    args = parser.parse_args(["serve", "--osc-port", "0", "--feedback", "127.0.0.1:9001", "127.0.0.1:9002",
                              "--render-dir", "takes"])
    server = make_osc_server(args, None)
    try:
        assert server is not None and server.address[0] == "127.0.0.1" and server.address[1] > 0
        assert server.controller.render_dir == Path("takes").resolve()
        assert server._replies.feedback == [("127.0.0.1", 9001), ("127.0.0.1", 9002)]
    finally:
        server.stop()
    assert make_osc_server(parser.parse_args(["serve", "--no-osc"]), None) is None
    defaults = parser.parse_args(["serve"])
    assert (defaults.osc_host, defaults.osc_port, defaults.feedback) == ("127.0.0.1", 9000, None)
    assert parse_host_port("[::1]:9001") == ("::1", 9001)
    assert parse_host_port("mixer.local:57120") == ("mixer.local", 57120)
    for bad in ("9001", "host:", ":9001", "host:0", "host:70000", "host:x"):
        with pytest.raises(GesamError, match="--feedback must be HOST:PORT"):
            parse_host_port(bad)
    with pytest.raises(GesamError, match="--osc-port must be in 0..65535"):
        make_osc_server(parser.parse_args(["serve", "--osc-port", "70000"]), None)


def test_serve_refuses_a_port_in_use_in_one_line(model_dir: Path, server: OscServer, tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir),
                          "--output", str(tmp_path / "out.wav"), "--duration", "1", "--cache", str(tmp_path / "c"),
                          "--osc-port", str(server.address[1]), "-q"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 2, run
    assert run.stderr.strip().splitlines() == [
        f"gesam serve: error: OSC port {server.address[1]} on 127.0.0.1 is already in use (another gesam or OSC "
        "program?); pass --osc-port N (0 picks a free one) or --no-osc"]


@pytest.mark.slow
@pytest.mark.e2e
def test_serve_listens_for_osc_and_plays_into_its_wav(model_dir: Path, tmp_path: Path) -> None:
    wav = tmp_path / "out.wav"
    proc = subprocess.Popen([sys.executable, "-m", "gesam_engine.cli.main", "serve", "--model", str(model_dir),
                             "--output", str(wav), "--duration", "4", "--cache", str(tmp_path / "c"),
                             "--osc-port", "0", "--render-dir", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("listening for OSC on udp://"):
                break
        port = int(lines[-1].strip().rsplit(":", 1)[1])
        c = Client(("127.0.0.1", port))
        c.send("/gesam/ping")
        c.expect("/gesam/pong", 5)
        c.send("/gesam/play", 0.3, 0.7, 1.0)
        assert c.expect("/gesam/state/xy") == pytest.approx([0.3, 0.7], abs=F32)
        c.send("/gesam/render", 0.3, 0.7, "hit")
        assert c.expect("/gesam/state/render", 30) == [str(tmp_path / "r" / "hit.wav")]
        out = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0, "".join(lines) + out
    audio, _ = sf.read(str(wav))
    assert abs(audio).max() > 0.01
