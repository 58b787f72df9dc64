"""Round robin and velocity layers: which map point a pad's hit plays.

A pad with ``variation`` > 0 has ``variants`` points: its own (variant 0) and the rest on a
golden-angle spiral within the radius, so they cover the disc evenly and are the same every time
for the same pad (a kit sounds the same after a reload). Velocity layers move the whole set:
velocity is quantised to ``layers`` steps, and a hit of layer velocity q plays the points moved by
``(1 - q) * (soft_x, soft_y)``; the top layer is the pad's own point. ``VariantPicker`` chooses
the variant of each hit, in turn ("cycle") or at random without playing one twice in a row.
"""

from __future__ import annotations

import math
import random
import threading

from gesam_engine.runtime.pads import Pad

GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


def layer_of(pad: Pad, velocity: float) -> int:
    """The velocity layer (0 = softest .. layers - 1 = full) of a hit at ``velocity`` 0..1."""
    if pad.soft_x == 0.0 and pad.soft_y == 0.0:
        return pad.layers - 1  # no layers: every hit plays the top layer, the pad's own point
    return min(max(int(velocity * pad.layers), 0), pad.layers - 1)


def _clamp(v: float) -> float:
    return min(max(v, 0.0), 1.0)


def variant_point(pad: Pad, layer: int, variant: int) -> tuple[float, float]:
    """The map point of ``variant`` (0 = the pad's own) in velocity ``layer`` (clamped to the map)."""
    q = (layer + 1) / pad.layers
    x, y = pad.x + (1.0 - q) * pad.soft_x, pad.y + (1.0 - q) * pad.soft_y
    if variant > 0 and pad.variation > 0:
        n = max(pad.variants - 1, 1)
        r = pad.variation * math.sqrt((variant - 0.5) / n)
        a = variant * GOLDEN_ANGLE
        x, y = x + r * math.cos(a), y + r * math.sin(a)
    return (_clamp(x), _clamp(y))


def variant_count(pad: Pad) -> int:
    """How many variants a hit chooses from (1 without variation)."""
    return pad.variants if pad.variation > 0 else 1


def pad_variants(pad: Pad) -> list[tuple[int, int, tuple[float, float]]]:
    """(layer, variant, point) of every sound the pad's hits can play, top layer first (made first)."""
    layers = range(pad.layers - 1, -1, -1) if (pad.soft_x or pad.soft_y) else [pad.layers - 1]
    return [(layer, k, variant_point(pad, layer, k)) for layer in layers for k in range(variant_count(pad))]


def pad_points(pad: Pad) -> list[tuple[float, float]]:
    """Every point the pad's hits can play (``pad_variants``' points, each once)."""
    return list(dict.fromkeys(xy for _, _, xy in pad_variants(pad)))


def variant_slot(n: int, layer: int, variant: int) -> str:
    """The generator slot of pad ``n``'s variant: one per (layer, variant), so a newer point for it
    replaces a request not yet made (a knob sweep queues one render per variant, not one per step)."""
    return f"variant{n}:{layer}:{variant}"


class VariantPicker:
    """Per pad, the variant its next hit plays. Any thread may call ``pick``."""

    def __init__(self, seed: int | None = None) -> None:
        self._next: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def pick(self, n: int, pad: Pad) -> int:
        """The variant for pad ``n``'s hit now: the next in turn, or a random one unlike the last."""
        count = variant_count(pad)
        if count == 1:
            return 0
        with self._lock:
            if pad.variation_mode == "random":
                k = self._random.randrange(count - 1)
                last = self._last.get(n, -1)
                k = k + 1 if 0 <= last <= k else k  # never the same twice in a row
            else:
                k = self._next.get(n, 0) % count
                self._next[n] = k + 1
            self._last[n] = k
            return k

    def reset(self, n: int) -> None:
        """Start pad ``n``'s cycle again at its own sound (after its settings changed)."""
        with self._lock:
            self._next.pop(n, None)
            self._last.pop(n, None)
