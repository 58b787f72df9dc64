"""Codec benchmark: round-trip quality and decode time per representation on real held-out kits.

For each decode (today's mel + Griffin-Lim, mel with a PGHI start, 256-band mel, the linear STFT
codec, and the true-phase bounds) on the three validation Hydrogen kits, prepared as training
prepares them: MR-STFT median per sound (gesam_engine/codec/quality.py, lower is better), the
same over hats and cymbals only, the first-30-ms peak ratio (decoded / original, median) and the
decode time of one 1.5 s sound on one thread (median). One JSON file and a short table.

A second table bounds what a generator can give back through each representation: today's
transformer emits each 4-frame token through one linear layer from a d_model-wide state, so its
frames lie in a d_model-dimensional affine subspace per token. The best such subspace (PCA of the
tokens of the other Hydrogen kits, the training kits) is applied to the held-out frames before
decoding; a codec whose round trip is good but whose bound is poor needs a wider head to pay off.
Usage: python benchmarks/bench_codec.py [--kit DIR ...] [--out FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gesam_engine.codec import make_codec  # noqa: E402
from gesam_engine.codec.pghi import pghi_phase  # noqa: E402
from gesam_engine.codec.phase import griffin_lim  # noqa: E402
from gesam_engine.codec.quality import mrstft_distance  # noqa: E402
from gesam_engine.config import read_toml  # noqa: E402
from gesam_engine.data import build_corpus, prepare_wave, read_audio  # noqa: E402
from gesam_engine.training import settings_from_dict  # noqa: E402

KITS = Path("/usr/share/hydrogen/data/drumkits")
HELD_OUT = ("ColomboAcousticDrumkit", "Millo_MultiLayered2", "HardElectro1")  # scripts/default_model.toml's validation kits
HAT_LABEL = "hihat"  # the default model's hihat class holds every hat and cymbal keyword
ATTACK_S = 0.03

# name -> (codec settings, iterations, true phase?, what it is)
ROWS: dict[str, tuple[dict[str, Any], int, bool, str]] = {
    "mel128_gl8": ({"name": "mel"}, 8, False, "today: 128-band log-mel, fast Griffin-Lim 8 it (engine)"),
    "mel128_gl32": ({"name": "mel"}, 32, False, "today: 128-band log-mel, fast Griffin-Lim 32 it (offline)"),
    "mel128_pghi4": ({"name": "mel", "phase_init": "pghi"}, 4, False, "128-band mel, PGHI start + 4 fast-GL it"),
    "mel256_pghi4": ({"name": "mel", "n_mels": 256, "phase_init": "pghi"}, 4, False, "256-band mel, PGHI + 4 it"),
    "mel256_pghi8": ({"name": "mel", "n_mels": 256, "phase_init": "pghi"}, 8, False, "256-band mel, PGHI + 8 it"),
    "mel256_pghi32": ({"name": "mel", "n_mels": 256, "phase_init": "pghi"}, 32, False, "256-band mel, PGHI + 32 it (bake)"),
    "stft_pghi4": ({"name": "stft"}, 4, False, "stft codec: linear magnitude (513 bins), PGHI + 4 it"),
    "stft_pghi8": ({"name": "stft"}, 8, False, "stft codec: linear magnitude (513 bins), PGHI + 8 it (engine)"),
    "stft_pghi32": ({"name": "stft"}, 32, False, "stft codec: linear magnitude (513 bins), PGHI + 32 it (bake)"),
    "mel128_true_phase": ({"name": "mel"}, 0, True, "true phase, 128-band mel magnitude"),
    "mel256_true_phase": ({"name": "mel", "n_mels": 256}, 0, True, "true phase, 256-band mel magnitude"),
}
BASELINE = "mel128_gl8"
# head-bound rows: (codec settings, iterations); the token width is the transformer's patch (4 frames)
BOUND_ROWS: dict[str, tuple[dict[str, Any], int]] = {
    "mel128_gl8": ({"name": "mel"}, 8),
    "mel128_pghi4": ({"name": "mel", "phase_init": "pghi"}, 4),
    "mel256_pghi8": ({"name": "mel", "n_mels": 256, "phase_init": "pghi"}, 8),
    "stft_pghi8": ({"name": "stft"}, 8),
}
PATCH = 4


def prepared_waves(kits: list[Path], every: int = 1) -> tuple[np.ndarray, list[str]]:
    """Prepared waves [N, L] of every ``every``-th usable file under ``kits`` (as training prepares them), labels."""
    settings = settings_from_dict(read_toml(ROOT / "scripts" / "default_model.toml"))
    corpus = build_corpus(kits, settings.make_codec(), settings.preprocess, settings.labels, None, progress=False)
    items = corpus.items[::every]
    waves = np.stack([prepare_wave(*read_audio(Path(it.path), settings.preprocess.max_input_s), settings.preprocess)
                      for it in items])
    return waves, [it.label for it in items]


def _tokens(frames: np.ndarray) -> np.ndarray:
    """Frames [N, T, D] -> tokens [N, ceil(T / PATCH), PATCH * D] (zero-padded, as the transformer groups them)."""
    n, t, d = frames.shape
    pad = -t % PATCH
    return np.concatenate([frames, np.zeros((n, pad, d), frames.dtype)], 1).reshape(n, (t + pad) // PATCH, PATCH * d)


def head_bound(settings: dict[str, Any], iters: int, widths: list[int], train: np.ndarray, waves: np.ndarray,
               hats: np.ndarray) -> list[dict[str, Any]]:
    """For each width K: MR-STFT of held-out sounds whose frames are projected on the best K-dim affine subspace of tokens."""
    codec = make_codec(settings)
    with torch.inference_mode():
        fit = _tokens(codec.encode_batch(torch.from_numpy(train)).numpy())  # (N', T / PATCH, PATCH * D)
        frames = codec.encode_batch(torch.from_numpy(waves)).numpy()  # (N, T, D)
    flat = fit.reshape(-1, fit.shape[-1]).astype(np.float64)
    mean = flat.mean(0)
    vt = np.linalg.svd(flat - mean, full_matrices=False)[2]  # (min(M, PATCH * D), PATCH * D), best directions first
    tok = _tokens(frames)
    out = []
    for width in widths:
        basis = vt[:width]  # (K, PATCH * D)
        proj = ((tok.reshape(-1, tok.shape[-1]) - mean) @ basis.T @ basis + mean).reshape(tok.shape)
        limited = proj.reshape(len(waves), -1, frames.shape[2])[:, : frames.shape[1]].astype(np.float32)
        with torch.inference_mode():
            y = torch.cat([codec.decode_batch(torch.from_numpy(limited[i:i + 16]), waves.shape[1], iters=iters)  # type: ignore[call-arg]
                           for i in range(0, len(waves), 16)]).numpy()
        scores = np.array([mrstft_distance(a, b) for a, b in zip(waves, y)])
        out.append({"codec": codec.to_config(), "iters": iters, "width": width, "effective_width": int(basis.shape[0]),
                    "token_dim": int(tok.shape[-1]),
                    "mrstft_median": round(float(np.median(scores)), 4),
                    "mrstft_hats_median": round(float(np.median(scores[hats])), 4) if hats.any() else None,
                    "frame_mae": round(float(np.abs(limited - frames).mean()), 5)})
    return out


def true_phase_decode(codec: Any, frames: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
    """Frames' magnitude [B, F, T] with the originals' own phase: the bound no phase method passes."""
    c = codec.config
    window = torch.hann_window(c.n_fft)
    spec = torch.stft(waves, c.n_fft, c.hop_length, window=window, center=True, return_complex=True)  # (B, F, T)
    mag = codec.frames_to_magnitude(frames)  # (B, F, T)
    return griffin_lim(mag, torch.polar(torch.ones_like(mag), spec.angle()), c.n_fft, c.hop_length, window,
                       waves.shape[1], 0, c.momentum)


def decode_ms(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall times in ms of ``fn`` after one warm-up call."""
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def bench_row(settings: dict[str, Any], iters: int, true_phase: bool, waves: np.ndarray, hats: np.ndarray,
              timing_items: list[int], repeats: int) -> dict[str, Any]:
    """Quality over every sound and decode time of single sounds for one representation."""
    codec = make_codec(settings)
    n = waves.shape[1]
    x = torch.from_numpy(waves)
    with torch.inference_mode():
        frames = codec.encode_batch(x)  # (N, T, D)
        back = []
        for i in range(0, len(waves), 16):  # batches of 16: the engine's bake size, bounded memory
            f = frames[i:i + 16]
            back.append(true_phase_decode(codec, f, x[i:i + 16]) if true_phase
                        else codec.decode_batch(f, n, iters=iters))  # type: ignore[call-arg]
        y = torch.cat(back).numpy()
        times: list[float] = []
        if not true_phase:
            for i in timing_items:
                one = frames[i:i + 1]
                times += decode_ms(lambda: codec.decode_batch(one, n, iters=iters), repeats)  # type: ignore[call-arg]
    scores = np.array([mrstft_distance(a, b) for a, b in zip(waves, y)])
    k = int(round(ATTACK_S * codec.sample_rate))
    peaks = np.abs(y[:, :k]).max(axis=1) / np.maximum(np.abs(waves[:, :k]).max(axis=1), 1e-9)
    return {
        "codec": codec.to_config(),
        "iters": iters,
        "n_features": codec.n_features,
        "mrstft_median": round(float(np.median(scores)), 4),
        "mrstft_p90": round(float(np.percentile(scores, 90)), 4),
        "mrstft_hats_median": round(float(np.median(scores[hats])), 4) if hats.any() else None,
        "mrstft_others_median": round(float(np.median(scores[~hats])), 4) if (~hats).any() else None,
        "attack_peak_ratio_median": round(float(np.median(peaks)), 4),
        "decode_one_sound_ms": ({"median_ms": round(statistics.median(times), 3),
                                 "p90_ms": round(float(np.percentile(times, 90)), 3), "runs": len(times)}
                                if times else None),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", type=Path, action="append", help="a held-out kit folder (repeatable; "
                        f"default: {', '.join(HELD_OUT)} under {KITS})")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/codec.json")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="every third sound, fewer timing runs (a smoke run)")
    parser.add_argument("--rows", nargs="*", choices=sorted(ROWS), help="only these rows")
    parser.add_argument("--head-width", type=int, nargs="*", default=[192, 512, 1024],
                        help="linear head widths to bound (default: 192 = today's d_model, 512, 1024; none: skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Empty filters detected")  # 256 mel bands on 513 bins: one is empty
    kits = args.kit or [KITS / k for k in HELD_OUT]
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "kits": [str(k) for k in kits],
    }
    missing = [str(k) for k in kits if not k.is_dir()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if missing:
        result["skipped"] = f"{missing} not found (apt-get install hydrogen-drumkits)"
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(result["skipped"])
        return 0
    waves, labels = prepared_waves(kits, every=3 if args.quick else 1)
    hats = np.array([lab == HAT_LABEL for lab in labels])
    timing_items = list(np.linspace(0, len(waves) - 1, 3 if args.quick else 5).round().astype(int))
    repeats = 2 if args.quick else 5
    result.update(sounds=int(len(waves)), hats_and_cymbals=int(hats.sum()), seconds_per_sound=waves.shape[1] / 44100,
                  baseline=BASELINE, rows={})
    for name, (settings, iters, true_phase, what) in ROWS.items():
        if args.rows and name not in args.rows:
            continue
        row = bench_row(settings, iters, true_phase, waves, hats, timing_items, repeats)
        result["rows"][name] = {"what": what, **row}
        print(f"{name:<20} {row['mrstft_median']:.3f}", flush=True)
    pghi_times: list[float] = []
    for i in timing_items:  # PGHI alone on the linear magnitude, the same sounds as the decode times
        mag = torch.stft(torch.from_numpy(waves[i])[None], 1024, 256, window=torch.hann_window(1024),
                         return_complex=True).abs().numpy()  # (1, 513, T)
        pghi_times += decode_ms(lambda: pghi_phase(mag, 1024, 256), repeats)
    result["pghi_one_sound_ms"] = {"median_ms": round(statistics.median(pghi_times), 3), "runs": len(pghi_times)}
    training_kits = [k for k in sorted(KITS.iterdir()) if k.name not in HELD_OUT] if KITS.is_dir() else []
    if args.head_width and training_kits:
        train, _ = prepared_waves(training_kits, every=6 if args.quick else 2)
        result["head_bound"] = {"training_kits": [k.name for k in training_kits], "training_sounds": len(train),
                                "patch": PATCH, "rows": {}}
        for name, (settings, iters) in BOUND_ROWS.items():
            for bound in head_bound(settings, iters, args.head_width, train, waves, hats):
                result["head_bound"]["rows"][f"{name}_width{bound['width']}"] = bound
                print(f"{name + ' head ' + str(bound['width']):<28} {bound['mrstft_median']:.3f}", flush=True)
    base = result["rows"].get(BASELINE)
    for row in result["rows"].values():
        if base is not None:
            row["mrstft_vs_baseline"] = round(row["mrstft_median"] / base["mrstft_median"], 3)
            if row["decode_one_sound_ms"] and base["decode_one_sound_ms"]:
                row["decode_ms_vs_baseline"] = round(row["decode_one_sound_ms"]["median_ms"]
                                                     / base["decode_one_sound_ms"]["median_ms"], 3)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{len(waves)} sounds ({int(hats.sum())} hats and cymbals) from {len(kits)} kits, one thread")
    print(f"{'decode':<62}{'dim':>5}{'MR-STFT':>9}{'hats':>7}{'peak30':>8}{'ms':>8}")
    for row in result["rows"].values():
        ms = row["decode_one_sound_ms"]["median_ms"] if row["decode_one_sound_ms"] else float("nan")
        print(f"{row['what']:<62}{row['n_features']:>5}{row['mrstft_median']:>9.3f}"
              f"{row['mrstft_hats_median'] or float('nan'):>7.3f}{row['attack_peak_ratio_median']:>8.3f}{ms:>8.1f}")
    print(f"PGHI alone, one sound: {result['pghi_one_sound_ms']['median_ms']:.1f} ms")
    if "head_bound" in result:
        print(f"\nfrom a linear head of width K per {PATCH}-frame token (PCA of {result['head_bound']['training_sounds']}"
              " training-kit sounds)")
        print(f"{'decode':<28}{'K':>6}{'token':>7}{'MR-STFT':>9}{'hats':>7}")
        for name, b in result["head_bound"]["rows"].items():
            print(f"{name:<28}{b['width']:>6}{b['token_dim']:>7}{b['mrstft_median']:>9.3f}{b['mrstft_hats_median']:>7.3f}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
