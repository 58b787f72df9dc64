"""Data: finding, reading, labelling, conditioning and encoding drum samples into a corpus."""

from __future__ import annotations

from gesam_engine.data.audio_io import AUDIO_EXTENSIONS, read_audio, resample
from gesam_engine.data.cache import FeatureCache, file_hash
from gesam_engine.data.corpus import Corpus, CorpusItem, build_corpus, format_skip_report
from gesam_engine.data.labels import LabelConfig, label_for_path, load_label_config
from gesam_engine.data.preprocess import PreprocessConfig, prepare_wave
from gesam_engine.data.scan import find_audio_files
from gesam_engine.data.synth import KINDS, synth_drum, write_synth_kit

__all__ = [
    "AUDIO_EXTENSIONS",
    "KINDS",
    "Corpus",
    "CorpusItem",
    "FeatureCache",
    "LabelConfig",
    "PreprocessConfig",
    "build_corpus",
    "file_hash",
    "find_audio_files",
    "format_skip_report",
    "label_for_path",
    "load_label_config",
    "prepare_wave",
    "read_audio",
    "resample",
    "synth_drum",
    "write_synth_kit",
]
