"""Waveform augmentation for the classifier: each training sound played as if by another kit.

New kits differ from the training kits by tuning, microphone and room colour, and the
recording chain, so every augmented copy of a sound gets, drawn from a seeded generator per
sound and copy: a small tuning change (varispeed resampling, so the decay follows the pitch
as when a drum is tuned), an EQ tilt (a low and a high shelf), sometimes saturation
(pedalboard's Distortion) and sometimes a short room (pedalboard's Reverb). The result is
conditioned again the way every training sound is (onset, length, loudness, peak ceiling),
then encoded; a copy is the same for the same sound, settings and seed, in any order, so
copies are cached beside the corpus's frames and a resumed run sees the same ones.
Level is left to the frame-space augmentation (``classifier_trainer.augment_frames``): the
conditioning would undo a gain here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import pedalboard
from tqdm.auto import tqdm

from gesam_engine.codec.base import Codec
from gesam_engine.config import check, to_dict
from gesam_engine.data.audio_io import read_audio, resample
from gesam_engine.data.cache import FeatureCache
from gesam_engine.data.corpus import CorpusItem
from gesam_engine.data.frame_store import scratch_array
from gesam_engine.data.preprocess import PreprocessConfig, prepare_wave
from gesam_engine.errors import AudioFileError
from gesam_engine.models.classifier import ClassifierConfig

AUGMENT_FORMAT = 1  # bump when the chain changes, so cached copies are made again


@dataclasses.dataclass(frozen=True)
class WaveAugment:
    """How augmented copies are made (the ``augment_*`` keys of [classifier] without the prefix)."""

    copies: int = 0  # augmented copies per training sound; 0 = none
    pitch_semitones: float = 2.0  # tuning drawn from [-x, x] semitones (varispeed)
    tilt_db: float = 6.0  # low-shelf and high-shelf gains each drawn from [-x, x] dB
    saturation: float = 0.3  # chance of saturation (Distortion, drive 3..drive_db dB)
    drive_db: float = 18.0
    room: float = 0.3  # chance of a short room (Reverb, size up to room_size, wet up to room_wet)
    room_size: float = 0.3
    room_wet: float = 0.25

    def __post_init__(self) -> None:
        check(0 <= self.copies <= 64, f"augment_copies must be in 0..64 (0 = no waveform augmentation), got {self.copies}")
        check(0.0 <= self.pitch_semitones <= 12.0, f"augment_pitch_semitones must be in 0..12, got {self.pitch_semitones}")
        check(0.0 <= self.tilt_db <= 24.0, f"augment_tilt_db must be in 0..24 dB, got {self.tilt_db}")
        check(3.0 <= self.drive_db <= 60.0, f"augment_drive_db must be in 3..60 dB, got {self.drive_db}")
        for name in ("saturation", "room"):
            check(0.0 <= getattr(self, name) <= 1.0, f"augment_{name} is a chance in [0, 1], got {getattr(self, name)}")
        check(0.0 <= self.room_size <= 1.0 and 0.0 <= self.room_wet <= 1.0,
              f"augment_room_size and augment_room_wet must be in [0, 1], got {self.room_size}, {self.room_wet}")

    @classmethod
    def of(cls, config: ClassifierConfig) -> WaveAugment:
        """The settings a classifier config's ``augment_*`` keys describe."""
        return cls(copies=config.augment_copies, pitch_semitones=config.augment_pitch_semitones,
                   tilt_db=config.augment_tilt_db, saturation=config.augment_saturation, room=config.augment_room)


def copy_rng(content_hash: str, copy: int, seed: int) -> np.random.Generator:
    """The generator of one sound's ``copy``-th augmentation: depends on nothing else."""
    digest = hashlib.sha256(f"{seed}:{copy}:{content_hash}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def augment_wave(wave: np.ndarray, rate: int, aug: WaveAugment, rng: np.random.Generator) -> np.ndarray:
    """One augmented rendition of a mono wave [L] float32 -> [L'] float32 (varispeed changes L;
    ``prepare_wave`` brings it back to the training length). Finite for finite input."""
    w = np.asarray(wave, dtype=np.float32)
    semitones = rng.uniform(-aug.pitch_semitones, aug.pitch_semitones)
    low_db, high_db = rng.uniform(-aug.tilt_db, aug.tilt_db, size=2)
    low_hz, high_hz = rng.uniform(150.0, 500.0), rng.uniform(2500.0, 7000.0)
    saturate, drive = rng.random() < aug.saturation, rng.uniform(3.0, aug.drive_db)
    roomy, size, wet = rng.random() < aug.room, rng.uniform(0.05, max(aug.room_size, 0.05)), rng.uniform(0.0, aug.room_wet)
    if abs(semitones) > 1e-3:  # played back 2^(s/12) faster: higher and shorter, as a tighter drum head
        w = resample(w, int(round(rate * 2.0 ** (semitones / 12.0))), rate)
    board = pedalboard.Pedalboard([pedalboard.LowShelfFilter(low_hz, float(low_db)),
                                   pedalboard.HighShelfFilter(high_hz, float(high_db))])
    if saturate:
        board.append(pedalboard.Distortion(float(drive)))
    if roomy:
        board.append(pedalboard.Reverb(room_size=float(size), damping=0.5, wet_level=float(wet), dry_level=1.0,
                                       width=0.0))
    out: np.ndarray = board(w[None], float(rate))[0]  # (L,)
    return np.nan_to_num(out.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)


def augmented_copy(wave: np.ndarray, aug: WaveAugment, preprocess: PreprocessConfig,
                   rng: np.random.Generator) -> np.ndarray:
    """A prepared training wave [L] -> an augmented one [L] conditioned like every training wave
    (onset, length, loudness, peak ceiling); the original when the effects left it silent."""
    out = augment_wave(wave, preprocess.sample_rate, aug, rng)
    try:
        return prepare_wave(out, preprocess.sample_rate, preprocess)
    except AudioFileError:
        return np.asarray(wave, dtype=np.float32)


def augmented_frames(
    items: Sequence[CorpusItem],
    codec: Codec,
    preprocess: PreprocessConfig,
    aug: WaveAugment,
    seed: int,
    cache_dir: Path | None = None,
    progress: bool | None = True,
) -> np.ndarray:
    """Frames [N, copies, T, D] float32 of ``aug.copies`` augmented renditions of each item.

    Copies are cached per content hash under ``cache_dir`` (keyed by the preprocessing, the codec,
    the augmentation settings, the seed and the copy index) and are the same with or without it."""
    n_frames = codec.n_frames(preprocess.n_samples)
    out = scratch_array((len(items), aug.copies, n_frames, codec.n_features), cache_dir)  # on disk: K x the corpus
    if aug.copies == 0:
        return out
    key = {"preprocess": to_dict(preprocess), "codec": codec.to_config(),
           "augment": {**to_dict(aug), "format": AUGMENT_FORMAT, "seed": seed}}
    caches = [FeatureCache(cache_dir, {**key, "copy": k}) if cache_dir is not None else None for k in range(aug.copies)]
    for i, item in enumerate(tqdm(items, desc="augment", unit="sound", disable=None if progress is None else not progress)):
        wave: np.ndarray | None = None
        for k, cache in enumerate(caches):
            cached = cache.get(item.content_hash) if cache is not None else None
            if cached is not None and cached.shape == out.shape[2:]:
                out[i, k] = cached
                continue
            if wave is None:
                raw, rate = read_audio(Path(item.path), preprocess.max_input_s)
                wave = prepare_wave(raw, rate, preprocess)
            out[i, k] = codec.encode(augmented_copy(wave, aug, preprocess, copy_rng(item.content_hash, k, seed)))
            if cache is not None:
                cache.put(item.content_hash, out[i, k])
    return out
