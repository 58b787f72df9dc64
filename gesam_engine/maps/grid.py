"""The map grid every bake and map picture shares: N x N cell centres, row-major from the bottom left."""

from __future__ import annotations

import numpy as np


def grid_points(n: int) -> np.ndarray:
    """Centres of an n x n grid over the map, normalised [n*n, 2] (row-major, y up)."""
    c = (np.arange(n) + 0.5) / n
    xx, yy = np.meshgrid(c, c)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)
