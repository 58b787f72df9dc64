"""The 5-NN class-colour mix on hand-made neighbour sets."""

from __future__ import annotations

import numpy as np
import pytest

from gesam_engine.maps.class_map import hex_to_rgb, knn_class_mix, rgb_to_hex

RED, BLUE = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
PALETTE = np.stack([RED, BLUE])


def test_colour_is_the_mean_of_the_five_nearest_classes() -> None:
    # around the query (0.5, 0.5): three red and two blue close by, far points of both colours
    points = np.array([[0.5, 0.51], [0.51, 0.5], [0.49, 0.5], [0.5, 0.48], [0.52, 0.52],
                       [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    colors, ids = knn_class_mix(np.array([[0.5, 0.5]]), points, labels, PALETTE)
    np.testing.assert_allclose(colors[0], 0.6 * RED + 0.4 * BLUE)
    assert ids[0] == 0  # the majority of the five
    # next to a lone blue point with k=1: pure blue
    colors, ids = knn_class_mix(np.array([[0.0, 0.9]]), points, labels, PALETTE, k=1)
    assert ids[0] == 1 and rgb_to_hex(colors[0]) == "#0000ff"


def test_ties_go_to_the_nearer_neighbour() -> None:
    points = np.array([[0.0, 0.0], [0.1, 0.0], [0.2, 0.0], [0.3, 0.0]])
    labels = np.array([1, 0, 0, 1])
    _, ids = knn_class_mix(np.array([[0.0, 0.0]]), points, labels, PALETTE, k=4)  # 2 vs 2
    assert ids[0] == 1
    _, ids = knn_class_mix(np.array([[0.3, 0.0]]), points, labels[::-1].copy(), PALETTE, k=4)
    assert ids[0] == 1


def test_classes_blend_only_at_their_border() -> None:
    # left half red, right half blue, on a 10 x 10 grid of labelled cells
    c = (np.arange(10) + 0.5) / 10
    xx, yy = np.meshgrid(c, c)
    points = np.stack([xx.ravel(), yy.ravel()], 1)
    labels = (points[:, 0] > 0.5).astype(int)
    colors, ids = knn_class_mix(points, points, labels, PALETTE)
    np.testing.assert_array_equal(ids, labels)
    far = np.abs(points[:, 0] - 0.5) > 0.2
    assert np.allclose(colors[far], PALETTE[labels[far]])  # pure away from the border
    border = np.abs(points[:, 0] - 0.5) < 0.1
    assert (np.abs(colors[border] - PALETTE[labels[border]]).max(axis=1) > 0.1).all()  # mixed along it


def test_hex_round_trip_and_errors() -> None:
    assert rgb_to_hex(hex_to_rgb("#e6194b")) == "#e6194b"
    with pytest.raises(ValueError):
        hex_to_rgb("red")
    with pytest.raises(ValueError):
        knn_class_mix(np.zeros((1, 2)), np.zeros((0, 2)), np.zeros(0, int), PALETTE)
