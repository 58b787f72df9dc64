"""Every error gesam raises on purpose: one base class, a few kinds a caller can tell apart."""

from __future__ import annotations


class GesamError(Exception):
    """Base of all gesam errors: the message says what was wrong, what was expected, what to do."""


class ConfigError(GesamError, ValueError):
    """A configuration value or file is invalid (unknown key, out of range, wrong type)."""


class CheckpointError(GesamError):
    """A model directory is missing, corrupt, tampered with, or does not match this code."""


class AudioFileError(GesamError):
    """An audio file could not be used: unreadable, empty, silent or too long."""


class CodecError(GesamError, ValueError):
    """Audio or frames handed to a codec have the wrong shape, rate or values."""
