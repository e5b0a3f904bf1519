"""course_utils.plots: each plot draws the data it is given, titled and labelled."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from course_utils import plots


def _labelled(ax, title):
    assert ax.get_title() == title
    assert ax.get_xlabel() and ax.get_ylabel()


def test_bar_distribution_draws_one_bar_per_outcome_and_the_reference():
    ax = plots.bar_distribution(list("abc"), [0.2, 0.5, 0.3], title="t", reference=1 / 3)
    _labelled(ax, "t")
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.2, 0.5, 0.3]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert ax.lines[0].get_ydata()[0] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="2 labels for 3"):
        plots.bar_distribution(list("ab"), [0.2, 0.5, 0.3])


def test_pmf_and_pdf_plot_every_distribution():
    ax = plots.plot_pmf({"a": stats.binom(4, 0.5), "b": stats.bernoulli(0.3)}, np.arange(5))
    assert len(ax.patches) == 10 and len(ax.get_legend().get_texts()) == 2
    xs = np.linspace(-2, 2, 50)
    ax = plots.plot_pdf({"n": stats.norm()}, xs, shade=(-1, 1), title="pdf")
    _labelled(ax, "pdf")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), stats.norm.pdf(xs))
    assert len(ax.collections) == 1  # the shaded interval


def test_running_estimates_use_a_log_axis_and_show_truths():
    ax = plots.plot_running_estimates({"x": [1.0, 0.5, 0.6]}, {"x": 0.55})
    assert ax.get_xscale() == "log" and len(ax.lines) == 2
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 2, 3])


def test_contour_marks_paths_and_points():
    xs, ys = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    zs = xs[None, :] ** 2 + ys[:, None] ** 2
    ax = plots.plot_contour(xs, ys, zs, paths={"gd": [(1, 1), (0.5, 0.5), (0, 0)]},
                            points={"min": (0, 0)}, title="bowl")
    _labelled(ax, "bowl")
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 0.5, 0])
    assert len(ax.lines) == 2


def test_curves_and_loss_curves():
    ax = plots.plot_curves({"a": ([1, 10, 100], [1, 0.1, 0.01])}, title="c", xlabel="h",
                           ylabel="err", logx=True, logy=True)
    _labelled(ax, "c")
    assert ax.get_xscale() == ax.get_yscale() == "log"
    ax = plots.plot_loss_curves([3.0, 2.0, 1.5])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0, 1, 2])
    assert ax.get_legend() is None
    ax = plots.plot_loss_curves({"lr 0.1": [3, 2], "lr 1": [3, 1]}, logy=True)
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
