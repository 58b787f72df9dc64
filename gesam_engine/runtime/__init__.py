"""The live engine: generator thread, sound cache, voices, effects, ring buffer and output.

Import the pieces from their modules (``gesam_engine.runtime.engine.Engine``); this package
imports nothing itself, so the audio child process stays light.
"""
