"""The gesam controller patches (Max, Max for Live, Pure Data) and the generator that writes them.

``python -m max_patches.make_patches`` writes ``gesam_xy.maxpat``, ``gesam_xy_m4l.maxpat`` and
``gesam_xy.pd`` from ``maxpat.py`` and ``pdpatch.py``. Standard library only; not installed with
the gesam package.
"""

from __future__ import annotations

SEND_HOST, SEND_PORT, FEEDBACK_PORT = "127.0.0.1", 9000, 9001
N_PADS = 16
# what the feedback sections show (osc_bridge/addresses.py OUTGOING)
FEEDBACK_ROUTES = ("/gesam/state/xy", "/gesam/state/class", "/gesam/state/ready", "/gesam/error", "/gesam/pong")
