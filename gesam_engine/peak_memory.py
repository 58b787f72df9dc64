"""The process's peak resident memory, where the platform tells it.

``resource.getrusage(...).ru_maxrss`` is in kilobytes on Linux (and the BSDs) but in bytes on
macOS, and the ``resource`` module does not exist on Windows (there the figure is None).
Standard library only.
"""

from __future__ import annotations

import sys

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

__all__ = ["peak_rss_mb"]


def peak_rss_mb() -> float | None:
    """This process's peak resident set size in MiB; None where the platform has no ``getrusage``."""
    if resource is None:
        return None
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20
