"""Normalised map coordinates: the centre, clamping, refusal of NaN/inf, round trips."""

import numpy as np
import pytest

from gesam_engine.coordinates import CoordinateError, MapExtent


def test_centre_and_corners():
    ext = MapExtent(0.5, -0.5, 2.0)
    np.testing.assert_allclose(ext.to_latent([0.5, 0.5]), [0.5, -0.5])
    np.testing.assert_allclose(ext.to_latent([[0, 0], [1, 1]]), [[-1.5, -2.5], [2.5, 1.5]])


def test_outside_values_are_clamped():
    ext = MapExtent()
    np.testing.assert_allclose(ext.to_latent([-3.0, 7.0]), [-1.0, 1.0])


@pytest.mark.parametrize("bad", [[np.nan, 0.5], [0.5, np.inf], [-np.inf, 0.0]])
def test_nan_and_inf_are_refused(bad):
    with pytest.raises(CoordinateError, match="finite"):
        MapExtent().to_latent(bad)


def test_wrong_shape_is_refused():
    with pytest.raises(CoordinateError, match="pairs"):
        MapExtent().to_latent([0.1, 0.2, 0.3])


def test_around_holds_every_point_and_round_trips():
    pts = np.random.default_rng(0).normal(size=(50, 2)) * [0.3, 0.8]
    ext = MapExtent.around(pts)
    norm = ext.to_normalised(pts)
    assert norm.min() > 0 and norm.max() < 1
    np.testing.assert_allclose(ext.to_latent(norm), pts, atol=1e-5)
    assert MapExtent.from_dict(ext.to_dict()) == ext
    with pytest.raises(CoordinateError):
        MapExtent.from_dict({"cx": 0})
