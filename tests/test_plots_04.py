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
