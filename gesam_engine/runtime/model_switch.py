"""Switching the engine's model while it plays (``/gesam/model``): found and checked at once, loaded
in the background, swapped in when its sounds are ready.

``ModelSwitcher.switch`` resolves the model (a directory, or a name under the engine's models folder),
reads its card and checks that its sounds fit the running audio layout (the sound pool's slot
length was fixed by the first model) on the caller's thread: what is wrong there is raised at
once. A thread then loads the weights on the old model's device, opens its shipped bake and maps,
starts a Generator with a SoundCache of its own and makes the cursor's and every pad's sound; only
then does the engine swap model, generator, cache, bake and maps under its lock, and the old
generator stops. Until that moment every trigger plays the old model's ready sounds, and a model
that fails to load is reported (an engine "model" event with the reason) while the old one plays on.

One switch at a time: a second one while a model loads is refused ("a model is loading: NAME"),
not queued, so the sender hears at once that it was not taken, and a load, which cannot be cut
short half-way, never runs for a model nobody asked for any more.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import gc
import math
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gesam_engine import checkpoint
from gesam_engine.errors import GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.map_bake import weights_id
from gesam_engine.maps.maps_file import MAPS_JSON, MapsFile, read_maps_file
from gesam_engine.runtime.builtin_bake import bake_into_cache, start_builtin_bake
from gesam_engine.runtime.file_output import FileOutput
from gesam_engine.runtime.generator import Generator
from gesam_engine.runtime.shipped_bake import BakedGrid
from gesam_engine.runtime.sound_cache import SoundCache

if TYPE_CHECKING:
    from gesam_engine.runtime.engine import Engine

LOAD_TIMEOUT_S = 300.0  # the new model's first sounds (torch's first pass included) must be made by then
NAMES_LISTED = 20  # model names an error lists at most


class ModelLoadError(GesamError):
    """A model could not be loaded or does not fit the running engine; the old one plays on."""


def model_names(models_dir: Path | None) -> list[str]:
    """The model directories (those holding a model.json) in ``models_dir``, by name."""
    if models_dir is None or not models_dir.is_dir():
        return []
    try:
        return sorted(p.name for p in models_dir.iterdir() if (p / checkpoint.CARD).is_file())
    except OSError:
        return []


def resolve_model_dir(spec: str | Path, models_dir: Path | None) -> Path:
    """The model directory ``spec`` names: a name under ``models_dir`` (for a bare name), else a path.
    GesamError naming what was looked for and the models there are otherwise."""
    text = str(spec).strip()
    if not text:
        raise GesamError("a model is a directory or a model name; got an empty one" + _available(models_dir))
    candidates: list[Path] = []
    if models_dir is not None and os.sep not in text and "/" not in text and text not in (".", ".."):
        candidates.append(models_dir / text)
    candidates.append(Path(text).expanduser())
    for path in candidates:
        if (path / checkpoint.CARD).is_file():
            return path
    looked = " and ".join(str(p) for p in dict.fromkeys(candidates))
    what = next((f"{p} is a folder with no {checkpoint.CARD}, not a model directory" for p in candidates if p.is_dir()),
                f"no model {text!r} (looked for {looked})")
    raise GesamError(what + _available(models_dir))


def _available(models_dir: Path | None) -> str:
    names = model_names(models_dir)
    if models_dir is None:
        return "; give a model directory"
    if not names:
        return f"; there are no models in {models_dir}"
    more = f" and {len(names) - NAMES_LISTED} more" if len(names) > NAMES_LISTED else ""
    return f"; models in {models_dir}: " + ", ".join(names[:NAMES_LISTED]) + more


def sound_length(n_samples: int, model_rate: int, output_rate: int) -> int:
    """Samples a model's sound takes at the output rate (what a sound-pool slot must hold)."""
    return math.ceil(n_samples * output_rate / model_rate)


def check_fits(name: str, n_samples: int, model_rate: int, output_rate: int, slot_len: int) -> None:
    """ModelLoadError when the model's sounds are longer than a sound-pool slot of the running engine."""
    if n_samples <= 0 or model_rate <= 0:
        raise ModelLoadError(f"model {name} has sounds of {n_samples} samples at {model_rate} Hz; not a playable length")
    need = sound_length(n_samples, model_rate, output_rate)
    if need > slot_len:
        raise ModelLoadError(
            f"model {name} makes sounds of {n_samples / model_rate:.3f} s ({need} samples at {output_rate} Hz), longer "
            f"than the {slot_len} samples ({slot_len / output_rate:.3f} s) the running engine's sound pool holds, which "
            "the model it started with fixed; restart gesam serve with that model (--model) to play it")


def _card_fits(name: str, card: dict[str, Any], output_rate: int, slot_len: int) -> None:
    """``check_fits`` from the card's audio entry when it has a readable one (the loader checks the rest)."""
    audio = card.get("audio")
    if isinstance(audio, dict):
        n, rate = audio.get("n_samples"), audio.get("sample_rate")
        if isinstance(n, int) and isinstance(rate, int):
            check_fits(name, n, rate, output_rate, slot_len)


def open_shipped_bake(model: GesamModel, output_rate: int) -> tuple[BakedGrid | None, str | None]:
    """``<model>/map/bake`` when it is a finished bake of these weights, else None and why not (None: none there)."""
    directory = model.directory
    if directory is None or not (directory / "map" / "bake" / "index.json").is_file():
        return None, None
    try:
        return BakedGrid(directory / "map" / "bake", model, output_rate), None
    except GesamError as exc:
        return None, f"not using the shipped bake: {exc}"


def open_maps(model: GesamModel) -> tuple[Path | None, MapsFile | None, str | None]:
    """The model's maps folder and its maps when made from these weights; why not otherwise."""
    maps_dir = model.directory / "map" / "maps" if model.directory is not None else None
    if maps_dir is None or not (maps_dir / MAPS_JSON).is_file():
        return maps_dir, None, None
    try:
        return maps_dir, read_maps_file(maps_dir, weights_id(model, sound_only=False)), None
    except GesamError as exc:
        return maps_dir, None, f"no class or feature reports: {exc}"


@dataclasses.dataclass
class ModelParts:
    """What a switch installs in the engine at once: the model and what plays its sounds."""

    model: GesamModel
    generator: Generator
    cache: SoundCache
    grid: BakedGrid | None
    maps_dir: Path | None
    maps: MapsFile | None


class ModelSwitcher:
    """The engine's model switches: one loading at a time, on a thread of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._loading: str | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    @property
    def loading(self) -> str | None:
        """The name of the model being loaded, or None."""
        return self._loading

    def switch(self, spec: str | Path) -> None:
        """Check ``spec`` here (GesamError: no such model, not a model, unreadable card, sounds too long,
        another model loading) and load it on a thread; the engine's "model" event says how it ended."""
        e = self.engine
        if not e.started:
            raise GesamError("the engine is not playing; a model can be switched once it has started")
        directory = resolve_model_dir(spec, e.models_dir)
        card = checkpoint.read_card(directory)
        _card_fits(directory.name, card, e.sample_rate, e.output.layout.slot_len)
        with self._lock:
            if self._loading is not None:
                raise GesamError(f"a model is loading: {self._loading}; send it again after /gesam/state/model "
                                 "(or /gesam/error) says how that load ended")
            self._loading = directory.name
            self._cancel.clear()
            self._thread = threading.Thread(target=self._run, args=(directory, time.perf_counter()),
                                            name="gesam-model-load", daemon=True)
            self._thread.start()

    def cancel(self) -> None:
        """Stop a load in progress (the engine stops) and wait for its thread."""
        self._cancel.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _run(self, directory: Path, started: float) -> None:
        _lower_priority(self.engine.config.generator.nice)
        name = directory.name
        try:
            parts = self._load(directory)
            try:
                self._check_cancel()
                old = self.engine._swap_model(parts)
            except BaseException:
                parts.generator.stop()
                raise
        except Exception as exc:
            with self._lock:
                self._loading = None
            if not self._cancel.is_set():
                reason = str(exc) if isinstance(exc, GesamError) else f"{type(exc).__name__}: {exc}"
                self.engine._emit("model", {"error": reason, "name": name, "path": str(directory)})
            return
        try:
            self._after_swap(parts, old)
        finally:
            del old, parts  # the old model goes now, not when this thread ends
            with self._lock:
                self._loading = None
        ms = round((time.perf_counter() - started) * 1000.0, 1)
        self.engine._emit("model", {"name": name, "path": str(directory), "ms": ms})

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise ModelLoadError("the engine stopped during the load")

    def _load(self, directory: Path) -> ModelParts:
        """Load the model and make its first sounds; nothing of the engine changes here."""
        e = self.engine
        model = GesamModel.load(directory, e.model.device)
        check_fits(directory.name, model.n_samples, model.sample_rate, e.sample_rate, e.output.layout.slot_len)
        self._check_cancel()
        grid, why = open_shipped_bake(model, e.sample_rate)
        if why:
            e._emit("bake", {"message": f"{directory.name}: {why}"})
        maps_dir, maps, why = open_maps(model)
        if why:
            e._emit("maps", {"message": f"{directory.name}: {why}"})
        cache = SoundCache(int(e.config.cache.max_mb * 2**20))
        generator = Generator(model, cache, e.sample_rate, e.config.generator)
        generator.start()
        try:
            self._first_sounds(e, generator, cache, grid)
            if grid is None and isinstance(e.output, FileOutput):  # a bounce is scripted: as at start, bake first
                c = e.config
                bake_into_cache(model, cache, c.cache.bake_grid, e.sample_rate, c.generator.griffin_lim_iters,
                                e.cache_dir, progress=False, stop=self._cancel.is_set)
            self._check_cancel()
        except BaseException:
            generator.stop()
            raise
        return ModelParts(model, generator, cache, grid, maps_dir, maps)

    def _first_sounds(self, e: Engine, generator: Generator, cache: SoundCache, grid: BakedGrid | None) -> None:
        """The cursor's and every pad's exact sound in ``cache`` (their baked cells too, pinned)."""
        slot_len = e.output.layout.slot_len
        points = e._sound_points()
        if grid is not None:
            for xy in points:
                grid.fill(cache, xy, pinned=True)
        futures = [generator.render(xy) for xy in dict.fromkeys(points)]
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        pending = set(futures)
        while pending:
            self._check_cancel()
            if time.monotonic() > deadline:
                raise ModelLoadError(f"its first sounds were not made within {LOAD_TIMEOUT_S:g} s")
            _, pending = concurrent.futures.wait(pending, timeout=0.2, return_when=concurrent.futures.FIRST_EXCEPTION)
            for future in futures:
                if future.done() and future.exception() is not None:
                    exc = future.exception()
                    raise ModelLoadError(f"it failed to make a sound ({type(exc).__name__}: {exc})")
        for future in futures:
            length = future.result().shape[0]
            if length > slot_len:
                raise ModelLoadError(f"its sounds are {length} samples at {e.sample_rate} Hz, longer than the "
                                     f"{slot_len} the running engine's sound pool holds")

    def _after_swap(self, parts: ModelParts, old: ModelParts) -> None:
        """Make the points the cursor and pads moved to during the load, stop the old generator and
        start the built-in bake when the new model ships none (live output)."""
        e = self.engine
        parts.generator.on_ready = e._ready
        points = e._sound_points()  # where they are now (a move after the swap already went to the new parts)
        for slot, xy in zip(["cursor", *(f"pad{n}" for n in range(len(points) - 1))], points):
            if parts.grid is not None:
                parts.grid.fill(parts.cache, xy)
            parts.generator.request(slot, xy)
        e._make_all_variants()  # round robin and layers: the new model's variants, in the background
        old.generator.stop()
        if parts.grid is None and not isinstance(e.output, FileOutput):
            c = e.config
            start_builtin_bake(parts.generator, c.cache.bake_grid, c.generator.griffin_lim_iters, e.cache_dir,
                               report=lambda message: e._emit("bake", {"message": message}))
        gc.freeze()  # as at start: the new model's objects leave the collector's view


def _lower_priority(nice: int) -> None:
    """Audio and control threads come first: the load yields the CPU as the generator does."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass
