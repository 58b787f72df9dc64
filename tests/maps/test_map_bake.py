"""The map bake: shapes and dtypes, equality with render, resuming, index integrity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gesam_engine.maps.map_bake as bake_mod
from gesam_engine.errors import CheckpointError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.maps import BakeIndex, bake_grid, load_bake
from gesam_engine.maps.grid import grid_points
from tests.tiny import tiny_model

ITERS = 4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(0.25).save(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="module")
def model(model_dir: Path) -> GesamModel:
    return GesamModel.load(model_dir)


@pytest.fixture(scope="module")
def baked(model: GesamModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 4 x 4 bake in chunks of 5 (the last chunk partial)."""
    out = tmp_path_factory.mktemp("bake")
    bake_grid(model, 4, out, batch=5, iters=ITERS, progress=False)
    return out


def test_shapes_dtypes_and_index(model: GesamModel, baked: Path) -> None:
    points, frames, audio, index = load_bake(baked, model)
    t, d = model.transformer.config.n_frames, model.transformer.config.n_features
    np.testing.assert_array_equal(points, grid_points(4))
    assert frames.shape == (16, t, d) and frames.dtype == np.float16
    assert audio is not None and audio.shape == (16, model.n_samples) and audio.dtype == np.float16
    assert isinstance(frames, np.memmap) and not frames.flags.writeable
    assert isinstance(index, BakeIndex) and index.complete and index.done == 16
    raw = json.loads((baked / "index.json").read_text())
    assert raw["format"] == "gesam-bake" and raw["version"] == 1 and raw["grid"] == 4
    assert raw["T"] == t and raw["D"] == d and raw["L"] == model.n_samples and raw["sample_rate"] == model.sample_rate
    assert raw["dtype"] == "float16" and raw["done"] == 16 and raw["seconds"] > 0
    assert raw["settings"]["iters"] == ITERS and raw["settings"]["audio"] is True
    assert set(raw["weights"]) == {"vae.safetensors", "transformer.safetensors"}
    assert raw["weights"]["transformer.safetensors"] == model.card["files"]["transformer.safetensors"]["sha256"]
    assert not list(baked.glob(".index.*"))  # no temporary index left behind


def test_frames_keep_quality_in_float16(model: GesamModel, baked: Path) -> None:
    points, frames, _, _ = load_bake(baked, model)
    exact = model.generate_frames(points).float().cpu().numpy()
    err = float(np.abs(frames.astype(np.float32) - exact).max())
    # float16 has an 11-bit significand: the error is at most 2**-11 of the largest frame value.
    # Measured on the tiny model: max abs error 5.7e-4 for frames up to 2.0 (bound 9.8e-4); audio 2.4e-4.
    assert err <= np.abs(exact).max() * 2.0**-11 + 1e-7, err


def test_baked_audio_equals_render(model: GesamModel, baked: Path) -> None:
    points, _, audio, _ = load_bake(baked, model)
    assert audio is not None
    for i in (0, 6, 15):
        alone = model.render(points[i : i + 1], iters=ITERS)[0]
        np.testing.assert_allclose(audio[i].astype(np.float32), alone, atol=1e-3)  # float16 of |x| <= 0.9: < 5e-4
    assert len({a.tobytes() for a in np.asarray(audio)}) == 16


def test_interrupted_bake_resumes_and_equals_uninterrupted(model: GesamModel, baked: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = bake_mod._bake_chunk
    calls = {"n": 0}

    def failing_chunk(*args, **kwargs):  # type: ignore[no-untyped-def]
        # simulate an interruption: the chunk function raises on its 2nd call, after chunk 1 is stored
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bake_mod, "_bake_chunk", failing_chunk)
    with pytest.raises(KeyboardInterrupt):
        bake_grid(model, 4, tmp_path, batch=5, iters=ITERS, progress=False)
    monkeypatch.setattr(bake_mod, "_bake_chunk", real)
    assert json.loads((tmp_path / "index.json").read_text())["done"] == 5
    with pytest.raises(CheckpointError, match="unfinished"):
        load_bake(tmp_path, model)

    seen: list[int] = []

    def counting_chunk(m, xy, *rest):  # type: ignore[no-untyped-def]
        seen.append(len(xy))
        return real(m, xy, *rest)

    monkeypatch.setattr(bake_mod, "_bake_chunk", counting_chunk)
    index = bake_grid(model, 4, tmp_path, batch=5, iters=ITERS, progress=False)
    assert seen == [5, 5, 1] and index.done == 16 and index.run_sounds == 11  # continued from 5, not from 0
    _, frames, audio, _ = load_bake(tmp_path, model)
    _, frames_ref, audio_ref, _ = load_bake(baked, model)
    np.testing.assert_array_equal(frames, frames_ref)
    np.testing.assert_array_equal(audio, audio_ref)
    seen.clear()
    assert bake_grid(model, 4, tmp_path, batch=5, iters=ITERS, progress=False).run_sounds == 0 and seen == []


def test_truncated_audio_is_refused(model: GesamModel, tmp_path: Path) -> None:
    bake_grid(model, 3, tmp_path, batch=16, iters=ITERS, progress=False)
    path = tmp_path / "audio.npy"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"audio\.npy is truncated"):
        load_bake(tmp_path, model)
    path.unlink()
    with pytest.raises(CheckpointError, match=r"audio\.npy is missing"):
        load_bake(tmp_path, model)


def test_baking_again_over_a_truncated_array_remakes_it(model: GesamModel, baked: Path, tmp_path: Path) -> None:
    """numpy's r+ memmap zero-extends a short file: the bake must notice and make the sounds again."""
    bake_grid(model, 4, tmp_path, batch=5, iters=ITERS, progress=False)
    path = tmp_path / "audio.npy"
    path.write_bytes(path.read_bytes()[:200])
    index = bake_grid(model, 4, tmp_path, batch=5, iters=ITERS, progress=False)
    assert index.run_sounds == 16
    _, _, audio, _ = load_bake(tmp_path, model)
    np.testing.assert_array_equal(audio, load_bake(baked, model)[2])


def test_wrong_weights_sha256_is_refused(model: GesamModel, tmp_path: Path) -> None:
    bake_grid(model, 3, tmp_path, batch=16, iters=ITERS, progress=False)
    other = GesamModel.load(tiny_model(0.25, seed=1).save(tmp_path / "other"))
    with pytest.raises(CheckpointError, match="other weights.*stale"):
        load_bake(tmp_path, other)
    raw = json.loads((tmp_path / "index.json").read_text())
    raw["weights"]["vae.safetensors"] = "0" * 64
    (tmp_path / "index.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="other weights"):
        load_bake(tmp_path, model)


def test_different_grid_needs_force(model: GesamModel, tmp_path: Path) -> None:
    bake_grid(model, 3, tmp_path, batch=16, iters=ITERS, progress=False)
    with pytest.raises(CheckpointError, match="different bake.*grid 3.*grid 4.*--force"):
        bake_grid(model, 4, tmp_path, batch=16, iters=ITERS, progress=False)
    with pytest.raises(CheckpointError, match="settings.*--force"):
        bake_grid(model, 3, tmp_path, batch=16, iters=ITERS + 1, progress=False)
    index = bake_grid(model, 4, tmp_path, batch=16, iters=ITERS, force=True, progress=False)
    assert index.grid == 4 and load_bake(tmp_path, model)[1].shape[0] == 16


def test_frames_only(model: GesamModel, tmp_path: Path) -> None:
    bake_grid(model, 3, tmp_path, iters=ITERS, audio=False, progress=False)
    points, frames, audio, index = load_bake(tmp_path, model)
    assert audio is None and not (tmp_path / "audio.npy").exists() and frames.shape[0] == 9
    assert json.loads((tmp_path / "index.json").read_text())["files"]["audio"] is None
