"""Tests for the course's two-dimensional toy data (notebook 04's classifier)."""

import numpy as np
import pytest

from course_utils.toydata import half_moons


def test_half_moons_has_the_promised_shapes_labels_and_balance():
    X, y = half_moons(101, noise=0.1, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and set(np.unique(y)) == {-1.0, 1.0}
    assert (y == -1).sum() == 50 and (y == 1).sum() == 51
    assert np.all(y[:50] == -1) and np.all(y[50:] == 1)


def test_half_moons_is_reproducible_by_seed_and_differs_between_seeds():
    a, b, c = half_moons(seed=0), half_moons(seed=0), half_moons(seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])


def test_without_noise_the_points_lie_on_the_two_arcs():
    X, y = half_moons(200, noise=0.0, seed=0)
    upper, lower = X[y == -1], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert upper[:, 1].min() >= 0.0 and lower[:, 1].max() <= 0.5


def test_no_straight_line_separates_the_moons():
    # the best of many directions and thresholds still misclassifies a tenth of the points
    X, y = half_moons(200, noise=0.1, seed=0)
    best = 0.0
    for angle in np.linspace(0, np.pi, 180, endpoint=False):
        projected = X @ np.array([np.cos(angle), np.sin(angle)])
        for threshold in np.quantile(projected, np.linspace(0.02, 0.98, 97)):
            accuracy = np.mean(np.where(projected > threshold, 1, -1) == y)
            best = max(best, accuracy, 1 - accuracy)
    assert 0.75 < best < 0.92


@pytest.mark.parametrize("kwargs, message", [({"n": 1}, "at least 2"), ({"noise": -0.1}, "negative")])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        half_moons(**kwargs)
