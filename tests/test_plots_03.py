"""Tests for the plots that notebook 03 (losses and optimisation) adds to course_utils.plots."""


import numpy as np
import pytest
import torch

from course_utils import plots


def test_plot_curve_panels_one_panel_per_entry_with_its_curves():
    r = np.linspace(-2, 2, 41)
    axes = plots.plot_curve_panels(
        {"losses": {"MSE": (r, r**2), "MAE": (r, np.abs(r))},
         "derivatives": {"MSE": (r, torch.tensor(2 * r)), "MAE": (r, np.sign(r)),
                         "Huber": (r, np.clip(r, -1, 1))}},
        xlabel="residual", ylabel=["loss", "derivative"], title="Regression losses")
    assert len(axes) == 2
    assert [ax.get_title() for ax in axes] == ["losses", "derivatives"]
    assert [ax.get_ylabel() for ax in axes] == ["loss", "derivative"]
    assert all(ax.get_xlabel() == "residual" for ax in axes)
    assert [len(ax.lines) for ax in axes] == [2, 3]
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), r**2)
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), 2 * r)
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["MSE", "MAE", "Huber"]
    assert axes[0].figure._suptitle.get_text() == "Regression losses"


def test_plot_curve_panels_log_axes_and_label_count():
    axes = plots.plot_curve_panels({"a": {"x": ([1, 10], [1, 100])}}, xlabel="k", ylabel="steps",
                                   logx=True, logy=True)
    assert axes[0].get_xscale() == "log" and axes[0].get_yscale() == "log"
    assert axes[0].get_ylabel() == "steps"
    with pytest.raises(ValueError, match="y labels"):
        plots.plot_curve_panels({"a": {"x": ([1], [1])}}, xlabel="k", ylabel=["one", "two"])


def test_plot_descent_panels_keeps_grid_limits_and_flags_divergence():
    xs = np.linspace(-2, 2, 50)
    ys = np.linspace(-1, 1, 30)
    X, Y = np.meshgrid(xs, ys)
    inside = np.array([[1.5, 0.5], [0.75, 0.25], [0.0, 0.0]])
    diverging = np.array([[1.5, 0.5], [-3.0, -1.0], [6.0, 2.0]])
    paths = {"lr 0.1": inside, "lr 1.5": torch.tensor(diverging)}
    axes = plots.plot_descent_panels(xs, ys, X**2 + Y**2, paths, title="Gradient descent", ncols=2)
    assert len(axes) == 2
    assert [ax.get_title() for ax in axes] == ["lr 0.1", "lr 1.5 (leaves the plot)"]
    for ax in axes:
        assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-1.0, 1.0)
        assert len(ax.collections) > 0  # the filled contours
    path_line = axes[0].lines[0]
    np.testing.assert_allclose(path_line.get_xdata(), inside[:, 0])
    np.testing.assert_allclose(path_line.get_ydata(), inside[:, 1])
    np.testing.assert_allclose(axes[1].lines[2].get_xydata(), diverging[-1:])  # the end marker
    assert axes[0].figure._suptitle.get_text() == "Gradient descent"


def test_plot_descent_panels_wraps_rows_and_drops_spare_axes():
    xs = ys = np.linspace(-1, 1, 10)
    zs = np.add.outer(ys**2, xs**2)
    paths = {f"run {i}": [[0.5, 0.5], [0.1, 0.1]] for i in range(5)}
    axes = plots.plot_descent_panels(xs, ys, zs, paths, ncols=3)
    assert len(axes) == 5
    assert len(axes[0].figure.axes) == 5
    assert axes[3].get_title() == "run 3"
