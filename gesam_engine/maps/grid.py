"""The map grid every bake and map picture shares: N x N cell centres, row-major from the bottom left."""

from __future__ import annotations

import numpy as np


def grid_points(n: int) -> np.ndarray:
    """Centres of an n x n grid over the map, normalised [n*n, 2] (row-major, y up)."""
    c = (np.arange(n) + 0.5) / n
    xx, yy = np.meshgrid(c, c)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def grid_cell(x: float, y: float, n: int) -> int:
    """Index (in ``grid_points(n)`` order) of the cell holding the normalised point (x, y), clamped to the map."""
    col = min(max(int(x * n), 0), n - 1)
    row = min(max(int(y * n), 0), n - 1)
    return row * n + col
