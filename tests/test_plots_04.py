"""Tests for the plots that notebook 04 (autograd) adds."""


import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils import plots


def test_plot_activation_histograms_draws_one_outlined_density_per_set_on_shared_bins():
    rng = np.random.default_rng(0)
    wide = rng.normal(0, 1, size=(200, 50))
    narrow = torch.tensor(rng.normal(0, 0.1, size=5000))
    ax = plots.plot_activation_histograms({"layer 1": wide, "layer 4": narrow}, title="tanh, xavier", bins=40)
    assert ax.get_title() == "tanh, xavier"
    assert ax.get_xlabel() == "activation value" and ax.get_ylabel() == "density"
    assert len(ax.patches) == 2  # histtype="step": one outline per data set
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["layer 1", "layer 4"]
    outlines = [p.get_xy() for p in ax.patches]
    lo, hi = min(wide.min(), narrow.min().item()), max(wide.max(), narrow.max().item())
    for xy in outlines:  # both outlines span the shared bins
        assert xy[:, 0].min() == pytest.approx(lo) and xy[:, 0].max() == pytest.approx(hi)
    # densities: the area under each outline is 1; the narrow set peaks far higher
    width = (hi - lo) / 40
    heights = [np.asarray(xy[1:-1:2, 1]) for xy in outlines]
    for h in heights:
        assert h.sum() * width == pytest.approx(1.0, rel=1e-6)
    assert heights[1].max() > 5 * heights[0].max()


def test_plot_activation_histograms_draws_on_a_given_axes_and_handles_constant_values():
    _fig, (left, right) = plt.subplots(1, 2)
    ax = plots.plot_activation_histograms({"dead relu": np.zeros(100)}, ax=right)
    assert ax is right and len(right.patches) == 1 and len(left.patches) == 0
    assert ax.get_title() == "Activations"


def test_plot_decision_boundary_shades_both_classes_draws_the_zero_line_and_every_point():
    X = np.array([[-1.0, 0.0], [-0.5, 1.0], [1.0, 0.0], [0.5, -1.0]])
    y = np.array([-1, -1, 1, 1])
    calls = []

    def predict(points):
        calls.append(points.shape)
        return points[:, 0]  # the vertical line x1 = 0 separates them

    ax = plots.plot_decision_boundary(predict, X, y, title="moons", resolution=30)
    assert calls == [(900, 2)]  # one call on the whole grid
    assert ax.get_title() == "moons"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["y = -1", "y = +1"]
    blue, orange = ax.collections[-2:]
    np.testing.assert_array_equal(blue.get_offsets(), X[:2])
    np.testing.assert_array_equal(orange.get_offsets(), X[2:])
    shading, zero_line = ax.collections[:2]  # filled regions, then the line where the score is 0
    vertices = np.concatenate([path.vertices for path in zero_line.get_paths()])
    assert len(vertices) > 10 and np.allclose(vertices[:, 0], 0.0, atol=0.06)
    assert np.ptp(vertices[:, 1]) == pytest.approx(3.0)  # it crosses the whole plot
    assert ax.get_xlim() == pytest.approx((-1.5, 1.5)) and ax.get_ylim() == pytest.approx((-1.5, 1.5))


def test_plot_decision_boundary_names_bad_shapes_and_a_diverged_model():
    X, y = np.zeros((3, 2)), np.array([1, -1, 1])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plots.plot_decision_boundary(lambda p: p[:, 0], np.zeros((3, 3)), y)
    with pytest.raises(ValueError, match="diverged"):
        plots.plot_decision_boundary(lambda p: np.full(len(p), np.nan), X, y)
