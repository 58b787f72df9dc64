"""The web map in a real browser: Debian's headless Chromium driven by Selenium through Debian's
chromedriver (nothing is downloaded), against a real WebMap and Engine (tiny model, WAV output).

Clicks and drags go through WebDriver actions (trusted pointer events at known pixels); the test
checks the engine's cursor, its triggers and what the page shows. A screenshot of each view is
saved to $GESAM_TEST_ARTIFACTS/web_map/ (default build/test-artifacts/web_map/).
"""

from __future__ import annotations

import base64
import collections
import io
import math
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

from osc_bridge.controller import Controller
from osc_bridge.webmap.server import WebMap
from tests.osc_bridge.webmap.test_server import CLASSES, GRID, VIEW_NAMES, make_maps_engine, played, quadrant
from tests.waiting import wait_for, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[3]

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install 'selenium>=4.10'")
for _program, _package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
    if not os.access(_program, os.X_OK):
        pytest.skip(f"{_program} is missing: apt-get install {_package} (never downloaded by the tests)",
                    allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402 - after the skips above
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-proxy-server", "--window-size=1000,900", "--force-device-scale-factor=1"]


@pytest.fixture(scope="module")
def artifacts() -> Path:
    base = os.environ.get("GESAM_TEST_ARTIFACTS")
    directory = (Path(base) if base else REPO / "build" / "test-artifacts") / "web_map"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    e = make_maps_engine(tmp_path_factory.mktemp("browser_engine"))
    yield e
    e.stop()


class Counting:
    """The real Controller, counting the commands it ran by type: every command of the page runs here."""

    def __init__(self, inner: Controller) -> None:
        self.inner, self.engine = inner, inner.engine
        self.ran: collections.Counter[str] = collections.Counter()

    def execute(self, cmd: Any) -> Any:
        replies = self.inner.execute(cmd)
        self.ran[type(cmd).__name__] += 1
        return replies

    def run(self, cmd: Any) -> Any:
        outcome = self.inner.run(cmd)
        self.ran[type(cmd).__name__] += 1
        return outcome


@pytest.fixture(scope="module")
def web(engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebMap]:
    w = WebMap(Counting(Controller(engine, tmp_path_factory.mktemp("renders"))), port=0).start()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium_profile")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)  # with the driver path below, Selenium Manager never runs
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(artifacts / "chromedriver.log"))
    d = webdriver.Chrome(service=service, options=options)
    d.set_page_load_timeout(30)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _image_shown(d: Any, url: str) -> bool:
    return bool(d.execute_script(
        "const i = document.getElementById('map-image');"
        "return !i.hidden && i.complete && i.naturalWidth > 0 && i.getAttribute('src') === arguments[0];", url))


@pytest.fixture
def page(driver: Any, web: WebMap, engine: Any) -> Any:
    """The web map freshly loaded, its first view drawn and the cursor shown in the middle."""
    engine.move(0.5, 0.5)
    driver.get(web.url)
    WebDriverWait(driver, 15).until(lambda d: len(Select(d.find_element(By.ID, "view")).options) == len(VIEW_NAMES))
    WebDriverWait(driver, 15).until(lambda d: _image_shown(d, "/map/class.png"))
    WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "position").text == "x 0.500, y 0.500")
    return driver


class MapGeometry:
    """Where the map element is, and the pixel <-> normalised point arithmetic WebDriver uses."""

    def __init__(self, element: Any) -> None:
        self.element = element
        r = element.rect
        self.left, self.top, self.width, self.height = r["x"], r["y"], r["width"], r["height"]
        # WebDriver's origin for element offsets: the in-view centre point, floored
        self.cx, self.cy = math.floor(self.left + self.width / 2), math.floor(self.top + self.height / 2)

    def offset(self, x: float, y: float) -> tuple[int, int]:
        """The integer offset from the element's centre nearest to the normalised point (x, y)."""
        return (round(self.left + x * self.width - self.cx), round(self.top + (1 - y) * self.height - self.cy))

    def point(self, dx: int, dy: int) -> tuple[float, float]:
        """The normalised point the page computes for a pointer at centre + (dx, dy)."""
        return ((self.cx + dx - self.left) / self.width, 1 - (self.cy + dy - self.top) / self.height)

    @property
    def tolerance(self) -> float:
        return 0.5 / min(self.width, self.height)  # half a pixel's worth


def _near(engine: Any, xy: tuple[float, float], tol: float) -> Callable[[], bool]:
    return lambda: math.dist(engine.cursor, xy) <= tol


def _map(d: Any) -> MapGeometry:
    return MapGeometry(d.find_element(By.ID, "map"))


def _idle(d: Any) -> bool:
    """The page has sent every command it queued and had each answered (so the server ran them)."""
    return bool(d.execute_script("const s = window.gesamWebMap; return s.queue.length === 0 && !s.pumping;"))


def _plays(web: WebMap) -> int:
    return web.controller.ran["Play"]


# ---- playing ----------------------------------------------------------------------------------------
def test_a_click_plays_that_point_and_the_page_shows_its_class(page: Any, engine: Any, artifacts: Path) -> None:
    geo = _map(page)
    assert geo.width == geo.height >= 300, "the map is a square"
    dx, dy = geo.offset(0.8, 0.75)
    expected = geo.point(dx, dy)
    before = played(engine)
    ActionChains(page).move_to_element_with_offset(geo.element, dx, dy).click().perform()
    wait_for(_near(engine, expected, geo.tolerance))
    assert abs(engine.cursor[0] - expected[0]) <= geo.tolerance and abs(engine.cursor[1] - expected[1]) <= geo.tolerance
    wait_for(lambda: played(engine) > before)  # the trigger's sound reached the engine's output
    name = CLASSES[quadrant(*expected)]["name"]
    assert name == "clap"
    WebDriverWait(page, 10).until(lambda d: d.find_element(By.ID, "class-name").text == name)
    swatch = page.find_element(By.ID, "class-swatch").value_of_css_property("background-color")
    assert swatch == "rgba(255, 127, 14, 1)"  # clap's #ff7f0e
    assert page.find_element(By.ID, "status").text.startswith("played x 0.80")
    features = page.find_element(By.ID, "features").text
    assert "centroid 4000 Hz" in features and "loudness -10.0 LUFS" in features, features
    marker = page.find_element(By.ID, "marker").rect  # centred on the cursor
    assert abs(marker["x"] + marker["width"] / 2 - (geo.left + expected[0] * geo.width)) <= 1.0
    assert abs(marker["y"] + marker["height"] / 2 - (geo.top + (1 - expected[1]) * geo.height)) <= 1.0
    page.save_screenshot(str(artifacts / "after_click.png"))


def test_a_drag_moves_the_cursor_along_and_plays_once(page: Any, engine: Any, web: WebMap) -> None:
    geo = _map(page)
    dx, dy = geo.offset(0.1, 0.6)
    before, plays = played(engine), _plays(web)
    ActionChains(page).move_to_element_with_offset(geo.element, dx, dy).click_and_hold().perform()
    wait_for(_near(engine, geo.point(dx, dy), geo.tolerance))
    step = round(geo.width * 0.1)
    for _ in range(7):  # to x = 0.8, pausing so each move is sent (moves are throttled, the newest wins)
        dx += step
        ActionChains(page).move_by_offset(step, 0).perform()
        wait_for(_near(engine, geo.point(dx, dy), geo.tolerance))
    dy -= step  # and up
    ActionChains(page).move_by_offset(0, -step).perform()
    wait_for(_near(engine, geo.point(dx, dy), geo.tolerance))
    ActionChains(page).release().perform()
    WebDriverWait(page, 10).until(_idle)  # every command of the drag has run
    assert _plays(web) == plays + 1, "a drag without 'play while dragging' plays only where it started"
    wait_for(lambda: played(engine) == before + 1)  # and its sound reached the output
    assert math.dist(engine.cursor, geo.point(dx, dy)) <= geo.tolerance


def test_play_while_dragging_triggers_on_each_new_cell(page: Any, engine: Any, web: WebMap) -> None:
    page.find_element(By.ID, "drag-play").click()
    geo = _map(page)
    cell = geo.width / GRID
    dx, dy = geo.offset(0.05, 0.1)
    before, plays = played(engine), _plays(web)
    ActionChains(page).move_to_element_with_offset(geo.element, dx, dy).click_and_hold().perform()
    wait_for(lambda: played(engine) == before + 1)
    for n in range(1, 3):  # into the next two cells, a few small moves inside each
        for _ in range(4):
            ActionChains(page).move_by_offset(round(cell / 4), 0).perform()
        wait_for(lambda: played(engine) == before + 1 + n)
    ActionChains(page).release().perform()
    WebDriverWait(page, 10).until(_idle)
    assert _plays(web) == plays + 3  # one per cell entered, no more
    wait_for(lambda: played(engine) == before + 3)


def test_space_plays_the_cursor(page: Any, engine: Any) -> None:
    geo = _map(page)
    dx, dy = geo.offset(0.3, 0.3)
    ActionChains(page).move_to_element_with_offset(geo.element, dx, dy).click().perform()
    wait_for(_near(engine, geo.point(dx, dy), geo.tolerance))
    wait_for(lambda: page.find_element(By.ID, "status").text.startswith("played"))
    before, cursor = played(engine), engine.cursor
    ActionChains(page).send_keys(Keys.SPACE).perform()
    wait_for(lambda: played(engine) == before + 1)
    assert engine.cursor == cursor


def test_play_in_the_browser_fetches_and_plays_the_sound(page: Any, engine: Any) -> None:
    page.find_element(By.ID, "browser-audio").click()
    geo = _map(page)
    ActionChains(page).move_to_element_with_offset(geo.element, *geo.offset(0.6, 0.4)).click().perform()
    counts = "return window.gesamWebMap.counts"
    assert wait_until(lambda: page.execute_script(counts)["browserSounds"] == 1, 10), (
        page.execute_script(counts), page.find_element(By.ID, "status").text)
    assert page.execute_script("return window.gesamWebMap.audio.sampleRate") > 0


def test_a_refusal_is_shown_in_the_status_line(page: Any, engine: Any) -> None:
    cursor = engine.cursor
    page.execute_script("enqueue('/gesam/gain', [9]);")  # what a bad control would send, through the page's queue
    WebDriverWait(page, 10).until(lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
    assert "gain must be in 0..4" in page.find_element(By.ID, "status").text
    assert engine.cursor == cursor


# ---- a dropped file, sounds dragged out, the kit ---------------------------------------------------------
HYDROGEN_KIT = Path("/usr/share/hydrogen/data/drumkits/Audiophob")

_DROP = """
const [b64, name, type] = arguments;
const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const data = new DataTransfer();
data.items.add(new File([bytes], name, { type }));
const map = document.getElementById("map");
const r = map.getBoundingClientRect();
const at = { bubbles: true, cancelable: true, dataTransfer: data, clientX: r.left + 20, clientY: r.top + 20 };
for (const kind of ["dragenter", "dragover", "drop"]) map.dispatchEvent(new DragEvent(kind, at));
"""

_DRAG_START = """
const data = new DataTransfer();
arguments[0].dispatchEvent(new DragEvent("dragstart", { bubbles: true, cancelable: true, dataTransfer: data }));
return { download: data.getData("DownloadURL"), uris: data.getData("text/uri-list") };
"""


def _drop(page: Any, path: Path, name: str | None = None, content_type: str = "audio/wav") -> None:
    """A drop on the map of a File holding ``path``'s bytes, as the browser makes one for a dragged file."""
    page.execute_script(_DROP, base64.b64encode(path.read_bytes()).decode(), name or path.name, content_type)


def _drag_out(page: Any, element: Any) -> tuple[str, str, str]:
    """What a dragstart on ``element`` puts in the drag: (mime type, file name, URL) of its DownloadURL."""
    data = page.execute_script(_DRAG_START, element)
    mime, name, url = data["download"].split(":", 2)
    assert data["uris"] == url
    return mime, name, url


def _wav_at(url: str) -> Any:
    import soundfile as sf

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=20) as r:
        assert r.headers["Content-Type"] == "audio/wav"
        return sf.read(io.BytesIO(r.read()), dtype="float32")


@pytest.mark.skipif(not HYDROGEN_KIT.is_dir(), reason="Debian's hydrogen-drumkits is not installed")
def test_a_dropped_file_moves_the_cursor_to_where_it_lands(page: Any, engine: Any, web: WebMap, artifacts: Path) -> None:
    from osc_bridge.commands import Locate

    wav = HYDROGEN_KIT / "124382__cubix__8bit-snare.wav"
    expected = Controller(engine).run(Locate(str(wav))).value  # where OSC's /gesam/locate puts it
    far = (0.0 if expected["x"] > 0.5 else 1.0, 0.0 if expected["y"] > 0.5 else 1.0)
    engine.move(*far)  # away from there, so the drop has to move it
    WebDriverWait(page, 10).until(lambda d: d.find_element(By.ID, "position").text == f"x {far[0]:.3f}, y {far[1]:.3f}")
    located = web.controller.ran["Locate"]
    _drop(page, wav, "8bit snare.wav")
    wait_for(_near(engine, (expected["x"], expected["y"]), 1e-6))
    assert web.controller.ran["Locate"] == located + 1
    WebDriverWait(page, 10).until(lambda d: d.find_element(By.ID, "position").text
                                  == f"x {expected['x']:.3f}, y {expected['y']:.3f}")
    panel = page.find_element(By.ID, "located")
    assert panel.is_displayed() and f"class {expected['class']}" in panel.text, panel.text
    assert page.find_element(By.ID, "located-file").text.startswith("8bit snare.wav: x ")
    assert page.find_element(By.ID, "status").text.startswith("8bit snare.wav lands at x ")
    page.save_screenshot(str(artifacts / "after_drop.png"))


def test_a_dropped_file_that_is_not_audio_is_an_error_in_the_page(page: Any, engine: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a sound\n" * 20)
    cursor = engine.cursor
    _drop(page, notes, "notes.wav", "text/plain")  # a text file renamed .wav
    WebDriverWait(page, 10).until(lambda d: "error" in d.find_element(By.ID, "status").get_attribute("class"))
    status = page.find_element(By.ID, "status").text
    assert status.startswith("cannot locate 'notes.wav': cannot decode") and "WAV, AIFF, FLAC" in status, status
    assert engine.cursor == cursor and not page.find_element(By.ID, "located").is_displayed()


def test_the_cursors_sound_drags_out_as_a_wav_and_downloads(page: Any, engine: Any) -> None:
    geo = _map(page)
    dx, dy = geo.offset(0.3, 0.6)
    ActionChains(page).move_to_element_with_offset(geo.element, dx, dy).click().perform()
    x, y = geo.point(dx, dy)
    WebDriverWait(page, 10).until(lambda d: d.find_element(By.ID, "position").text == f"x {x:.3f}, y {y:.3f}")
    handle = page.find_element(By.ID, "drag-sound")
    assert handle.get_attribute("draggable") == "true"
    mime, name, url = _drag_out(page, handle)
    assert (mime, name) == ("audio/wav", f"gesam_{x:.3f}_{y:.3f}.wav") and url.startswith(web_url(page))
    wave, rate = _wav_at(url)  # what a drop on the desktop or a DAW saves
    expected, _ = engine.sound_for(engine.cursor)
    assert rate == engine.sample_rate and len(wave) == len(expected) and np.abs(wave - np.clip(expected, -1, 1)).max() < 1e-4
    link = page.find_element(By.ID, "download-sound")
    assert (link.get_attribute("href"), link.get_attribute("download")) == (url, name)
    page.find_element(By.ID, "bits24").click()  # 24-bit: the same sound, finer
    _, _, url24 = _drag_out(page, handle)
    assert url24 == url + "&bits=24" and link.get_attribute("href") == url24
    import soundfile as sf

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url24, timeout=20) as r:
        assert sf.info(io.BytesIO(r.read())).subtype == "PCM_24"
    page.find_element(By.ID, "bits24").click()


def _page_pads(page: Any) -> list[tuple[float, float]]:
    return [tuple(p) for p in page.execute_script("return window.gesamWebMap.pads")]


def _engine_pads(engine: Any) -> list[tuple[float, float]]:
    return [(p.x, p.y) for p in engine.kit("").pads]


def test_randomize_moves_the_pads_and_undo_brings_them_back(page: Any, engine: Any, web: WebMap) -> None:
    before = _engine_pads(engine)
    WebDriverWait(page, 10).until(lambda d: _page_pads(d) == before)
    items = page.find_elements(By.CSS_SELECTOR, "#pads li")
    assert len(items) == len(before) == len(page.find_elements(By.CSS_SELECTOR, "#pad-markers .pad-marker"))
    assert items[3].find_element(By.CLASS_NAME, "pad-xy").text == f"{before[3][0]:.3f}, {before[3][1]:.3f}"
    mime, name, url = _drag_out(page, items[3].find_element(By.CLASS_NAME, "drag-out"))  # a pad's sound drags out too
    assert name == f"gesam_{before[3][0]:.3f}_{before[3][1]:.3f}.wav" and len(_wav_at(url)[0]) > 0

    randomized, undone = web.controller.ran["KitRandomize"], web.controller.ran["KitUndo"]
    page.find_element(By.ID, "kit-randomize").click()
    WebDriverWait(page, 10).until(lambda d: _page_pads(d) != before)
    after = _engine_pads(engine)
    assert after != before and _page_pads(page) == after and web.controller.ran["KitRandomize"] == randomized + 1
    shown = [li.find_element(By.CLASS_NAME, "pad-xy").text for li in page.find_elements(By.CSS_SELECTOR, "#pads li")]
    assert shown == [f"{x:.3f}, {y:.3f}" for x, y in after]
    geo = _map(page)
    marker = page.find_element(By.CSS_SELECTOR, "#pad-markers .pad-marker[data-pad='5']").rect  # drawn at its point
    assert abs(marker["x"] + marker["width"] / 2 - (geo.left + after[5][0] * geo.width)) <= 1.0
    assert abs(marker["y"] + marker["height"] / 2 - (geo.top + (1 - after[5][1]) * geo.height)) <= 1.0

    page.find_element(By.ID, "kit-undo").click()
    WebDriverWait(page, 10).until(lambda d: _page_pads(d) == before)
    assert _engine_pads(engine) == before and web.controller.ran["KitUndo"] == undone + 1


def web_url(page: Any) -> str:
    """The page's own origin and /: the sounds' URLs are absolute, on this server."""
    return str(page.execute_script("return new URL('/', window.location.href).href"))


# ---- the views ---------------------------------------------------------------------------------------
def _pixel(shot: Any, geo: MapGeometry, x: float, y: float, ratio: float) -> tuple[int, int, int]:
    px = (geo.left + x * geo.width) * ratio
    py = (geo.top + (1 - y) * geo.height) * ratio
    return shot.getpixel((int(px), int(py)))[:3]


def test_each_view_is_drawn_with_its_legend(page: Any, engine: Any, artifacts: Path) -> None:
    from PIL import Image

    select = Select(page.find_element(By.ID, "view"))
    assert [o.get_attribute("value") for o in select.options] == VIEW_NAMES
    assert [o.text for o in select.options] == ["class", "centroid", "loudness", "t-SNE"]
    ratio = page.execute_script("return window.devicePixelRatio")
    geo = _map(page)
    for name in VIEW_NAMES:
        select.select_by_value(name)
        WebDriverWait(page, 10).until(lambda d: _image_shown(d, f"/map/{name}.png"))
        legend = page.find_element(By.ID, "legend").text
        path = artifacts / f"view_{name}.png"
        assert page.save_screenshot(str(path)), path
        shot = Image.open(path).convert("RGB")
        if name == "class":
            assert all(c["name"] in legend for c in CLASSES), legend
            for x, y in ((0.2, 0.2), (0.8, 0.2), (0.2, 0.8), (0.8, 0.8)):  # y up: hihat top left, kick bottom left
                colour = CLASSES[quadrant(x, y)]["color"]
                assert _pixel(shot, geo, x, y, ratio) == tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5)), (x, y)
        elif name == "centroid":
            assert "low 1000 Hz" in legend and "high 4000 Hz" in legend, legend
            bar = page.find_element(By.CSS_SELECTOR, "#legend .colorbar")  # the colour bar, low (blue) to high (red)
            assert "linear-gradient" in bar.value_of_css_property("background-image"), bar.get_attribute("style")
            left, right = _pixel(shot, geo, 0.1, 0.3, ratio), _pixel(shot, geo, 0.9, 0.3, ratio)
            assert left[2] > 200 > right[2] and right[0] > 200 > left[0]  # blue at low x, red at high x
        elif name == "loudness":
            assert "low -40.0 LUFS" in legend and "high -10.0 LUFS" in legend, legend
            bottom, top = _pixel(shot, geo, 0.3, 0.1, ratio), _pixel(shot, geo, 0.3, 0.9, ratio)
            assert bottom[2] > 200 > top[2] and top[0] > 200 > bottom[0]  # low at the bottom: y up
        else:
            assert "t-SNE" in legend, legend


def test_the_page_logged_no_errors(page: Any, web: WebMap) -> None:
    page.get_log("browser")  # drop what earlier tests caused (the refusal test's 400 on purpose)
    page.refresh()
    WebDriverWait(page, 10).until(lambda d: _image_shown(d, "/map/class.png"))
    requests = web.stats()["requests"]
    wait_for(lambda: web.stats()["requests"] >= requests + 3)  # a few state polls
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
