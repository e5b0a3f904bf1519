"""Tests for the plots that notebooks 00 (math toolkit) and 02 (information theory) use."""


import matplotlib
import numpy as np
import pytest
import torch

from course_utils import plots


def test_plot_vectors_draws_one_arrow_per_vector_on_equal_axes():
    ax = plots.plot_vectors({"x": [2, 1], "y": torch.tensor([-1.0, 3.0])}, title="Two vectors")
    assert ax.get_title() == "Two vectors"
    assert len(ax.patches) == 0 and len([t for t in ax.texts if t.get_text()]) == 2
    arrows = [c for c in ax.get_children() if isinstance(c, matplotlib.text.Annotation)]
    assert [a.xy for a in arrows] == [(2.0, 1.0), (-1.0, 3.0)]
    assert ax.get_aspect() == 1.0
    assert ax.get_xlim()[1] >= 3 and ax.get_ylim()[1] >= 3


def test_plot_linear_map_draws_circle_and_its_image():
    A = np.array([[2.0, 1.0], [1.0, 2.0]])
    ax = plots.plot_linear_map(A, arrows={"3 v1": [3 / np.sqrt(2), 3 / np.sqrt(2)]})
    circle, ellipse = ax.lines[0], ax.lines[1]
    radius = np.hypot(circle.get_xdata(), circle.get_ydata())
    np.testing.assert_allclose(radius, 1.0)
    image = np.stack([ellipse.get_xdata(), ellipse.get_ydata()])
    np.testing.assert_allclose(image, A @ np.stack([circle.get_xdata(), circle.get_ydata()]))
    # the longest axis of the ellipse is the largest eigenvalue, 3
    assert np.hypot(*image).max() == pytest.approx(3.0, rel=1e-3)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["unit circle", "A · (unit circle)", "3 v1"]
    assert ax.get_xlim()[1] >= np.abs(image).max() and ax.get_ylim()[1] >= np.abs(image).max()


def test_plot_linear_map_rejects_non_2x2():
    with pytest.raises(ValueError, match="2x2"):
        plots.plot_linear_map(np.eye(3))


def test_show_images_one_panel_per_image_with_shared_scale():
    rng = np.random.default_rng(0)
    imgs = {"original": rng.random((8, 10)), "rank 1": torch.zeros(8, 10)}
    axes = plots.show_images(imgs, title="Low rank")
    assert len(axes) == 2
    assert [ax.get_title() for ax in axes] == ["original", "rank 1"]
    shown = axes[0].images[0]
    np.testing.assert_allclose(shown.get_array(), imgs["original"])
    assert shown.get_clim() == axes[1].images[0].get_clim()
    assert axes[0].figure._suptitle.get_text() == "Low rank"
    with pytest.raises(ValueError):
        plots.show_images({})


def test_plot_eigenvalues_scatter_and_circles():
    lam = np.array([1 + 1j, -0.5 + 0j, 0.2 - 0.7j])
    ax = plots.plot_eigenvalues({"Xavier": lam, "He": lam * np.sqrt(2)},
                                radii={"Xavier": 1.0}, title="Spread")
    assert ax.get_title() == "Spread"
    assert len(ax.lines) == 3  # two scatters, one circle
    np.testing.assert_allclose(ax.lines[0].get_xdata(), lam.real)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), lam.imag)
    circle = ax.lines[1]
    np.testing.assert_allclose(np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0)
    assert ax.get_xlabel() == "real part" and ax.get_ylabel() == "imaginary part"
    assert ax.get_xlim()[1] >= 2


def test_plot_prediction_checkpoints_bars_and_metric_panel():
    probs = np.array([[0.2] * 5, [0.1, 0.1, 0.6, 0.1, 0.1], [0.025, 0.025, 0.9, 0.025, 0.025]])
    axes = plots.plot_prediction_checkpoints(
        probs, target=2, labels="abcde", metrics={"entropy": [2.3, 1.7, 0.6], "cross-entropy": [2.3, 0.7, 0.15]}
    )
    assert len(axes) == 4
    for i, ax in enumerate(axes[:3]):
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(heights, probs[i])
        assert ax.get_title() == f"checkpoint {i + 1}"
    green = [p for p in axes[1].patches if p.get_facecolor() == matplotlib.colors.to_rgba("tab:green")]
    assert len(green) == 1 and green[0].get_height() == pytest.approx(0.6)
    metric_ax = axes[3]
    assert [line.get_label() for line in metric_ax.lines] == ["entropy", "cross-entropy"]
    np.testing.assert_allclose(metric_ax.lines[1].get_ydata(), [2.3, 0.7, 0.15])
    assert metric_ax.get_xlabel() == "checkpoint"


def test_plot_prediction_checkpoints_without_metrics():
    axes = plots.plot_prediction_checkpoints(torch.full((2, 3), 1 / 3), target=0)
    assert len(axes) == 2
    with pytest.raises(ValueError):
        plots.plot_prediction_checkpoints(np.ones(3) / 3, target=0)
