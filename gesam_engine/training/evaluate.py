"""The GESAM paper's evaluation on held-out sounds: transformer vs VAE reconstruction vs 5-NN average.

Each held-out sound is encoded to its map point, and three candidates for it are compared with
its true frames: (a) the transformer's generation at that point, (b) the VAE decoder's
reconstruction, (c) the mean frames of the 5 training sounds nearest to that point on the map.
Figures: mean absolute error in the codec's frame space, and the share of candidates whose
class (by the model's classifier) matches the original's class (also by the classifier, and,
separately, by its file-name label). The codec's own round trip is measured on the same sounds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors
from tqdm.auto import tqdm

from gesam_engine.codec.quality import mrstft_distance
from gesam_engine.data import Corpus, build_corpus, prepare_wave, read_audio
from gesam_engine.errors import GesamError
from gesam_engine.gesam_model import GesamModel
from gesam_engine.config import from_dict
from gesam_engine.data.labels import load_label_config
from gesam_engine.data.preprocess import PreprocessConfig

METHODS = ("transformer", "vae_reconstruction", "knn5_average")
K = 5


def _batched(fn: Any, x: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


def _candidates(model: GesamModel, val: np.ndarray, train: np.ndarray, train_points: np.ndarray,
                batch: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The held-out sounds' map points and each method's frames for them [M, T, D]."""
    dev = model.device

    @torch.inference_mode()
    def recon(x: np.ndarray) -> np.ndarray:
        mu, _ = model.vae.encode(torch.from_numpy(x).to(dev))
        return model.vae.decode(mu).float().cpu().numpy()

    points = _batched(model.encode_points, val, batch)
    gen = _batched(lambda p: model.generate_frames(p).float().cpu().numpy(), points, batch)
    _, idx = NearestNeighbors(n_neighbors=min(K, len(train_points))).fit(train_points).kneighbors(points)
    knn = train[idx].mean(axis=1)
    return points, {"transformer": gen, "vae_reconstruction": _batched(recon, val, batch), "knn5_average": knn}


def _codec_round_trip(model: GesamModel, corpus: Corpus, preprocess: PreprocessConfig, limit: int) -> dict[str, float]:
    """MR-STFT distance of prepared held-out waves against codec.decode(codec.encode(wave))."""
    items = corpus.items[:: max(1, len(corpus.items) // limit)][:limit]
    waves = np.stack([prepare_wave(*read_audio(Path(it.path), 30.0), preprocess) for it in items])
    back = np.stack([model.codec.decode(model.codec.encode(w))[: waves.shape[1]] for w in waves])
    if back.shape[1] < waves.shape[1]:
        back = np.pad(back, ((0, 0), (0, waves.shape[1] - back.shape[1])))
    return {"n_sounds": len(items), "mrstft_round_trip": round(mrstft_distance(waves, back), 4),
            "mrstft_silence_reference": round(mrstft_distance(waves, np.zeros_like(waves) + 1e-6), 4)}


def evaluate_model(model: GesamModel, train_roots: Sequence[Path], val_roots: Sequence[Path],
                   cache_dir: Path | None = None, batch: int = 64, codec_sounds: int = 32,
                   progress: bool = True) -> dict[str, Any]:
    """The evaluation table (JSON-ready) for ``model`` on the held-out folders ``val_roots``."""
    if getattr(model, "classifier", None) is None:
        raise GesamError("evaluation needs the model's classifier (classifier.safetensors); retrain with `gesam train`")
    started = time.perf_counter()
    trained = model.card.get("settings") or {}  # the preprocessing and labels the model was trained with
    preprocess = from_dict(PreprocessConfig, trained.get("preprocess"), "preprocess")
    labels = load_label_config(trained.get("labels"))
    build = lambda roots: build_corpus(roots, model.codec, preprocess, labels, cache_dir, progress=progress)  # noqa: E731
    train, val = build(train_roots), build(val_roots)
    train_hashes = {it.content_hash for it in train.items}
    keep = np.array([it.content_hash not in train_hashes for it in val.items])
    if not keep.any():
        raise GesamError("every held-out sound is also in the training folders; hold out other kits")
    val_frames = val.frames[keep]
    val_labels = [it.label for it, k in zip(val.items, keep) if k]
    train_points = _batched(model.encode_points, train.frames, batch)
    points, candidates = _candidates(model, val_frames, train.frames, train_points, batch)
    names = model.class_names()
    original_class = model.classify(val_frames, batch).argmax(axis=1)
    label_ids = np.array([names.index(lb) if lb in names else -1 for lb in val_labels])
    rows: dict[str, dict[str, float]] = {}
    for method in tqdm(METHODS, desc="evaluate", disable=not progress):
        frames = candidates[method]
        mae = np.abs(frames - val_frames).mean(axis=(1, 2))
        cls = model.classify(frames.astype(np.float32), batch).argmax(axis=1)
        rows[method] = {
            "frame_mae": round(float(mae.mean()), 4),
            "frame_mae_sem": round(float(mae.std(ddof=1) / np.sqrt(len(mae))) if len(mae) > 1 else 0.0, 4),
            "class_match": round(float((cls == original_class).mean()), 4),
            "class_match_file_label": round(float((cls == label_ids).mean()), 4),
        }
    best_mae = min(rows, key=lambda m: rows[m]["frame_mae"])
    best_class = max(rows, key=lambda m: rows[m]["class_match"])
    counts = {n: int((np.array(val_labels) == n).sum()) for n in names}
    return {
        "held_out": {"roots": [str(r) for r in val_roots], "n_sounds": int(keep.sum()),
                     "dropped_duplicates_of_training": int((~keep).sum()), "class_counts": counts},
        "training": {"roots": [str(r) for r in train_roots], "n_sounds": len(train.items)},
        "methods": rows,
        "best_frame_mae": best_mae,
        "best_class_match": best_class,
        "transformer_best_on_both": best_mae == "transformer" and best_class == "transformer",
        "classifier_on_originals_matches_file_label": round(float((original_class == label_ids).mean()), 4),
        "codec": _codec_round_trip(model, val, preprocess, codec_sounds),
        "map_points_spread": [round(float(v), 4) for v in points.std(axis=0)],
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_table(result: dict[str, Any]) -> str:
    """The evaluation as a Markdown table, one row per method."""
    lines = ["| method | frame MAE (± s.e.m.) | class match (classifier) | class match (file label) |",
             "| --- | --- | --- | --- |"]
    for method, row in result["methods"].items():
        lines.append(f"| {method} | {row['frame_mae']:.4f} ± {row['frame_mae_sem']:.4f} | "
                     f"{row['class_match']:.1%} | {row['class_match_file_label']:.1%} |")
    return "\n".join(lines)
