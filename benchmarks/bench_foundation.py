"""Foundation benchmarks: codec quality and decode time, training time per epoch, and generation
time for 1 and 64 points with the KV cache versus full recompute (GESAM's reference loop).

Writes one JSON file (medians, p90, ratios measured in this one run) and prints a short table.
Usage: python benchmarks/bench_foundation.py [--kit DIR] [--out FILE] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gesam_engine.codec.quality import mrstft_distance  # noqa: E402
from gesam_engine.data import build_corpus, write_synth_kit  # noqa: E402
from gesam_engine.models import MapTransformer  # noqa: E402
from gesam_engine.training import settings_from_dict  # noqa: E402
from gesam_engine.training.transformer_trainer import train_transformer  # noqa: E402
from gesam_engine.training.vae_trainer import encode_all, train_vae  # noqa: E402

DEFAULT_KIT = Path("/usr/share/hydrogen/data/drumkits/The Black Pearl 1.0")


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median and p90 wall time in ms of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": round(statistics.median(times), 3),
            "p90_ms": round(float(np.percentile(times, 90)), 3), "runs": repeats}


def bench_codec(corpus_frames: np.ndarray, waves: np.ndarray, settings: Any, repeats: int) -> dict[str, Any]:
    codec = settings.make_codec()
    n = waves.shape[1]
    with torch.inference_mode():
        back = codec.decode_batch(torch.from_numpy(corpus_frames), n).numpy()
    one = torch.from_numpy(corpus_frames[:1])
    with torch.inference_mode():
        decode = timed(lambda: codec.decode_batch(one, n), repeats)
        decode16 = timed(lambda: codec.decode_batch(one, n, iters=16), repeats)
    return {
        "codec": codec.to_config(),
        "mrstft_round_trip": round(mrstft_distance(waves, back), 4),
        "mrstft_silence_reference": round(mrstft_distance(waves, np.zeros_like(waves) + 1e-6), 4),
        "decode_one_sound": decode,
        "decode_one_sound_16_iters": decode16,
        "sounds": int(waves.shape[0]),
    }


def bench_training(frames: np.ndarray, settings: Any, epochs: int) -> dict[str, Any]:
    train = dataclasses.replace(settings.train, vae_epochs=epochs, transformer_epochs=epochs)
    x = torch.from_numpy(frames)
    cpu = torch.device("cpu")
    vae, vh = train_vae(x, settings.vae, train, cpu, progress=False)
    _, th = train_transformer(x, encode_all(vae, x, cpu), settings.transformer, train, cpu, progress=False,
                              vae=vae.eval())  # the refine mode (the default) reads the VAE decoder
    return {"sounds": int(frames.shape[0]), "epochs": epochs,
            "vae_s_per_epoch": vh["seconds_per_epoch"], "transformer_s_per_epoch": th["seconds_per_epoch"]}


def bench_generation(settings: Any, repeats: int, nocache_repeats: int) -> dict[str, Any]:
    """GESAM's autoregressive loop (KV cache vs full recompute vs one point at a time) and the
    parallel mode's single pass, at the default sizes."""
    torch.manual_seed(0)
    model = MapTransformer(dataclasses.replace(settings.transformer, mode="autoregressive")).eval()
    out: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters()),
                           "tokens": settings.transformer.n_tokens}
    parallel = MapTransformer(dataclasses.replace(settings.transformer, mode="parallel")).eval()
    for batch in (1, 64):
        pts = torch.rand(batch, 2) * 2 - 1
        one_pass = timed(lambda: parallel.generate(pts), repeats)
        out[f"parallel_batch_{batch}"] = {**one_pass, "ms_per_point": round(one_pass["median_ms"] / batch, 3)}
    for batch in (1, 64):
        pts = torch.rand(batch, 2) * 2 - 1
        cached = timed(lambda: model.generate(pts, use_cache=True), repeats)
        full = timed(lambda: model.generate(pts, use_cache=False), nocache_repeats, warmup=0)
        out[f"batch_{batch}"] = {
            "kv_cache": cached, "full_recompute": full,
            "speedup": round(full["median_ms"] / cached["median_ms"], 2),
            "ms_per_point_kv_cache": round(cached["median_ms"] / batch, 3),
        }
    # GESAM's reference loop: the same 64 points one at a time, the whole sequence recomputed each step
    pts = torch.rand(64, 2) * 2 - 1
    loop = timed(lambda: [model.generate(p[None], use_cache=False) for p in pts], 1, warmup=0)
    out["reference_loop_64"] = {
        **loop, "speedup_vs_kv_batch": round(loop["median_ms"] / out["batch_64"]["kv_cache"]["median_ms"], 2)}
    out["parallel_speedup_vs_kv_cache_batch_1"] = round(
        out["batch_1"]["kv_cache"]["median_ms"] / out["parallel_batch_1"]["median_ms"], 2)
    return out


def bench_gpu(settings: Any, repeats: int) -> dict[str, Any]:
    """Generation (1 and 64 points, KV cache) and decode on CUDA; skipped with the reason without it."""
    if not torch.cuda.is_available():
        return {"skipped": "CUDA is not available on this machine (torch.cuda.is_available() is False)"}
    dev = torch.device("cuda")
    torch.manual_seed(0)
    model = MapTransformer(settings.transformer).eval().to(dev)
    codec = settings.make_codec()
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(dev)}

    def sync(fn: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: (fn(), torch.cuda.synchronize())

    with torch.inference_mode():
        for batch in (1, 64):
            pts = torch.rand(batch, 2, device=dev) * 2 - 1
            out[f"generate_{batch}_kv_cache"] = timed(sync(lambda: model.generate(pts, use_cache=True)), repeats)
        frames = torch.randn(64, settings.transformer.n_frames, codec.n_features, device=dev) - 4
        n = round(settings.preprocess.duration_s * settings.preprocess.sample_rate)
        out["decode_64_sounds"] = timed(sync(lambda: codec.decode_batch(frames, n)), repeats)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", type=Path, default=DEFAULT_KIT, help="a real kit folder (skipped if absent)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/foundation.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats, nocache, epochs = (3, 1, 2) if args.quick else (15, 3, 5)
    settings = settings_from_dict({})
    codec = settings.make_codec()
    result: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "settings": settings.to_dict(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        write_synth_kit(Path(tmp) / "kit", per_class=8, seed=0, broken=False)
        fixture = build_corpus([Path(tmp) / "kit"], codec, settings.preprocess, settings.labels, None, progress=False)
    result["training_fixture"] = bench_training(fixture.frames, settings, epochs)
    if args.kit.is_dir():
        kit = build_corpus([args.kit], codec, settings.preprocess, settings.labels, None, progress=False)
        result["training_real_kit"] = {"kit": str(args.kit), **bench_training(kit.frames, settings, epochs)}
        from gesam_engine.data import prepare_wave, read_audio

        items = kit.items[:: max(1, len(kit.items) // 16)][:16]
        waves = np.stack([prepare_wave(*read_audio(Path(it.path), 30.0), settings.preprocess) for it in items])
        frames = np.stack([codec.encode(w) for w in waves])
        result["codec_real_kit"] = bench_codec(frames, waves, settings, repeats)
    else:
        result["training_real_kit"] = {"skipped": f"{args.kit} not found (apt-get install hydrogen-drumkits)"}
    result["generation"] = bench_generation(settings, repeats, nocache)
    result["gpu"] = bench_gpu(settings, repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    g = result["generation"]
    print(f"{'figure':<48}{'value':>14}")
    for b in ("batch_1", "batch_64"):
        print(f"{'generate ' + b + ' KV cache (median ms)':<48}{g[b]['kv_cache']['median_ms']:>14.1f}")
        print(f"{'generate ' + b + ' full recompute (median ms)':<48}{g[b]['full_recompute']['median_ms']:>14.1f}")
        print(f"{'generate ' + b + ' speed-up':<48}{g[b]['speedup']:>14.2f}")
    r = g["reference_loop_64"]
    print(f"{'generate 64 points, reference loop one at a time (ms)':<48}{r['median_ms']:>14.1f}")
    print(f"{'speed-up of one KV-cache batch over it':<48}{r['speedup_vs_kv_batch']:>14.2f}")
    if "codec_real_kit" in result:
        c = result["codec_real_kit"]
        print(f"{'codec MR-STFT round trip (real kit)':<48}{c['mrstft_round_trip']:>14.3f}")
        print(f"{'codec decode one sound (median ms)':<48}{c['decode_one_sound']['median_ms']:>14.1f}")
    for key in ("training_fixture", "training_real_kit"):
        t = result[key]
        if "vae_s_per_epoch" in t:
            print(f"{key + ' VAE s/epoch (' + str(t['sounds']) + ' sounds)':<48}{t['vae_s_per_epoch']:>14.3f}")
            print(f"{key + ' transformer s/epoch':<48}{t['transformer_s_per_epoch']:>14.3f}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
