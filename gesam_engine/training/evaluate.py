"""The GESAM paper's evaluation on held-out sounds: transformer vs VAE reconstruction vs 5-NN average.

Each held-out sound is encoded to its map point, and three candidates for it are compared with
its true frames: (a) the transformer's generation at that point, (b) the VAE decoder's
reconstruction, (c) the mean frames of the 5 training sounds nearest to that point on the map.
Figures: mean absolute error in the codec's frame space, and the share of candidates whose
class (by the model's classifier) matches the original's class (also by the classifier, and,
separately, by its file-name label). The codec's own round trip is measured on the same sounds.

What a musician hears is measured too (``gesam_engine.evaluation``): each candidate decoded to
audio and compared with the original held-out sound by MR-STFT, every sound matched to the same
loudness first (-18 LUFS; the loudness gap is its own column); the classifier on the originals;
whether a held-out sound's nearest training sound on the map shares its label; and an n x n grid
of the map judged for realism (Fréchet distance to the held-out sounds) and loudness.

The training sounds are the ones the model records in model.json (checked by sha256), unless
training folders are given, which override the record.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors
from tqdm.auto import tqdm

from gesam_engine.codec.quality import mrstft_distance
from gesam_engine.config import from_dict
from gesam_engine.data import Corpus, CorpusItem, build_corpus, prepare_wave, read_audio
from gesam_engine.data.labels import load_label_config
from gesam_engine.data.paging import note_read
from gesam_engine.data.preprocess import PreprocessConfig
from gesam_engine.errors import GesamError
from gesam_engine.evaluation import (
    MATCH_LUFS, audio_row, decode_frames, find_recorded_corpus, grid_figures, integrated_lufs, matched_mrstft,
)
from gesam_engine.gesam_model import GesamModel

METHODS = ("transformer", "vae_reconstruction", "knn5_average")
K = 5


def _batched(fn: Any, x: np.ndarray, batch: int) -> np.ndarray:
    out = []
    for i in range(0, len(x), batch):
        out.append(fn(x[i:i + batch]))
        note_read(x, x[i:i + batch].nbytes)  # a mapped corpus: this process lets go of what it read now and then
    return np.concatenate(out)


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


def _prepared_waves(items: Sequence[CorpusItem], preprocess: PreprocessConfig, n_samples: int) -> np.ndarray:
    """The items' sounds as the model learnt them (read, trimmed, loudness-normalised) -> [N, n_samples] float32."""
    waves = np.stack([prepare_wave(*read_audio(Path(it.path), preprocess.max_input_s), preprocess) for it in items])
    if waves.shape[1] < n_samples:
        waves = np.pad(waves, ((0, 0), (0, n_samples - waves.shape[1])))
    return waves[:, :n_samples]


def _training_corpus(model: GesamModel, train_roots: Sequence[Path] | None,
                     build: Callable[[Sequence[Path]], Corpus]) -> tuple[Corpus, dict[str, Any]]:
    """The training sounds: under ``train_roots`` when given, else exactly the files model.json records."""
    if train_roots is not None:
        return build(train_roots), {"roots": [str(r) for r in train_roots], "source": "--train"}
    recorded = find_recorded_corpus(model.card)
    corpus = build(recorded.folders)
    keep = [i for i, it in enumerate(corpus.items) if it.content_hash in recorded.hashes]
    if not keep:
        raise GesamError("none of the training files recorded in model.json could be encoded again; "
                         "give the training folders with `gesam evaluate --train DIR...`")
    if len(keep) < len(corpus.items):  # else the corpus as built: its frames stay mapped, not copied
        corpus = dataclasses.replace(corpus, items=[corpus.items[i] for i in keep], frames=corpus.frames[keep])
    return corpus, {"roots": [str(r) for r in recorded.folders], "source": "model.json",
                    "n_recorded": recorded.n_files}


def _spread(n: int, k: int) -> np.ndarray:
    """``k`` indices spread evenly over ``range(n)`` (all of them when n <= k)."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int))


def evaluate_model(model: GesamModel, train_roots: Sequence[Path] | None, val_roots: Sequence[Path],
                   cache_dir: Path | None = None, batch: int = 64, codec_sounds: int = 32, grid: int = 8,
                   progress: bool = True) -> dict[str, Any]:
    """The evaluation table (JSON-ready) for ``model`` on the held-out folders ``val_roots``.

    ``train_roots`` None: the training files recorded in model.json (GesamError naming what is
    missing or changed). ``grid``: side of the map grid for realism and loudness (0: none)."""
    if getattr(model, "classifier", None) is None:
        raise GesamError("evaluation needs the model's classifier (classifier.safetensors); retrain with `gesam train`")
    if grid != 0 and not 2 <= grid <= 64:
        raise GesamError(f"the evaluation grid must be 2..64 cells a side (or 0 for none), got {grid}")
    started = time.perf_counter()
    trained = model.card.get("settings") or {}  # the preprocessing and labels the model was trained with
    preprocess = from_dict(PreprocessConfig, trained.get("preprocess"), "preprocess")
    labels = load_label_config(trained.get("labels"))

    def build(roots: Sequence[Path]) -> Corpus:
        return build_corpus(roots, model.codec, preprocess, labels, cache_dir, progress=progress)

    train, training_info = _training_corpus(model, train_roots, build)
    val = build(val_roots)
    train_hashes = {it.content_hash for it in train.items}
    keep = np.array([it.content_hash not in train_hashes for it in val.items])
    if not keep.any():
        raise GesamError("every held-out sound is also in the training folders; hold out other kits")
    val_frames = val.frames[keep]
    val_items = [it for it, k in zip(val.items, keep) if k]
    val_labels = [it.label for it in val_items]
    train_points = _batched(model.encode_points, train.frames, batch)
    points, candidates = _candidates(model, val_frames, train.frames, train_points, batch)
    names = model.class_names()
    original_class = model.classify(val_frames, batch).argmax(axis=1)
    label_ids = np.array([names.index(lb) if lb in names else -1 for lb in val_labels])
    rate = model.sample_rate
    originals = _prepared_waves(val_items, preprocess, model.n_samples)  # (M, L)
    original_lufs = integrated_lufs(originals, rate)  # (M,)
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
            **audio_row(originals, decode_frames(model, frames, batch), rate, original_lufs),
        }
    round_trip = decode_frames(model, val_frames, batch)  # (M, L) the originals through the codec
    codec_row = audio_row(originals, round_trip, rate, original_lufs)
    _, nearest = NearestNeighbors(n_neighbors=1).fit(train_points).kneighbors(points)  # (M, 1)
    train_labels = np.array([it.label for it in train.items])
    best_mae = min(rows, key=lambda m: rows[m]["frame_mae"])
    best_class = max(rows, key=lambda m: rows[m]["class_match"])
    counts = {n: int((np.array(val_labels) == n).sum()) for n in names}
    figures: dict[str, Any] = {}
    if grid:
        pick = _spread(len(train.items), grid * grid)  # as many real training sounds as grid cells, all kits
        training_waves = _prepared_waves([train.items[i] for i in pick], preprocess, model.n_samples)
        figures = grid_figures(model, grid, originals, training_waves, round_trip, batch)
    return {
        "held_out": {"roots": [str(r) for r in val_roots], "n_sounds": int(keep.sum()),
                     "dropped_duplicates_of_training": int((~keep).sum()), "class_counts": counts},
        "training": {**training_info, "n_sounds": len(train.items)},
        "methods": rows,
        "best_frame_mae": best_mae,
        "best_class_match": best_class,
        "transformer_best_on_both": best_mae == "transformer" and best_class == "transformer",
        "classifier_on_originals_matches_file_label": round(float((original_class == label_ids).mean()), 4),
        "codec": _codec_round_trip(model, val, preprocess, codec_sounds),
        "map_points_spread": [round(float(v), 4) for v in points.std(axis=0)],
        "audio_loudness": f"each sound matched to {MATCH_LUFS:g} LUFS (BS.1770) before MR-STFT; median per sound",
        "codec_round_trip_mrstft": codec_row["mrstft"],
        "codec_round_trip_lufs_vs_original": codec_row["lufs_vs_original"],
        "silence_mrstft": round(float(np.median(matched_mrstft(originals, np.zeros_like(originals), rate))), 4),
        "classifier_accuracy_originals": round(float((original_class == label_ids).mean()), 4),
        "map_nn1_same_label": round(float((train_labels[nearest[:, 0]] == np.array(val_labels)).mean()), 4),
        **figures,
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_table(result: dict[str, Any]) -> str:
    """The evaluation as a Markdown table, one row per method (audio columns when measured)."""
    lines = ["| method | frame MAE (± s.e.m.) | MR-STFT | class match (classifier) | class match (file label) "
             "| loudness vs original |",
             "| --- | --- | --- | --- | --- | --- |"]
    for method, row in result["methods"].items():
        mrstft = f"{row['mrstft']:.3f}" if "mrstft" in row else "-"
        lufs = f"{row['lufs_vs_original']:+.1f} dB" if "lufs_vs_original" in row else "-"
        lines.append(f"| {method} | {row['frame_mae']:.4f} ± {row['frame_mae_sem']:.4f} | {mrstft} | "
                     f"{row['class_match']:.1%} | {row['class_match_file_label']:.1%} | {lufs} |")
    return "\n".join(lines)


def format_summary(result: dict[str, Any]) -> str:
    """The figures beside the table, a line each: originals and map, realism, grid loudness."""
    r = result
    lines = [f"originals: codec round trip MR-STFT {r['codec_round_trip_mrstft']:.3f} (silence "
             f"{r['silence_mrstft']:.3f}; {r['audio_loudness']}); classifier agrees with the file label "
             f"{r['classifier_accuracy_originals']:.1%}; nearest training sound on the map has the same label "
             f"{r['map_nn1_same_label']:.1%}"]
    if "frechet" in r:
        f, g = r["frechet"], r["grid"]
        t = g["transformer"]
        lines.append(f"realism, Fréchet distance to the held-out sounds (lower is better): transformer grid "
                     f"{f['transformer_grid']:.2f}, VAE decoder grid {f['vae_decoder_grid']:.2f}; references: "
                     f"training sounds {f['training_sounds']:.2f}, codec round trip {f['codec_round_trip']:.2f}")
        lines.append(f"{g['n']} x {g['n']} transformer grid: median {t['lufs_median']:.1f} LUFS, 10-90 % "
                     f"{t['lufs_p10']:.1f}..{t['lufs_p90']:.1f} ({t['lufs_spread_p10_p90']:.1f} dB), "
                     f"{t['share_below_-24_lufs']:.0%} below -24 LUFS; neighbours differ {t['lufs_neighbour_diff']:.1f} dB, "
                     f"far cells {t['lufs_far_diff']:.1f} dB (cliffs: {t['lufs_cliff_share']:.0%} of neighbour pairs; "
                     f"ring length {t['decay_cliff_share']:.0%})")
    return "\n".join(lines)
