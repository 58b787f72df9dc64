"""The map bake: every sound of an N x N grid over the map, generated once and stored as .npy.

Layout of a bake folder (by default ``<model>/map/bake/``)::

    frames.npy   float16 [N*N, T, D]  transformer frames, grid_points(N) order (row-major, y up)
    audio.npy    float16 [N*N, L]     decoded sounds at the model's rate (absent with audio=False)
    index.json   format "gesam-bake", version 1: grid, order, weights sha256, shapes, done count

The .npy files are created at full size up front (``np.lib.format.open_memmap``) and filled in
chunks; after each round of chunks is flushed, ``index.json``'s ``done`` (rows [0, done) are
written) is rewritten atomically (temporary file + ``os.replace``), so an interrupted bake
continues where it stopped. Loading never unpickles (``allow_pickle=False``) and maps the arrays
read-only.

More than one process (``gesam bake --nproc N`` or torchrun; ``dist``): chunk k is rows
[k*batch, (k+1)*batch) whatever the number of processes (``plan_chunks``), and in each round of
``world`` consecutive chunks rank r bakes the r-th. Rank 0 alone writes: each other rank sends
it its chunk's float16 bytes (``bake_exchange``); rank 0 writes the round's rows into the
arrays, flushes them, and only then raises ``done`` past the round (a round is contiguous rows,
so ``done`` stays a plain count). A process killed at any moment loses only rows past ``done``
(rows a killed rank 0 had written but not counted are simply baked again), so a resume, with any
number of processes, redoes exactly those. Only rank 0's disk holds the bake (several nodes
need no shared folder); a round waits for its slowest rank, and chunks are all alike.

The arrays are byte for byte those of a 1-process bake with the same batch size, on the same kind
of device, with as many compute threads per process (OMP_NUM_THREADS; torchrun's processes get 1
unless it is set): the model's sums depend on the batch's size (hence the fixed chunk
boundaries) and, on a CPU, on the thread count (MKL's matrix products and the flash attention
kernel split their sums by thread: measured on 1 vs 2 threads, a few rows differ in the last
float16 bit), never on which rank made a chunk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from tqdm.auto import tqdm

from gesam_engine.atomic_io import atomic_write
from gesam_engine.distributed import SINGLE, Dist, PeerFailed
from gesam_engine.errors import CheckpointError, GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps.bake_exchange import hand_in, kill_if_asked, receive
from gesam_engine.maps.grid import grid_points

if TYPE_CHECKING:
    from torch import nn

FORMAT = "gesam-bake"
VERSION = 1
INDEX = "index.json"
FRAMES = "frames.npy"
AUDIO = "audio.npy"
DTYPE = "float16"
ORDER = "grid_points(grid): row-major, y up; index = row * grid + col, x = (col + 0.5) / grid, y = (row + 0.5) / grid"
_F16_MAX = float(np.finfo(np.float16).max)
SOUND_WEIGHTS = ("vae.safetensors", "transformer.safetensors")


@dataclasses.dataclass
class BakeIndex:
    """The contents of ``index.json``: what was baked, from which weights, and how far it got."""

    grid: int
    weights: dict[str, str]
    n_frames: int  # T
    n_features: int  # D
    n_samples: int  # L
    sample_rate: int
    settings: dict[str, Any]
    done: int = 0  # rows [0, done) are written
    seconds: float = 0.0
    format: str = FORMAT
    version: int = VERSION
    order: str = ORDER
    dtype: str = DTYPE
    # this run only (not stored): sounds made and wall seconds, for the throughput report
    run_sounds: int = dataclasses.field(default=0, compare=False)
    run_seconds: float = dataclasses.field(default=0.0, compare=False)

    @property
    def total(self) -> int:
        """Number of sounds in the grid (N*N)."""
        return self.grid * self.grid

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @property
    def audio(self) -> bool:
        return bool(self.settings.get("audio", True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "version": self.version, "grid": self.grid, "n_points": self.total,
            "order": self.order, "files": {"frames": FRAMES, "audio": AUDIO if self.audio else None},
            "weights": self.weights, "T": self.n_frames, "D": self.n_features, "L": self.n_samples,
            "sample_rate": self.sample_rate, "dtype": self.dtype, "done": self.done,
            "seconds": round(self.seconds, 3), "settings": self.settings,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: Path) -> "BakeIndex":
        if d.get("format") != FORMAT or d.get("version") != VERSION:
            raise CheckpointError(f"{where} is not a {FORMAT} version {VERSION} index "
                                  f"(format {d.get('format')!r}, version {d.get('version')!r}); bake again with --force")
        try:
            index = cls(grid=int(d["grid"]), weights={str(k): str(v) for k, v in d["weights"].items()},
                        n_frames=int(d["T"]), n_features=int(d["D"]), n_samples=int(d["L"]),
                        sample_rate=int(d["sample_rate"]), settings=dict(d["settings"]), done=int(d["done"]),
                        seconds=float(d.get("seconds", 0.0)), dtype=str(d["dtype"]), order=str(d.get("order", ORDER)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{where} is incomplete or invalid ({exc!r}); bake again with --force") from None
        if not 0 <= index.done <= index.total:
            raise CheckpointError(f"{where}: done {index.done} is outside 0..{index.total}; bake again with --force")
        return index

    def same_bake(self, other: "BakeIndex") -> bool:
        """True when ``other`` describes the same grid, model and settings (progress aside)."""
        keys = ("grid", "weights", "n_frames", "n_features", "n_samples", "sample_rate", "settings", "dtype")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


def weights_id(model: GesamModel, sound_only: bool = True) -> dict[str, str]:
    """The sha256 of the weight files in the model's card (``model.json`` "files"): with
    ``sound_only`` the two that make the sounds (a bake stays valid when only the classifier
    changes), else all of them; for an unsaved model, one sha256 over its parameters."""
    files = model.card.get("files", {})
    wanted = SOUND_WEIGHTS if sound_only else tuple(k for k in files if k.endswith(".safetensors"))
    ids = {k: str(files[k]["sha256"]) for k in wanted if isinstance(files.get(k), dict) and "sha256" in files[k]}
    if ids:
        return ids
    digest = hashlib.sha256()
    modules: list[nn.Module] = [model.vae, model.transformer]
    classifier = getattr(model, "classifier", None)
    if not sound_only and classifier is not None:
        modules.append(classifier)
    for module in modules:
        for name, t in module.state_dict().items():
            digest.update(name.encode())
            digest.update(t.detach().cpu().float().numpy().tobytes())
    return {"parameters": digest.hexdigest()}


def _default_iters(model: GesamModel) -> int | None:
    it = model.codec.to_config().get("griffin_lim_iters")
    return None if it is None else int(it)


def _expected_index(model: GesamModel, grid: int, iters: int | None, audio: bool) -> BakeIndex:
    t, d = model.transformer.config.n_frames, model.transformer.config.n_features
    settings = {"iters": iters if iters is not None else _default_iters(model), "audio": audio,
                "codec": model.codec.to_config()}
    return BakeIndex(grid=grid, weights=weights_id(model), n_frames=t, n_features=d, n_samples=model.n_samples,
                     sample_rate=model.sample_rate, settings=settings)


def _write_index(directory: Path, index: BakeIndex) -> None:
    """Write index.json atomically (``atomic_write``: temporary file in the same folder, fsync, rename)."""
    atomic_write(directory / INDEX, json.dumps(index.to_dict(), indent=2) + "\n")


def read_index(directory: Path) -> BakeIndex:
    """Read and check ``directory/index.json``; CheckpointError when missing or invalid."""
    path = Path(directory) / INDEX
    if not path.is_file():
        raise CheckpointError(f"{path} not found: {directory} is not a bake; make one with `gesam bake`")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path} is unreadable ({type(exc).__name__}: {exc}); bake again with --force") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object; bake again with --force")
    return BakeIndex.from_dict(data, path)


def _bake_chunk(model: GesamModel, xy: np.ndarray, iters: int | None, audio: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Points [B, 2] -> frames [B, T, D] float16 and (when ``audio``) waves [B, L] float16.

    One batched transformer pass with the KV cache, then one batched decode."""
    frames = model.generate_frames(xy)  # (B, T, D) on model.device
    frames16 = _to_f16(frames.float().cpu().numpy(), "frames")
    waves16 = _to_f16(model.decode(frames, iters=iters), "audio") if audio else None  # (B, L)
    return frames16, waves16


def _to_f16(x: np.ndarray, what: str) -> np.ndarray:
    if not np.isfinite(x).all() or np.abs(x).max(initial=0.0) > _F16_MAX:
        raise GesamError(f"the model generated {what} that are not finite or beyond float16's range; "
                         "the weights are probably broken")
    return x.astype(np.float16)


def _open_arrays(directory: Path, index: BakeIndex, fresh: bool) -> tuple[np.memmap, np.memmap | None]:
    """The full-size memmaps: created (``fresh``) or opened for update with their shapes checked."""
    shapes = {FRAMES: (index.total, index.n_frames, index.n_features), AUDIO: (index.total, index.n_samples)}
    names = [FRAMES] + ([AUDIO] if index.audio else [])
    out: list[np.memmap] = []
    for name in names:
        path = directory / name
        if fresh:
            out.append(np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shapes[name]))
            continue
        # read-only first: numpy's r+ memmap silently zero-extends a truncated file
        np.load(path, mmap_mode="r", allow_pickle=False)
        arr = np.lib.format.open_memmap(path, mode="r+")
        if arr.shape != shapes[name] or arr.dtype != np.float16:
            raise ValueError(f"{name} has shape {arr.shape} {arr.dtype}, expected {shapes[name]} float16")
        out.append(arr)
    return out[0], (out[1] if index.audio else None)


def _check_settings(grid: int, batch: int, iters: int | None) -> None:
    if not 1 <= grid <= 1024:
        raise GesamError(f"grid must be in 1..1024, got {grid}")
    if not 1 <= batch <= 65536:
        raise GesamError(f"batch must be in 1..65536, got {batch}")
    if iters is not None and not 0 <= iters <= 1000:
        raise GesamError(f"iters must be in 0..1000, got {iters}")


def _bake_to_continue(want: BakeIndex, directory: Path, force: bool) -> BakeIndex | None:
    """The index of the bake in ``directory`` to continue, or None to start a new one; CheckpointError
    when another bake is there (unless ``force``) or its index is unreadable."""
    if force or not (directory / INDEX).exists():
        return None
    try:
        old = read_index(directory)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; or pass --force to start over") from None
    if not old.same_bake(want):
        diff = [k for k in ("grid", "weights", "n_samples", "sample_rate", "settings")
                if getattr(old, k) != getattr(want, k)]
        raise CheckpointError(
            f"{directory} holds a different bake (its {', '.join(diff) or 'shape'} differ: grid {old.grid}, "
            f"asked for grid {want.grid}); pass --force to start over, or choose another --out")
    return old


def check_bake(model: GesamModel, grid: int, directory: Path | str, batch: int = 64, iters: int | None = None,
               audio: bool = True, force: bool = False) -> None:
    """Raise what ``bake_grid`` would refuse before it bakes (bad settings, another bake in
    ``directory`` without ``force``), writing nothing: ``gesam bake --nproc N`` asks before it starts N processes."""
    _check_settings(grid, batch, iters)
    _bake_to_continue(_expected_index(model, grid, iters, audio), Path(directory), force)


def _open_bake(model: GesamModel, grid: int, directory: Path, iters: int | None, audio: bool,
               force: bool) -> tuple[BakeIndex, np.memmap, np.memmap | None]:
    """The index to fill and its arrays, open for writing: the bake to continue, or a new one (written)."""
    directory.mkdir(parents=True, exist_ok=True)
    want = _expected_index(model, grid, iters, audio)
    old = _bake_to_continue(want, directory, force)
    if old is not None:
        try:
            frames_mm, audio_mm = _open_arrays(directory, old, False)
            return old, frames_mm, audio_mm
        except (OSError, ValueError, EOFError):  # a resumable index whose arrays are gone or damaged: start over
            pass
    # the new index (nothing done) first, then the arrays: a kill in between never leaves an old
    # count over freshly zeroed arrays
    _write_index(directory, want)
    if not audio:
        (directory / AUDIO).unlink(missing_ok=True)
    frames_mm, audio_mm = _open_arrays(directory, want, True)
    return want, frames_mm, audio_mm


def plan_chunks(done: int, total: int, batch: int) -> list[tuple[int, int]]:
    """The [lo, hi) row chunks left after ``done``: cut at multiples of ``batch`` whoever bakes them,
    as the model's sums depend on the batch's size (the first is shorter after a resume with another batch)."""
    starts = range(done // batch * batch, total, batch)
    return [(max(done, lo), min(total, lo + batch)) for lo in starts if max(done, lo) < min(total, lo + batch)]


def _share_plan(dist: Dist, plan: dict[str, Any] | None, failure: BaseException | None) -> dict[str, Any]:
    """Rank 0's plan (index and chunks) on every rank; rank 0's failure to make one ends every rank."""
    if dist.active:
        plan = dist.broadcast({"error": None if failure is None else f"{failure}", **(plan or {})})
    if failure is not None:
        raise failure
    assert plan is not None
    if plan.get("error") is not None:
        raise PeerFailed(f"rank 0 could not start the bake: {plan['error']}")
    return plan


def bake_grid(
    model: GesamModel,
    grid: int,
    directory: Path | str,
    batch: int = 64,
    iters: int | None = None,
    audio: bool = True,
    force: bool = False,
    progress: bool = True,
    stop: Callable[[], bool] | None = None,
    dist: Dist | None = None,
) -> BakeIndex:
    """Bake the ``grid`` x ``grid`` map into ``directory`` (frames.npy, audio.npy, index.json).

    Runs on ``model.device`` in chunks of ``batch`` with the KV cache; ``iters`` Griffin-Lim
    iterations (None: the codec's). Continues an interrupted bake of the same grid, weights and
    settings; a different existing bake needs ``force``. Returns the final index. Call from any
    thread but the audio callback (it is long-running torch and file work). When ``stop()`` turns
    true it returns between batches, unfinished (``complete`` is False) and resumable.

    ``dist``: this process's place in a distributed bake (module docstring); every rank calls it
    with the same arguments, rank 0 writes and shows the bar, and only rank 0's result counts (the
    others return the index as it was, ``run_sounds`` their own). ``stop`` is for one process."""
    _check_settings(grid, batch, iters)
    dist = dist or SINGLE
    if dist.active and stop is not None:
        raise GesamError("stop() works in a single-process bake only")
    directory = Path(directory)
    index: BakeIndex | None = None
    frames_mm: np.memmap | None = None
    audio_mm: np.memmap | None = None
    plan: dict[str, Any] | None = None
    failure: BaseException | None = None
    if dist.is_main:
        try:
            index, frames_mm, audio_mm = _open_bake(model, grid, directory, iters, audio, force)
            plan = {"index": index, "chunks": plan_chunks(index.done, index.total, batch)}
        except Exception as exc:  # told to every rank, then raised here as it was
            failure = exc
    kill_if_asked(dist.rank, -1)  # the test hook's value is checked on every rank before any chunk, not mid-bake
    plan = _share_plan(dist, plan, failure)
    index = plan["index"] if index is None else index
    chunks: list[tuple[int, int]] = plan["chunks"]
    settings_iters, with_audio = index.settings["iters"], index.audio
    t, d, n = index.n_frames, index.n_features, index.n_samples
    points = grid_points(grid)
    start_done, started, mine = index.done, time.perf_counter(), 0
    bar = tqdm(total=index.total, initial=index.done, desc=f"bake {grid}x{grid}", unit="sound",
               disable=not (progress and dist.is_main), dynamic_ncols=True, smoothing=0.1)
    handed_in = 0
    try:
        for first in range(0, len(chunks), dist.world):
            if stop is not None and stop():
                break
            round_chunks = chunks[first:first + dist.world]
            t0 = time.perf_counter()
            made: tuple[np.ndarray, np.ndarray | None] | None = None
            if dist.rank < len(round_chunks):
                lo, hi = round_chunks[dist.rank]
                made = _bake_chunk(model, points[lo:hi], settings_iters, with_audio)
                mine += hi - lo
            if not dist.is_main:
                if made is not None:
                    kill_if_asked(dist.rank, handed_in)
                    hand_in(dist, *made)
                    handed_in += 1
                continue
            assert frames_mm is not None and made is not None  # rank 0 always has the round's first chunk
            for src, (lo, hi) in enumerate(round_chunks):
                frames16, waves16 = made if src == 0 else receive(dist, src, (hi - lo, t, d),
                                                                  (hi - lo, n) if with_audio else None)
                frames_mm[lo:hi] = frames16
                if audio_mm is not None and waves16 is not None:
                    audio_mm[lo:hi] = waves16
            frames_mm.flush()
            if audio_mm is not None:
                audio_mm.flush()
            kill_if_asked(0, handed_in)  # the test hook: written, not counted
            handed_in += 1
            index.done = round_chunks[-1][1]
            index.seconds += time.perf_counter() - t0
            _write_index(directory, index)
            bar.update(sum(hi - lo for lo, hi in round_chunks))
    finally:
        bar.close()
        del frames_mm, audio_mm
    index.run_sounds = index.done - start_done if dist.is_main else mine
    index.run_seconds = time.perf_counter() - started
    return index


def load_bake(
    directory: Path | str, model: GesamModel | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, BakeIndex]:
    """A finished bake: points [N, 2] float64, frames [N, T, D] float16 and audio [N, L] float16
    (or None for a frames-only bake) as read-only memmaps, and the index.

    CheckpointError when the index is missing, invalid or unfinished, a file is missing or
    truncated, or (given ``model``) the bake was made from other weights or shapes. Never unpickles."""
    directory = Path(directory)
    index = read_index(directory)
    if index.dtype != DTYPE:
        raise CheckpointError(f"{directory / INDEX}: dtype {index.dtype!r}, expected {DTYPE!r}")
    if not index.complete:
        raise CheckpointError(f"{directory} is an unfinished bake ({index.done} of {index.total} sounds); "
                              "run `gesam bake` again with the same settings to finish it")
    if model is not None:
        want = weights_id(model)
        if index.weights != want:
            raise CheckpointError(
                f"{directory} was baked from other weights (sha256 {index.weights}, the model has {want}); "
                "the bake is stale: bake again with --force")
        mine = (model.transformer.config.n_frames, model.transformer.config.n_features, model.n_samples, model.sample_rate)
        if (index.n_frames, index.n_features, index.n_samples, index.sample_rate) != mine:
            raise CheckpointError(f"{directory}: T, D, L, rate do not match the model's {mine}; bake again with --force")
    shapes = {FRAMES: (index.total, index.n_frames, index.n_features), AUDIO: (index.total, index.n_samples)}
    arrays: dict[str, np.ndarray] = {}
    for name in [FRAMES] + ([AUDIO] if index.audio else []):
        path = directory / name
        if not path.is_file():
            raise CheckpointError(f"{path} is missing; the bake is incomplete: bake again with --force")
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CheckpointError(f"{path} is truncated or corrupt ({exc}); bake again with --force") from None
        if arr.shape != shapes[name] or arr.dtype != np.float16:
            raise CheckpointError(f"{path} has shape {arr.shape} {arr.dtype}, expected {shapes[name]} float16; "
                                  "bake again with --force")
        arrays[name] = arr
    return grid_points(index.grid), arrays[FRAMES], arrays.get(AUDIO), index
