"""The instrument: a warm model, a cursor and pads on the map, voices, effects and an output.

Every public method may be called from any control thread (OSC, MIDI, web, CLI). A trigger
never waits for the model: it plays the exact point's sound when ready, else the nearest ready
sound. The model runs on the generator thread here; voices, effects and the safety limiter run
in the audio process's callback (``audio_child.py``), which this process feeds through shared
memory (``audio_link.py``): a command ring and a pool of sounds. A trigger may carry a time
(``at``, perf_counter seconds: an OSC bundle's time tag, a MIDI timestamp); it then lands on the
sample the stream plays at that time plus a fixed latency. A small watch thread keeps the
sample clock, turns what the mixer counted (a NaN block from the effects, a broken effect) into
"alert" events, and reports the audio process's health once a second as an "audio" event, so
nothing on the audio path ever reports by itself.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import math
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from gesam_engine.coordinates import CoordinateError
from gesam_engine.errors import ConfigError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.latency_stats import LatencyStats
from gesam_engine.maps.map_bake import weights_id
from gesam_engine.maps.maps_file import MAPS_JSON, MapsFile, read_maps_file
from gesam_engine.peak_memory import peak_rss_mb
from gesam_engine.runtime.audio_process import AudioOutput
from gesam_engine.runtime.mixer import MixerSpec
from gesam_engine.runtime.shared_audio import RT_PRIORITY, AudioLayout
from gesam_engine.runtime.builtin_bake import bake_into_cache, start_builtin_bake
from gesam_engine.runtime.shipped_bake import BakedGrid
from gesam_engine.runtime.effects import EffectsChain
from gesam_engine.runtime.engine_config import ServeConfig
from gesam_engine.runtime.file_output import FileOutput
from gesam_engine.runtime.generator import Generator
from gesam_engine.runtime.kit_random import KitHistory, card_labels, randomize
from gesam_engine.runtime.kits import Kit
from gesam_engine.runtime.metrics import trigger_latencies
from gesam_engine.runtime.model_switch import ModelParts, ModelSwitcher
from gesam_engine.runtime.pads import SHAPE_PARAMS, Pad, PadError, default_pads
from gesam_engine.runtime.renderer import MAX_GAIN
from gesam_engine.runtime.sound_cache import CachedSound, SoundCache
from gesam_engine.runtime.tilt import TiltCache, TiltWarmer
from gesam_engine.runtime.trigger_log import TriggerRecord
from gesam_engine.runtime.variations import (
    VariantPicker, layer_of, pad_points, pad_variants, variant_point, variant_slot,
)
from gesam_engine.runtime.voices import release_slots

Listener = Callable[[str, dict[str, Any]], None]
WATCH_INTERVAL_S = 0.2  # how often the watch thread looks at the mixer's counters
AUDIO_REPORT_S = 1.0  # how often (at most) an "audio" event reports underruns, xruns and render time
SOUND_MARGIN = 1.01  # a pool slot holds a sound this much longer than the model's, resampled


@dataclasses.dataclass(frozen=True)
class TriggerInfo:
    """What a trigger played: the exact point's sound, or the nearest ready one and how far it was."""

    trigger_id: int
    xy: tuple[float, float]
    played_xy: tuple[float, float]
    exact: bool
    distance: float


def _finite(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise CoordinateError(f"{name} must be a finite number, got {value!r}")
    return v


def clamp_point(x: float, y: float) -> tuple[float, float]:
    """A normalised point clamped to [0, 1]; NaN/inf refused with CoordinateError."""
    return (min(max(_finite("x", x), 0.0), 1.0), min(max(_finite("y", y), 0.0), 1.0))


class Engine:
    """Build with a loaded model and a ServeConfig; ``start()`` opens the output and threads."""

    def __init__(self, model: GesamModel, config: ServeConfig | None = None, output_file: Path | None = None,
                 realtime: bool = True, cache_dir: Path | None = None, progress: bool = True,
                 maps_dir: Path | None = None, models_dir: Path | None = None) -> None:
        self.model = model
        self.config = config or ServeConfig()
        out = self.config.output
        self.sample_rate, self.blocksize, self.channels = out.sample_rate, out.blocksize, out.channels
        self.cache = SoundCache(int(self.config.cache.max_mb * 2**20))
        self.cache_dir = cache_dir
        self.progress = progress
        self.generator = Generator(model, self.cache, self.sample_rate, self.config.generator, on_ready=self._ready)
        # the engine's copy of the chain validates changes and encodes them; the audio process runs its own
        self.effects = EffectsChain(self.config.effects, self.sample_rate, self.channels) if self.config.effects else None
        self._gain = self.config.engine.gain
        voices = self.config.voices
        layout = AudioLayout(self.sample_rate, self.blocksize, self.channels,
                             voice_slots=voices.voices + release_slots(voices.voices), sound_slots=out.sound_slots,
                             slot_len=math.ceil(model.n_samples * self.sample_rate / model.sample_rate * SOUND_MARGIN) + 64)
        self.timed_latency_frames = out.timed_latency_frames()
        self.output: AudioOutput | FileOutput
        if output_file is not None:
            self.output = FileOutput(output_file, layout, self._mixer_spec, self.timed_latency_frames, realtime=realtime)
        else:
            self.output = AudioOutput(out.device, layout, self._mixer_spec, self.timed_latency_frames,
                                      reopen_interval_s=out.reopen_interval_s, on_change=self._output_changed)
        self._lock = threading.Lock()
        self._cursor = (0.5, 0.5)
        self._bend = 0.0
        self._pads = default_pads(self.config.engine.pads)
        self._tilts = TiltCache(self.sample_rate)  # pads' tilted sounds, filtered once per sound and tilt
        self._tilt_warmer = TiltWarmer(self._tilts)  # ...ahead of the hits, off the trigger's thread
        self._variants = VariantPicker()
        self._history = KitHistory()  # the kits before each randomise or program change, for undo
        self._random = random.Random()
        self._kit_name = "default"  # the kit the pads came from: a program's, "random", or "default"
        self.grid: BakedGrid | None = None  # the model's shipped map/bake, when it has one
        default_maps = model.directory / "map" / "maps" if model.directory is not None else None
        self.maps_dir: Path | None = Path(maps_dir) if maps_dir is not None else default_maps
        self.maps: MapsFile | None = None  # class and feature values per cell (`gesam maps`)
        # where switch_model looks for a model by name (default: the folder the model lies in)
        default_models = model.directory.parent if model.directory is not None else None
        self.models_dir: Path | None = Path(models_dir) if models_dir is not None else default_models
        self._switcher = ModelSwitcher(self)
        self._ids = itertools.count(1)
        self._listeners: list[Listener] = []
        self._triggers: dict[int, TriggerInfo] = {}
        self._latencies_ms: list[float] = []
        self._latencies_blocks: list[float] = []
        self._undelivered: list[TriggerRecord] = []  # trigger records whose first block is not yet played
        self.errors = 0
        self.started = False
        self._watch_stop = threading.Event()
        self._watch_thread: threading.Thread | None = None
        self._seen = {"nonfinite_blocks": 0, "effect_errors": 0}  # render counters already reported
        self._audio_reported: tuple[Any, ...] | None = None
        self._latency_reported: dict[str, float] | None = None
        self._fx_changed: set[tuple[str, str]] = set()  # effect parameters changed since start
        self._audio_report_at = 0.0

    def _mixer_spec(self) -> MixerSpec:
        """What a new audio process builds: voices, limiter, the effects with their values now, the gain."""
        effects: tuple[dict[str, Any], ...] = ()
        if self.effects is not None:
            values = self.effects.describe()
            effects = tuple({"name": s.name, "type": s.type, "path": s.path, "enabled": s.enabled,
                             "params": {k: v for k, v in values[s.name].items()
                                        if k in s.params or (s.name, k) in self._fx_changed}}
                            for s in self.config.effects)
        return MixerSpec(self.config.voices, self.config.limiter, effects, self._gain)

    # ---- life cycle ------------------------------------------------------------------------
    def start(self) -> "Engine":
        """Open the shipped bake (else load or make the built-in one), then start the generator and
        what plays. Owner thread."""
        sys.setswitchinterval(0.0005)  # hand the GIL over quickly: OSC and MIDI threads must not wait 5 ms behind torch
        c = self.config
        self._open_shipped_bake()
        bake_live = False
        if self.grid is not None:  # its cells are the ready sounds (no built-in bake): the start points' now
            for xy in [self._cursor, *(pad.xy for pad in self._pads)]:
                self.grid.fill(self.cache, xy, pinned=True)
        elif isinstance(self.output, FileOutput):  # a bounce is scripted: its first trigger must sound
            bake_into_cache(self.model, self.cache, c.cache.bake_grid, self.sample_rate, c.generator.griffin_lim_iters,
                            self.cache_dir, progress=self.progress)
        else:  # live: start-up does not wait for it; until it is ready a trigger plays the nearest ready sound
            bake_live = True
        self._open_maps()
        # the generator's first act is the cursor's sound: torch's first pass, the codec's compiled phase
        # code and the loudness code's imports (~1 s) are paid on its thread, never by a trigger
        self.generator.start(warm_up=self._cursor)
        if bake_live:  # until the bake is made nothing else is ready: wait for that one sound, not the bake
            self.generator.wait_warm_up(timeout=120.0)
            start_builtin_bake(self.generator, c.cache.bake_grid, c.generator.griffin_lim_iters, self.cache_dir,
                               report=lambda message: self._emit("bake", {"message": message}))
        self.output.open()
        self._watch_stop.clear()
        self._watch_thread = threading.Thread(target=self._watch, name="gesam-watch", daemon=True)
        self._watch_thread.start()
        gc.freeze()  # start-up objects (model, bake) leave the collector's view: shorter pauses while playing
        self.started = True
        return self

    def _open_shipped_bake(self) -> None:
        """Use ``<model>/map/bake`` when it is a finished bake of these weights; say why not otherwise."""
        directory = self.model.directory
        if directory is None or not (directory / "map" / "bake" / "index.json").is_file():
            return
        try:
            self.grid = BakedGrid(directory / "map" / "bake", self.model, self.sample_rate)
        except GesamError as exc:
            self._emit("bake", {"message": f"not using the shipped bake: {exc}"})

    def _open_maps(self) -> None:
        """Use the maps folder's maps.json when it was made from these weights; say why not otherwise."""
        if self.maps_dir is None or not (self.maps_dir / MAPS_JSON).is_file():
            return
        try:
            self.maps = read_maps_file(self.maps_dir, weights_id(self.model, sound_only=False))
        except GesamError as exc:
            self._emit("maps", {"message": f"no class or feature reports: {exc}"})

    @property
    def model_name(self) -> str:
        """The name of the playing model's directory ("" for a model not loaded from one)."""
        return self.model.directory.name if self.model.directory is not None else ""

    def switch_model(self, spec: str | Path) -> None:
        """Load another model (a directory, or a name under ``models_dir``) in the background and
        switch to it once its cursor and pad sounds are made; triggers play the old one until then.
        GesamError at once when it is not a model, does not fit or another one is loading; the
        "model" event says how the load ended (``model_switch``)."""
        self._switcher.switch(spec)

    def _sound_points(self) -> list[tuple[float, float]]:
        """The cursor's point, then every pad's."""
        with self._lock:
            return [self._cursor, *(pad.xy for pad in self._pads)]

    def _swap_model(self, parts: ModelParts) -> ModelParts:
        """Install another model's parts in one step (under the lock); the old ones."""
        with self._lock:
            old = ModelParts(self.model, self.generator, self.cache, self.grid, self.maps_dir, self.maps)
            self.model, self.generator, self.cache, self.grid = parts.model, parts.generator, parts.cache, parts.grid
            self.maps_dir, self.maps = parts.maps_dir, parts.maps
        return old

    def stop(self) -> None:
        """Stop everything and release the output."""
        self._switcher.cancel()  # a model load ends first, so the generator stopped below is the one playing
        self._watch_stop.set()
        if self._watch_thread is not None:
            self._watch_thread.join(timeout=5)
            self._watch_thread = None
        self.generator.stop()
        self._tilt_warmer.stop()
        try:
            self.output.close()
        finally:
            self.started = False

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event, data)`` for 'ready' (a point's sound), 'output' (device changes),
        'bake', 'maps', 'alert' (``{"source": "effects", "message": ...}``: see ``check_render``),
        'audio' (``audio_state()``, once a second when it changes), 'latency' (``latency()``,
        when the output opens) and 'model' (a ``switch_model`` ended: ``{"name", "path", "ms"}``, or
        ``{"error", "name", "path"}`` while the old model plays on)."""
        self._listeners.append(listener)

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, data)
            except Exception:  # a broken listener must not break the engine
                self.errors += 1

    def _ready(self, slot: str, xy: tuple[float, float], ms: float) -> None:
        if slot.startswith(("pad", "variant")):  # a pad's new sound: its tilted copy is made now, not at its hit
            n = slot.removeprefix("pad").removeprefix("variant").split(":", 1)[0]
            if n.isdigit() and int(n) < len(self._pads) and self._pads[int(n)].tilt:
                self._warm_tilt(int(n))
        self._emit("ready", {"slot": slot, "xy": xy, "ms": ms})

    def _warm_tilt(self, n: int) -> None:
        """Filter pad ``n``'s ready sounds for its tilt on the warmer's thread."""
        self._tilt_warmer.warm(n, lambda: self._pad_sounds(n), self._pads[n].tilt)

    def _pad_sounds(self, n: int) -> list[np.ndarray]:
        """The sounds pad ``n``'s hits would play now: its ready variants, and its own (or nearest) sound."""
        pad = self._pads[n]
        cache = self.cache
        waves = [hit.wave for xy in pad_points(pad) if (hit := cache.get(xy)) is not None]
        near = cache.nearest(pad.xy)
        return waves + ([near.wave] if near is not None else [])

    def _output_changed(self, state: str, message: str) -> None:
        self._emit("output", {"state": state, "message": message})

    def _watch(self) -> None:
        while not self._watch_stop.wait(WATCH_INTERVAL_S):
            self.output.sync_clock()
            self.check_render()
            self._report_audio()
            if self.output.state == "running":
                latency = self.latency()
                if latency != self._latency_reported:  # the output opened (again): tell DAWs what to compensate
                    self._latency_reported = latency
                    self._emit("latency", latency)

    def audio_state(self) -> dict[str, Any]:
        """The audio process's health: underruns, xruns, render time per block (ms) and its CPU share."""
        counts = self.output.reader.counts()
        render = LatencyStats.of(list(self.output.log().render_s * 1000.0))
        cpu = self.output.cpu_share
        return {"underruns": counts["underruns"], "xruns": self.output.reader.xruns(),
                "late_blocks": counts["late_blocks"],
                "render_ms": {"median": render.median, "p99": render.p99, "max": render.max},
                "cpu_share": None if cpu is None else round(cpu, 4), "block_ms": 1000.0 * self.blocksize / self.sample_rate,
                "realtime_priority": int(self.output.shared.control[RT_PRIORITY])}

    def _report_audio(self) -> None:
        """An "audio" event once a second, when underruns, xruns or the render time changed."""
        now = time.monotonic()
        if now - self._audio_report_at < AUDIO_REPORT_S:
            return
        self._audio_report_at = now
        state = self.audio_state()
        key = (state["underruns"], state["xruns"], round(state["render_ms"]["p99"] or 0.0, 1))
        if key != self._audio_reported:
            self._audio_reported = key
            self._emit("audio", state)

    def latency(self) -> dict[str, float]:
        """What a DAW or the Max patch needs to compensate, in ms: the device's output latency as
        PortAudio reports it, the block (an untimed trigger waits at most one), the safety limiter's
        look-ahead, the fixed latency of timed triggers, and the totals from trigger to the device."""
        output_ms = 1000.0 * self.output.output_latency_s
        block_ms = 1000.0 * self.blocksize / self.sample_rate
        limiter_ms = 1000.0 * self.config.limiter.latency_frames(self.sample_rate) / self.sample_rate
        timed_ms = 1000.0 * self.timed_latency_frames / self.sample_rate
        r = 3
        return {"output_ms": round(output_ms, r), "block_ms": round(block_ms, r), "limiter_ms": round(limiter_ms, r),
                "timed_ms": round(timed_ms, r), "trigger_ms": round(block_ms + limiter_ms + output_ms, r),
                "timed_trigger_ms": round(timed_ms + limiter_ms + output_ms, r)}

    def check_render(self) -> list[str]:
        """Report, as "alert" events, what the mixer counted since the last check: blocks
        that came out NaN/inf (silenced, effects reset) and effects that raised (played dry).
        Returns the messages. The watch thread calls it; never the audio process."""
        counters = self.output.render_counters()
        messages = []
        with self._lock:
            nonfinite, broken = counters["nonfinite_blocks"], counters["effect_errors"]
            new_nonfinite, self._seen["nonfinite_blocks"] = nonfinite - self._seen["nonfinite_blocks"], nonfinite
            new_broken, self._seen["effect_errors"] = broken - self._seen["effect_errors"], broken
        if new_nonfinite > 0:
            messages.append(f"the output held NaN or infinity in {new_nonfinite} block(s) ({nonfinite} in all): "
                            "played silence instead and reset every effect; the next trigger sounds again. "
                            "Check the effect settings (metrics: render.nonfinite_blocks)")
        if new_broken > 0:
            messages.append(f"the effects chain failed in {new_broken} block(s) ({broken} in all) and was bypassed "
                            "for them (the audio process's stderr has no more; check the effect settings)")
        for message in messages:
            self._emit("alert", {"source": "effects", "message": message})
        return messages

    # ---- playing ---------------------------------------------------------------------------
    @property
    def cursor(self) -> tuple[float, float]:
        """The cursor's normalised point."""
        return self._cursor

    def move(self, x: float, y: float) -> tuple[float, float]:
        """Move the cursor (clamped to [0, 1]); generation of that exact point starts."""
        xy = clamp_point(x, y)
        with self._lock:  # the parts of one model: a model switch swaps them under this lock
            self._cursor = xy
            grid, cache, generator = self.grid, self.cache, self.generator
        if grid is not None:  # the nearest baked sound is ready before the next trigger
            grid.fill(cache, xy)
        generator.observe_cursor(xy)
        generator.request("cursor", xy)
        return xy

    def map_info(self, xy: tuple[float, float] | None = None) -> dict[str, Any] | None:
        """Class (name, colour) and audio features at ``xy`` (default: the cursor) from the maps;
        None when the model has no maps."""
        if self.maps is None:
            return None
        x, y = clamp_point(*(xy or self._cursor))
        return self.maps.at(x, y)

    def sound_for(self, xy: tuple[float, float] | None = None) -> tuple[np.ndarray, tuple[float, float]]:
        """The sound a trigger at ``xy`` (default: the cursor) plays now, float32 [L] at the output
        rate, and the point it was made for (the exact one when ready, else the nearest ready one)."""
        hit, _ = self._ready_sound(clamp_point(*(xy or self._cursor)))
        return hit.wave, hit.xy

    def _ready_sound(self, xy: tuple[float, float]) -> tuple[CachedSound, bool]:
        """The exact sound of ``xy`` when ready, else the nearest ready one; and whether it is exact."""
        hit = self.cache.get(xy)
        if hit is not None:
            return hit, True
        hit = self.cache.nearest(xy)
        if hit is None:
            raise GesamError("no sound is ready yet (the engine is still starting)")
        return hit, False

    def _play(self, xy: tuple[float, float], velocity: float, rate: float, gain: float, choke: int,
              at: float | None, *, attack: float = 0.0, hold: float = 0.0, decay: float = 0.0, length: float = 0.0,
              tilt: float = 0.0, pad: int = -1) -> TriggerInfo:
        """Send the sound of ``xy`` to the mixer; the shape (a Pad's, ms and -1..1) goes with it, the
        tilt as a filtered copy of the sound, made ahead by the warmer (``TiltWarmer``). A hit never
        filters: until the copy for this tilt is made it plays the sound's last tilted copy (a tilt
        sweep), or the sound itself, and asks the warmer for pad ``pad``'s copies."""
        arrival = time.perf_counter()
        velocity = min(max(_finite("velocity", velocity), 0.0), 1.0)
        if at is not None:
            _finite("trigger time", at)
        hit, exact = self._ready_sound(xy)
        info = TriggerInfo(next(self._ids), xy, hit.xy, exact, math.dist(xy, hit.xy))
        wave = hit.wave
        if tilt:
            tilted = self._tilts.peek(hit.wave, tilt)
            if tilted is None:
                tilted = self._tilts.latest(hit.wave)
                if pad >= 0:
                    self._warm_tilt(pad)
            wave = hit.wave if tilted is None else tilted
        if not self.output.play(wave, velocity=velocity, gain=gain, rate=rate, choke=choke, arrival=arrival,
                                trigger_id=info.trigger_id, at=at, attack=attack, hold=hold, decay=decay,
                                length=length):
            raise GesamError("the command ring to the audio process is full; the trigger was dropped")
        with self._lock:
            self._triggers[info.trigger_id] = info
            if len(self._triggers) > 10000:
                self._triggers.pop(next(iter(self._triggers)))
        return info

    def trigger(self, velocity: float = 1.0, semitones: float = 0.0, at: float | None = None) -> TriggerInfo:
        """Play the cursor's sound now (the nearest ready one until the exact point is ready),
        ``semitones`` plus the pitch bend away from its pitch; at ``at`` (perf_counter s) plus the
        timed latency when given."""
        semitones = _finite("pitch", semitones)
        if not -48 <= semitones <= 48:
            raise ConfigError(f"pitch must be in -48..48 semitones, got {semitones}")
        total = min(max(semitones + self._bend, -48.0), 48.0)
        return self._play(self._cursor, velocity, 2.0 ** (total / 12.0), 1.0, -1, at)

    def bend(self, semitones: float) -> None:
        """Pitch bend for cursor play, in semitones (-48..48); pads keep their own pitch."""
        value = _finite("pitch bend", semitones)
        if not -48 <= value <= 48:
            raise ConfigError(f"pitch bend must be in -48..48 semitones, got {semitones}")
        self._bend = value

    def play(self, x: float, y: float, velocity: float = 1.0, at: float | None = None) -> TriggerInfo:
        """Move and play in one step."""
        _finite("velocity", velocity)  # refused before the move: a bad play changes nothing
        if at is not None:
            _finite("trigger time", at)
        self.move(x, y)
        return self.trigger(velocity, at=at)

    def pad(self, n: int) -> Pad:
        """Pad ``n``'s settings."""
        self._check_pad(n)
        return self._pads[n]

    def _check_pad(self, n: int) -> None:
        if not isinstance(n, int) or not 0 <= n < len(self._pads):
            raise PadError(f"pad must be an integer in 0..{len(self._pads) - 1}, got {n!r}")

    def set_pad(self, n: int, x: float, y: float, **settings: Any) -> Pad:
        """Store a map point (and optional name/pitch/gain/choke) on pad ``n``; its sound is made."""
        self._check_pad(n)
        xy = clamp_point(x, y)
        with self._lock:  # read and write in one step; and as move(): the parts of one model
            pad = self._pads[n] = dataclasses.replace(self._pads[n], x=xy[0], y=xy[1], **settings)
            grid, cache, generator = self.grid, self.cache, self.generator
        if grid is not None:
            grid.fill(cache, xy)
        generator.request(f"pad{n}", xy)
        self._make_variants(n, pad)
        return pad

    def set_pad_shape(self, n: int, param: str, value: float) -> Pad:
        """Set one of pad ``n``'s shape settings (``SHAPE_PARAMS``: attack, hold, decay, length in ms,
        tilt -1..1); the next trigger plays with it. PadError names the valid settings or range."""
        if param not in SHAPE_PARAMS:
            raise PadError(f"pad shape setting must be one of {', '.join(SHAPE_PARAMS)}, got {param!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PadError(f"pad {param} must be a number, got {value!r}")
        pad = self._update_pad(n, **{param: float(value)})
        if param == "tilt":
            self._warm_tilt(n)
        return pad

    def kit(self, name: str = "") -> Kit:
        """The current pads as a Kit named ``name`` (to save, or to export as SFZ)."""
        with self._lock:
            return Kit(name, tuple(self._pads))

    def apply_kit(self, kit: Kit) -> None:
        """Set every pad from ``kit`` (a program change); their sounds are made on the generator thread.

        The kit must have as many pads as the engine (``engine.pads``); otherwise nothing changes.
        """
        if len(kit.pads) != len(self._pads):
            raise ConfigError(f"kit {kit.name!r} has {len(kit.pads)} pads but the engine has {len(self._pads)} "
                              "(engine.pads in the engine config)")
        with self._lock:
            self._history.push(Kit(self._kit_name, tuple(self._pads)))
            self._install(kit)
        self._ask_pads(kit)

    def trigger_pad(self, n: int, velocity: float = 1.0, at: float | None = None) -> TriggerInfo:
        """Play pad ``n`` with its pitch, level and choke group (timed when ``at`` is given)."""
        pad = self.pad(n)
        return self._play(self._pad_point(n, pad, velocity), velocity, pad.rate, pad.gain, pad.choke, at,
                          attack=pad.attack, hold=pad.hold, decay=pad.decay, length=pad.length, tilt=pad.tilt, pad=n)

    def _pad_point(self, n: int, pad: Pad, velocity: float) -> tuple[float, float]:
        """The point pad ``n``'s hit plays: its velocity layer's next variant when that sound is
        ready; else the pad's own point (the variant is asked for, in the background)."""
        if pad.variation == 0 and pad.soft_x == 0 and pad.soft_y == 0:
            return pad.xy
        v = min(max(_finite("velocity", velocity), 0.0), 1.0)
        layer, k = layer_of(pad, v), self._variants.pick(n, pad)
        xy = variant_point(pad, layer, k)
        if xy == pad.xy or xy in self.cache:
            return xy
        self.generator.request(variant_slot(n, layer, k), xy, background=True)  # evicted: made again
        return pad.xy

    def _make_variants(self, n: int, pad: Pad) -> None:
        """Ask (in the background) for every sound pad ``n``'s hits can play, besides its own."""
        self._variants.reset(n)
        self.generator.forget(f"variant{n}:")  # points of the pad's old settings are not made any more
        for layer, k, xy in pad_variants(pad):
            if xy != pad.xy:
                self.generator.request(variant_slot(n, layer, k), xy, background=True)

    def _make_all_variants(self) -> None:
        """Every pad's variants asked for again (a new model makes new sounds)."""
        for n, pad in enumerate(self.kit().pads):
            self._make_variants(n, pad)

    def _update_pad(self, n: int, **settings: Any) -> Pad:
        """Pad ``n`` with ``settings`` changed, read and written in one locked step (PadError for a bad value)."""
        self._check_pad(n)
        with self._lock:
            pad = self._pads[n] = dataclasses.replace(self._pads[n], **settings)
        return pad

    def _replace_pad(self, n: int, **settings: Any) -> Pad:
        """``_update_pad``, and the pad's own sound and variants are asked for (its point or variation changed)."""
        pad = self._update_pad(n, **settings)
        self.generator.request(f"pad{n}", pad.xy)  # variant 0 is the pad's own sound: its exact one
        self._make_variants(n, pad)
        return pad

    def set_pad_variation(self, n: int, radius: float, variants: int | None = None, mode: str | None = None) -> Pad:
        """Round robin on pad ``n``: ``variants`` sounds within ``radius`` (0 = off) of its point,
        played in turn ("cycle") or at random; None keeps the pad's setting."""
        settings: dict[str, Any] = {"variation": _finite("variation", radius)}
        if variants is not None:
            settings["variants"] = variants
        if mode is not None:
            settings["variation_mode"] = mode
        return self._replace_pad(n, **settings)

    def set_pad_layers(self, n: int, dx: float, dy: float, layers: int | None = None) -> Pad:
        """Velocity layers on pad ``n``: a hit at velocity v plays its point moved by (1 - v) * (dx, dy),
        v quantised to ``layers`` steps (None keeps the pad's)."""
        settings: dict[str, Any] = {"soft_x": _finite("dx", dx), "soft_y": _finite("dy", dy)}
        if layers is not None:
            settings["layers"] = layers
        return self._replace_pad(n, **settings)

    def lock_pad(self, n: int, locked: bool) -> Pad:
        """Lock pad ``n``'s point against kit randomising (or free it)."""
        if not isinstance(locked, bool):
            raise PadError(f"lock must be true or false, got {locked!r}")
        return self._update_pad(n, locked=locked)

    def randomize_kit(self, seed: int | None = None) -> Kit:
        """A new point for every unlocked pad, in the class region its name says (anywhere when the
        name says none or the model has no maps); undo brings the kit before back."""
        rng = random.Random(seed) if seed is not None else self._random
        labels = card_labels(self.model.card)
        with self._lock:  # snapshot, draw and install in one step: a pad change meanwhile is never lost
            before = Kit(self._kit_name, tuple(self._pads))
            kit = dataclasses.replace(randomize(before, self.maps, rng, labels), name="random")
            self._history.push(before)
            self._install(kit)
        self._ask_pads(kit)
        return kit

    def undo_kit(self) -> Kit:
        """The pads as they were before the last randomise or program change."""
        with self._lock:
            kit = self._history.pop()
            if kit is None:
                raise GesamError("nothing to undo: the kit has not been randomised or changed by a program change")
            self._install(kit)
        self._ask_pads(kit)
        return kit

    def _install(self, kit: Kit) -> None:
        """Every pad and the kit's name from ``kit``. The caller holds the engine lock."""
        self._pads = list(kit.pads)
        self._kit_name = kit.name

    def _ask_pads(self, kit: Kit) -> None:
        """Ask for the sounds and variants of ``kit``'s pads (its grid cells at once when baked)."""
        with self._lock:  # the parts of one model, as move()
            grid, cache, generator = self.grid, self.cache, self.generator
        for n, pad in enumerate(kit.pads):
            if grid is not None:
                grid.fill(cache, pad.xy)
            generator.request(f"pad{n}", pad.xy)
            self._make_variants(n, pad)

    def locate(self, path: str) -> dict[str, Any]:
        """Query by example: ``path``'s point on the map (read and prepared as in training), its class;
        the cursor moves there. GesamError naming the file when it cannot be read."""
        from gesam_engine.maps.locate import locate  # lazy: the training-side readers load on first use

        file = Path(path)
        if not file.is_file():
            raise GesamError(f"cannot locate {path!r}: no such file on the engine's machine (give a full path "
                             "to an audio file: WAV, AIFF, FLAC, OGG or MP3)")
        (found,) = locate(self.model, [file], nearest=5)
        if isinstance(found, GesamError):
            raise found
        x, y = self.move(found.x, found.y)
        # the cursor's point (clamped to the map, as /gesam/state/xy says); the encoder's own in map_x, map_y
        return {**found.to_dict(), "x": x, "y": y, "map_x": found.x, "map_y": found.y}

    def note(self, note: int, velocity: int, at: float | None = None) -> TriggerInfo | None:
        """A MIDI note-on: pad notes play pads, other notes play the cursor pitched from root_note."""
        if not isinstance(note, int) or not 0 <= note <= 127:
            raise ConfigError(f"note must be an integer in 0..127, got {note!r}")
        if not isinstance(velocity, int) or not 0 <= velocity <= 127:
            raise ConfigError(f"velocity must be an integer in 0..127, got {velocity!r}")
        if velocity == 0:
            return None  # note-off as note-on with velocity 0: one-shots ring out
        e = self.config.engine
        if e.first_pad_note <= note < e.first_pad_note + len(self._pads):
            return self.trigger_pad(note - e.first_pad_note, velocity / 127, at)
        semitones = min(max(float(note - e.root_note), -48.0), 48.0)  # the pitch range ends at 4 octaves
        return self.trigger(velocity / 127, semitones, at)

    def gain(self, value: float) -> None:
        """Output gain (linear 0..4), ramped over a block."""
        g = _finite("gain", value)
        if not 0 <= g <= MAX_GAIN:
            raise ConfigError(f"gain must be in 0..{MAX_GAIN:g}, got {value}")
        if not self.output.set_gain(g):
            raise GesamError("the command ring to the audio process is full; the gain change was dropped")
        self._gain = g

    def panic(self) -> None:
        """Silence everything within a few ms: voices and effect tails (every effect is reset).
        Never dropped, even when the command ring is full."""
        self.output.panic()

    def set_effect(self, effect: str, param: str, value: Any) -> None:
        """Set an effect parameter; unknown names and values out of the parameter's range are a
        ConfigError saying what is valid. The safety limiter is not an effect: nothing here reaches it."""
        if self.effects is None:
            raise ConfigError("no effects are configured; add [[effects]] tables to the engine config")
        with self._lock:  # encode and send in one order, so the audio process ends where this copy does
            ei, pi, number = self.effects.encode(effect, param, value)
            self._fx_changed.add((effect, param))
            if not self.output.set_param(ei, pi, number):
                raise GesamError("the command ring to the audio process is full; the effect change was dropped")

    def render(self, x: float, y: float, timeout: float = 60.0) -> np.ndarray:
        """The exact sound at a point (float32 [L] at the output rate), made by the generator."""
        return self.generator.render(clamp_point(x, y)).result(timeout=timeout)

    def reopen_output(self) -> bool:
        """Try to open the audio output again now (e.g. after the device came back)."""
        if isinstance(self.output, AudioOutput):
            return self.output.open()
        return True

    # ---- state and metrics -------------------------------------------------------------------
    def active_voices(self) -> int:
        """Voices sounding in the audio process now (playing or releasing)."""
        return int(np.count_nonzero(self.output.shared.holders >= 0))

    def is_ready(self, xy: tuple[float, float] | None = None) -> bool:
        """Whether the exact sound of ``xy`` (default: the cursor) is ready."""
        return (xy or self._cursor) in self.cache

    def _collect_latencies(self) -> None:
        records = self._undelivered + self.output.trigger_records()
        if not records:
            return
        log = self.output.log()
        lat = trigger_latencies(records, log, self.blocksize, self.sample_rate)
        self._latencies_ms += [t.ms for t in lat]
        self._latencies_blocks += [t.blocks for t in lat]
        # rendered later than the log reaches: measured on a later call, not lost
        played = int(log.stream_frame[-1]) + self.blocksize if log.block.size else 0
        self._undelivered = [r for r in records if not r.timed and r.frame >= played][-4096:]

    def metrics(self) -> dict[str, Any]:
        """Trigger latency (ms and blocks), generation time, output counters, render time, latency, memory."""
        self._collect_latencies()
        gen = self.generator
        out = self.output
        return {
            "trigger_latency_ms": LatencyStats.of(self._latencies_ms).to_dict(),
            "trigger_latency_blocks": LatencyStats.of(self._latencies_blocks).to_dict(),
            "generation_ready_ms": LatencyStats.of(list(gen.ready_ms)).to_dict(),
            "generated": gen.generated, "prefetched": gen.prefetched, "generator_errors": gen.errors,
            "output": out.status(),
            "audio": self.audio_state(),
            "latency": self.latency(),
            "cache": self.cache.stats(),
            "voices_active": self.active_voices(),
            "render": {"dropped": 0, **out.render_counters()},
            "limiter": {**self.config.limiter.stats(self.sample_rate), **out.limiter_stats()},
            "sample_clock": {"synced": out.clock.offset is not None, "resyncs": out.clock.resyncs},
            "sound_pool": {"slots": out.pool.slots, "writes": out.pool.writes},
            "rss_mb": peak_rss_mb(),  # the peak so far; None where the platform cannot tell
            "block_ms": 1000.0 * self.blocksize / self.sample_rate,
            "render_margin_ms": 0.0,  # kept for old readers: the mixer renders inside the callback, no margin
        }

    def state(self) -> dict[str, Any]:
        """Cursor, readiness, output state: what /gesam/state reports."""
        return {"cursor": self._cursor, "ready": self.is_ready(), "output": self.output.state,
                "underruns": self.output.underruns, "pending": self.generator.pending()}
