"""The control surfaces of the gesam engine: the console, OSC, MIDI and the web map.

Each parses its input into the typed commands of ``osc_bridge.commands``; one
``osc_bridge.controller.Controller`` carries them out on the engine, typed as
``osc_bridge.engine_like.EngineLike``. Thin by design: this package never imports torch or
``gesam_engine.runtime`` (the address space is in docs/design.md).
"""
