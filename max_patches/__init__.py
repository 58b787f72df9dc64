"""The gesam controller patches (Max, Max for Live, Pure Data), the DAW sampler devices (Max for
Live, Pure Data) and the generator that writes them.

``python -m max_patches.make_patches`` writes ``gesam_xy.maxpat``, ``gesam_xy_m4l.maxpat`` and
``gesam_xy.pd`` from ``maxpat.py`` and ``pdpatch.py``, and ``gesam_sampler_m4l.maxpat`` and
``gesam_sampler.pd`` from ``sampler_max.py`` and ``sampler_pd.py``. Standard library only; not
installed with the gesam package.
"""

from __future__ import annotations

SEND_HOST, SEND_PORT, FEEDBACK_PORT = "127.0.0.1", 9000, 9001
N_PADS = 16
# what the feedback sections show (osc_bridge/addresses.py OUTGOING)
FEEDBACK_ROUTES = ("/gesam/state/xy", "/gesam/state/class", "/gesam/state/ready", "/gesam/error", "/gesam/pong",
                   "/gesam/state/locate", "/gesam/state/latency", "/gesam/state/kit")

# the sampler devices: they listen on their own port (start the engine with --feedback 127.0.0.1:9002),
# so the XY controller can stay open on 9001; the Pd twin also takes FUDI notes and recording orders
SAMPLER_PORT, SAMPLER_CONTROL_PORT = 9002, 9003
FIRST_PAD_NOTE, CURSOR_NOTE = 36, 60  # notes 36-51 play pads 0-15, note 60 the cursor (the engine's defaults)
SLOTS = ("cursor", *(f"pad{n}" for n in range(N_PADS)))  # /gesam/state/sound slot names, in note order below
SLOT_NOTES = (CURSOR_NOTE, *(FIRST_PAD_NOTE + n for n in range(N_PADS)))
SAMPLER_ROUTES = ("/gesam/state/sound", "/gesam/state/latency", "/gesam/state/model", "/gesam/error")
