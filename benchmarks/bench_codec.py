"""Codec benchmark: round-trip quality and decode time per representation on real held-out kits.

For each decode (today's mel + Griffin-Lim, mel with a PGHI start, 256-band mel, the linear STFT
codec, and the true-phase bounds) on the three validation Hydrogen kits, prepared as training
prepares them: MR-STFT median per sound (gesam_engine/codec/quality.py, lower is better), the
same over hats and cymbals only, the first-30-ms peak ratio (decoded / original, median) and the
decode time of one 1.5 s sound on one thread (median). One JSON file and a short table.
Usage: python benchmarks/bench_codec.py [--kit DIR ...] [--out FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gesam_engine.codec import make_codec  # noqa: E402
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
    "mel256_pghi8": ({"name": "mel", "n_mels": 256, "phase_init": "pghi"}, 8, False, "256-band mel, PGHI + 8 it"),
    "stft_pghi4": ({"name": "stft"}, 4, False, "stft codec: linear magnitude (513 bins), PGHI + 4 it"),
    "stft_pghi8": ({"name": "stft"}, 8, False, "stft codec: linear magnitude (513 bins), PGHI + 8 it (engine)"),
    "stft_pghi32": ({"name": "stft"}, 32, False, "stft codec: linear magnitude (513 bins), PGHI + 32 it (bake)"),
    "mel128_true_phase": ({"name": "mel"}, 0, True, "true phase, 128-band mel magnitude"),
    "mel256_true_phase": ({"name": "mel", "n_mels": 256}, 0, True, "true phase, 256-band mel magnitude"),
}
BASELINE = "mel128_gl8"


def held_out_waves(kits: list[Path]) -> tuple[np.ndarray, list[str], list[str]]:
    """Prepared waves [N, L] of every usable file under ``kits`` (as training prepares them), labels, paths."""
    settings = settings_from_dict(read_toml(ROOT / "scripts" / "default_model.toml"))
    corpus = build_corpus(kits, settings.make_codec(), settings.preprocess, settings.labels, None, progress=False)
    waves = np.stack([prepare_wave(*read_audio(Path(it.path), settings.preprocess.max_input_s), settings.preprocess)
                      for it in corpus.items])
    return waves, [it.label for it in corpus.items], [it.path for it in corpus.items]


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
    waves, labels, _ = held_out_waves(kits)
    if args.quick:
        waves, labels = waves[::3], labels[::3]
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
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
