"""Evaluation figures that measure what a musician hears: audio distance at equal loudness,
realism (Fréchet distance in a fixed audio feature space), loudness over the map, and the
training corpus a model records, found again for the nearest-neighbour baselines."""

from gesam_engine.codec.quality import mrstft_per_sound
from gesam_engine.evaluation.audio_distance import audio_row, matched_mrstft
from gesam_engine.evaluation.frechet import FEATURE_NAMES, FEATURE_SPACE, features, frechet_distance, standardise
from gesam_engine.evaluation.grid_figures import decode_frames, grid_figures, grid_waves
from gesam_engine.evaluation.loudness import (
    LUFS_FLOOR, MATCH_LUFS, QUIET_LUFS, grid_loudness, integrated_lufs, map_smoothness, match_loudness,
)
from gesam_engine.evaluation.recorded_corpus import RecordedCorpus, find_recorded_corpus

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_SPACE",
    "LUFS_FLOOR",
    "MATCH_LUFS",
    "QUIET_LUFS",
    "RecordedCorpus",
    "audio_row",
    "decode_frames",
    "features",
    "find_recorded_corpus",
    "frechet_distance",
    "grid_figures",
    "grid_loudness",
    "grid_waves",
    "integrated_lufs",
    "map_smoothness",
    "match_loudness",
    "matched_mrstft",
    "mrstft_per_sound",
    "standardise",
]
