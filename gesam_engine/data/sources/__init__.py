"""The training corpus from packaged drum sources: Hydrogen kits, SoundFont drum kits, gesam's synth.

``gesam corpus build`` (``builder.build_corpus_folder``) turns the Debian packages named in
``packages.SOURCES`` into ``train/`` and ``val/`` folders of one-shots with a manifest; see
docs/corpus.md. One concept per module: ``sf2`` reads SoundFont presets, ``fluid_render``
plays them through fluidsynth, ``hydrogen`` reads Hydrogen kits, ``oneshot`` conditions and
fingerprints a hit, ``dedup`` finds copies, ``split`` splits by kit, ``manifest`` records it.
"""

from __future__ import annotations

from gesam_engine.data.sources.builder import CorpusBuildConfig, build_corpus_folder, build_from_jobs, source_jobs
from gesam_engine.data.sources.jobs import KitJob, Loaded, SourceHit
from gesam_engine.data.sources.manifest import ManifestItem, items_of, read_manifest
from gesam_engine.data.sources.packages import DEFAULT_SOURCES, SOURCES

__all__ = [
    "CorpusBuildConfig", "build_corpus_folder", "build_from_jobs", "source_jobs",
    "KitJob", "Loaded", "SourceHit",
    "ManifestItem", "items_of", "read_manifest",
    "DEFAULT_SOURCES", "SOURCES",
]
