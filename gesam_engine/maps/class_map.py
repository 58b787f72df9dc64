"""Class colours on the map, GESAM's way: each cell mixes the colours of its 5 nearest labelled
neighbours, so a class fills its region and neighbouring classes blend along their border.

The labelled neighbours are either the grid's own baked sounds labelled by the model's
classifier (the class you will hear there), or the training points with their file-name labels.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

K = 5


def hex_to_rgb(color: str) -> np.ndarray:
    """'#rrggbb' -> float RGB [3] in 0..1."""
    c = color.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"colour must be #rrggbb, got {color!r}")
    return np.array([int(c[i:i + 2], 16) / 255.0 for i in (0, 2, 4)])


def rgb_to_hex(rgb: np.ndarray) -> str:
    """Float RGB in 0..1 -> '#rrggbb'."""
    r, g, b = (int(round(float(np.clip(v, 0.0, 1.0)) * 255)) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def knn_class_mix(query: np.ndarray, points: np.ndarray, labels: np.ndarray, palette: np.ndarray,
                  k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """For each query point [M, 2]: the mean colour [M, 3] of its ``k`` nearest ``points`` [N, 2]
    (colour ``palette[labels[j]]``, palette [C, 3]) and its class [M]: the most common label
    among them, ties going to the nearer neighbour."""
    points = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if points.shape[0] == 0:
        raise ValueError("the class map needs at least one labelled point")
    k = min(k, points.shape[0])
    _, idx = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(np.asarray(query, dtype=np.float64))
    near = labels[idx]  # (M, k), nearest first
    colors = palette[near].mean(axis=1)
    n_classes = palette.shape[0]
    votes = np.zeros((near.shape[0], n_classes))
    for j in range(k):  # a vote of 1 plus a bonus bigger than all farther bonuses: ties go to the nearest
        np.add.at(votes, (np.arange(near.shape[0]), near[:, j]), 1.0 + 1e-3 * 0.5**j)
    return colors, votes.argmax(axis=1)
