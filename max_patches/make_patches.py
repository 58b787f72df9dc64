"""Write the gesam controller patches: Max (gesam_xy.maxpat), Max for Live (gesam_xy_m4l.maxpat), Pd
(gesam_xy.pd); and the DAW sampler devices: Max for Live (gesam_sampler_m4l.maxpat), Pd (gesam_sampler.pd).

The patches are generated so the three twins stay in step and every patch cord points at an
outlet and inlet that exist. Run ``python -m max_patches.make_patches`` from the repository root
after changing ``maxpat.py`` or ``pdpatch.py`` (the tests check the checked-in patches match);
``--check`` only reports stale files.

Every control sends OSC (UDP) to the engine at 127.0.0.1:9000; the feedback section listens on
9001 (start the engine with ``--feedback 127.0.0.1:9001``), the samplers on 9002 (``--feedback
127.0.0.1:9002``; both: ``--feedback 127.0.0.1:9001 127.0.0.1:9002``). Addresses are those of ``osc_bridge/addresses.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from max_patches.maxpat import build_max
from max_patches.pdpatch import build_pd
from max_patches.sampler_max import build_sampler_max
from max_patches.sampler_pd import build_sampler_pd

HERE = Path(__file__).resolve().parent


def max_text(patch: dict[str, Any]) -> str:
    return json.dumps(patch, indent="\t") + "\n"


OUTPUTS = {
    "gesam_xy.maxpat": lambda: max_text(build_max(m4l=False)),
    "gesam_xy_m4l.maxpat": lambda: max_text(build_max(m4l=True)),
    "gesam_xy.pd": build_pd,
    "gesam_sampler_m4l.maxpat": lambda: max_text(build_sampler_max()),
    "gesam_sampler.pd": build_sampler_pd,
}


def main(argv: list[str] | None = None) -> int:
    """Write every patch next to this file; ``--check`` only reports which differ (exit 1)."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for name, make in OUTPUTS.items():
        text, path = make(), HERE / name
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    for name in stale:
        print(f"{name} differs from make_patches.py; run python -m max_patches.make_patches")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
