"""The live engine: generator thread, sound cache, and the audio process (voices, effects, limiter)
fed through shared memory.

Import the pieces from their modules (``gesam_engine.runtime.engine.Engine``); this package
imports nothing itself, so the audio process stays light (it never imports torch).
"""
