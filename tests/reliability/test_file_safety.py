"""No file is lost and nothing is written outside its folder: ``gesam train --force`` never
replaces a folder of samples, and ``/gesam/render`` over real UDP and real HTTP never follows a
symlink out of the render folder."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from gesam_engine.cli.main import main
from gesam_engine.data.synth import write_synth_kit
from osc_bridge.controller import Controller
from osc_bridge.osc.server import OscServer
from osc_bridge.webmap.server import WebMap
from tests.osc_bridge import Client, make_engine

pytestmark = pytest.mark.reliability
TINY = Path(__file__).parents[1] / "tiny_config.toml"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy for 127.0.0.1


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def samples(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder of real WAVs (two of each drum class) and what it held."""
    folder = tmp_path / "samples"
    write_synth_kit(folder, per_class=2, seed=3, broken=False)
    before = snapshot(folder)
    assert sum(name.endswith(".wav") for name in before) == 10
    return folder, before


def train(data: Path, output: Path, *extra: str) -> int:
    return main(["train", "--data", str(data), "-o", str(output), "--config", str(TINY), "--epochs", "1",
                 "--no-cache", "-q", *extra])


# ---- gesam train --force --------------------------------------------------------------------------
def test_train_force_into_the_data_folder_keeps_every_wav(samples, capsys) -> None:
    folder, before = samples
    assert train(folder, folder, "--force") == 2
    err = capsys.readouterr().err
    assert f"output folder {folder} holds the sample folder {folder}" in err and "Traceback" not in err
    assert snapshot(folder) == before


def test_train_force_into_a_folder_above_the_data_folder_keeps_every_wav(samples, capsys) -> None:
    folder, before = samples
    assert train(folder, folder.parent, "--force") == 2
    assert "holds the sample folder" in capsys.readouterr().err
    assert snapshot(folder) == before


def test_train_force_over_a_folder_that_is_no_model_is_refused(samples, tmp_path: Path, capsys) -> None:
    folder, _ = samples
    other = tmp_path / "my-session"
    write_synth_kit(other, per_class=1, seed=4, broken=False)
    (other / "notes.txt").write_text("set list\n")
    kept = snapshot(other)
    assert train(folder, other, "--force") == 2
    err = capsys.readouterr().err
    assert f"{other} is not a gesam model (it has no model.json) and is not empty" in err
    assert snapshot(other) == kept


def test_train_into_a_new_folder_inside_the_data_folder_is_refused(samples, capsys) -> None:
    folder, before = samples
    assert train(folder, folder / "model") == 2
    assert "is inside the sample folder" in capsys.readouterr().err
    assert snapshot(folder) == before and not (folder / "model").exists()


# ---- /gesam/render over OSC and the web map -------------------------------------------------------
@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    e = make_engine(tmp_path_factory.mktemp("file_safety"))
    yield e
    e.stop()


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(render folder with takes/ a symlink to the outside folder, outside folder holding victim.wav)."""
    renders, outside = tmp_path / "renders", tmp_path / "outside"
    renders.mkdir()
    outside.mkdir()
    (outside / "victim.wav").write_bytes(b"precious")
    (renders / "takes").symlink_to(outside, target_is_directory=True)
    (renders / "kick.wav").symlink_to(outside / "victim.wav")
    return renders, outside


@pytest.mark.parametrize("name", ["takes/snare.wav", "kick.wav"])
def test_osc_render_through_a_symlink_is_refused_and_writes_nothing_outside(engine, folders, name: str) -> None:
    renders, outside = folders
    with OscServer(Controller(engine, renders), port=0) as server:
        client = Client(server.address)
        try:
            client.send("/gesam/render", 0.2, 0.3, name)
            (reason,) = client.expect("/gesam/error", 30)
            client.send("/gesam/render", 0.2, 0.3, "fine.wav")  # the server goes on rendering
            (path,) = client.expect("/gesam/state/render", 30)
        finally:
            client.close()
    assert "outside the render folder" in reason
    assert snapshot(outside) == {"victim.wav": hashlib.sha256(b"precious").hexdigest()}
    assert Path(path) == (renders / "fine.wav").resolve() and (renders / "fine.wav").stat().st_size > 44


def post_osc(web: WebMap, address: str, *args: Any) -> tuple[int, Any]:
    host, port = web.address
    body = json.dumps({"address": address, "args": list(args)}).encode()
    request = urllib.request.Request(f"http://{host}:{port}/api/osc", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with _OPENER.open(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("name", ["takes/snare.wav", "kick.wav"])
def test_web_render_through_a_symlink_is_refused_and_writes_nothing_outside(engine, folders, name: str) -> None:
    renders, outside = folders
    with WebMap(Controller(engine, renders), port=0) as web:
        status, reply = post_osc(web, "/gesam/render", 0.2, 0.3, name)
    assert status == 400 and "outside the render folder" in json.dumps(reply)
    assert snapshot(outside) == {"victim.wav": hashlib.sha256(b"precious").hexdigest()}
