"""The course's plots: one function per kind of picture, good-looking with defaults.

Every function draws on ``ax`` when given one (so plots can share a figure) and
otherwise makes its own figure; all return the Axes they drew on, titled and
with labelled axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

_FIGSIZE = (7.5, 3.6)


def _axes(ax: Axes | None, title: str, xlabel: str, ylabel: str, figsize=_FIGSIZE) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_axisbelow(True)
    return ax


def _numbers(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=float)


def bar_distribution(
    labels: Sequence[str],
    probs: Any,
    *,
    title: str = "Distribution",
    xlabel: str = "outcome",
    ylabel: str = "probability",
    reference: float | None = None,
    reference_label: str = "uniform",
    ax: Axes | None = None,
) -> Axes:
    """Bar chart of a discrete distribution over named outcomes.

    ``reference`` draws a horizontal line, e.g. ``1 / 26`` for the uniform
    distribution over letters.
    """
    probs = _numbers(probs)
    if len(labels) != len(probs):
        raise ValueError(f"{len(labels)} labels for {len(probs)} probabilities")
    ax = _axes(ax, title, xlabel, ylabel)
    ax.bar(range(len(probs)), probs, color="tab:blue", alpha=0.85)
    ax.set_xticks(range(len(probs)), labels)
    ax.set_xlim(-0.6, len(probs) - 0.4)
    if reference is not None:
        ax.axhline(reference, color="tab:red", ls="--", lw=1, label=reference_label)
        ax.legend()
    return ax


def plot_pmf(
    dists: Mapping[str, Any],
    ks: Any,
    *,
    title: str = "Probability mass functions",
    xlabel: str = "k",
    ax: Axes | None = None,
) -> Axes:
    """Stems of ``dist.pmf(k)`` for each named frozen ``scipy.stats`` distribution."""
    ks = np.asarray(ks)
    ax = _axes(ax, title, xlabel, "P(X = k)")
    width = 0.8 / max(len(dists), 1)
    for i, (name, dist) in enumerate(dists.items()):
        offset = (i - (len(dists) - 1) / 2) * width
        ax.bar(ks + offset, dist.pmf(ks), width=width, label=name, alpha=0.85)
    ax.legend()
    return ax


def plot_pdf(
    dists: Mapping[str, Any],
    xs: Any,
    *,
    title: str = "Probability density functions",
    xlabel: str = "x",
    shade: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Curves of ``dist.pdf(x)`` for each named frozen ``scipy.stats`` distribution.

    ``shade=(a, b)`` fills the area under the first curve between a and b: that
    area is the probability ``P(a < X <= b)``.
    """
    xs = np.asarray(xs, dtype=float)
    ax = _axes(ax, title, xlabel, "density p(x)")
    for name, dist in dists.items():
        ax.plot(xs, dist.pdf(xs), label=name, lw=2)
    if shade is not None:
        first = next(iter(dists.values()))
        inside = (xs >= shade[0]) & (xs <= shade[1])
        ax.fill_between(xs[inside], first.pdf(xs[inside]), alpha=0.3,
                        label=f"P({shade[0]:g} < X ≤ {shade[1]:g})")
    ax.set_ylim(bottom=0)
    ax.legend()
    return ax


def plot_running_estimates(
    estimates: Mapping[str, Any],
    truths: Mapping[str, float] | None = None,
    *,
    title: str = "Law of large numbers",
    ylabel: str = "running frequency",
    ax: Axes | None = None,
) -> Axes:
    """Running estimates against the number of samples (log scale), with their true values dashed."""
    ax = _axes(ax, title, "number of samples n", ylabel)
    for name, values in estimates.items():
        values = _numbers(values)
        (line,) = ax.plot(np.arange(1, len(values) + 1), values, label=name, lw=1.5)
        if truths and name in truths:
            ax.axhline(truths[name], color=line.get_color(), ls="--", lw=1)
    ax.set_xscale("log")
    ax.legend()
    return ax


def plot_contour(
    xs: Any,
    ys: Any,
    zs: Any,
    *,
    title: str = "Contour plot",
    xlabel: str = "x",
    ylabel: str = "y",
    levels: int = 30,
    paths: Mapping[str, Any] | None = None,
    points: Mapping[str, tuple[float, float]] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Filled contours of ``zs`` over the grid ``xs`` x ``ys`` (``zs[i, j]`` at ``(xs[j], ys[i])``).

    ``paths`` draws named sequences of (x, y) points as lines with markers (e.g.
    an optimiser's steps); ``points`` marks named single points (e.g. a maximum).
    """
    ax = _axes(ax, title, xlabel, ylabel, figsize=(6, 4.5))
    ax.grid(False)
    filled = ax.contourf(_numbers(xs), _numbers(ys), _numbers(zs), levels=levels, cmap="viridis")
    ax.figure.colorbar(filled, ax=ax)
    for name, path in (paths or {}).items():
        path = _numbers(path)
        ax.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=1.2, label=name)
    for name, (x, y) in (points or {}).items():
        ax.plot([x], [y], "r*", ms=14, label=name)
    if paths or points:
        ax.legend(loc="upper right")
    return ax


def plot_curves(
    curves: Mapping[str, tuple[Any, Any]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    markers: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Named ``(x, y)`` curves on one Axes, optionally on log scales."""
    ax = _axes(ax, title, xlabel, ylabel)
    for name, (x, y) in curves.items():
        ax.plot(_numbers(x), _numbers(y), "o-" if markers else "-", ms=4, lw=1.8, label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1 or next(iter(curves), ""):
        ax.legend()
    return ax


def plot_loss_curves(
    losses: Mapping[str, Any] | Any,
    *,
    title: str = "Training loss",
    xlabel: str = "step",
    ylabel: str = "loss",
    logy: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Loss against step for one run (a sequence) or several (a mapping of name to sequence)."""
    if not isinstance(losses, Mapping):
        losses = {"": losses}
    curves = {name: (np.arange(len(_numbers(v))), v) for name, v in losses.items()}
    return plot_curves(curves, title=title, xlabel=xlabel, ylabel=ylabel, logy=logy, ax=ax)


# --- Notebooks 00 (math toolkit) and 02 (information theory) -----------------


def plot_vectors(
    vectors: Mapping[str, Any],
    *,
    title: str = "Vectors",
    xlabel: str = "x₁",
    ylabel: str = "x₂",
    ax: Axes | None = None,
) -> Axes:
    """Named 2-D vectors drawn as arrows from the origin, on equal axes."""
    ax = _axes(ax, title, xlabel, ylabel, figsize=(4.5, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    extent = 1.0
    for i, (name, vec) in enumerate(vectors.items()):
        x, y = _numbers(vec)[:2]
        ax.annotate("", xy=(x, y), xytext=(0, 0),
                    arrowprops={"arrowstyle": "-|>", "lw": 2, "color": colors[i % len(colors)]})
        ax.plot([0, x], [0, y], color=colors[i % len(colors)], lw=0, label=name)
        ax.text(x * 1.06, y * 1.06, name, color=colors[i % len(colors)])
        extent = max(extent, abs(x), abs(y))
    lim = 1.2 * extent
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    return ax


def plot_linear_map(
    A: Any,
    *,
    arrows: Mapping[str, Any] | None = None,
    title: str = "The unit circle under A",
    points: int = 200,
    ax: Axes | None = None,
) -> Axes:
    """The unit circle (dashed) and its image under the 2x2 matrix ``A`` (an ellipse).

    ``arrows`` draws named vectors from the origin, e.g. each eigenvector scaled
    by its eigenvalue, which land on the ellipse's axes for a symmetric ``A``.
    """
    A = _numbers(A)
    if A.shape != (2, 2):
        raise ValueError(f"A must be 2x2, got shape {A.shape}")
    t = np.linspace(0, 2 * np.pi, points)
    circle = np.stack([np.cos(t), np.sin(t)])
    image = A @ circle
    ax = _axes(ax, title, "x₁", "x₂", figsize=(5, 5))
    ax.plot(circle[0], circle[1], "--", color="0.5", lw=1.2, label="unit circle")
    ax.plot(image[0], image[1], color="tab:blue", lw=2, label="A · (unit circle)")
    colors = ["tab:red", "tab:green", "tab:orange", "tab:purple"]
    extent = max(1.0, np.abs(image).max())
    for i, (name, vec) in enumerate((arrows or {}).items()):
        x, y = _numbers(vec)[:2]
        color = colors[i % len(colors)]
        ax.annotate("", xy=(x, y), xytext=(0, 0),
                    arrowprops={"arrowstyle": "-|>", "lw": 2, "color": color})
        ax.plot([], [], color=color, lw=2, label=name)
        extent = max(extent, abs(x), abs(y))
    lim = 1.15 * extent
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def show_images(
    images: Mapping[str, Any],
    *,
    title: str | None = None,
    cmap: str = "gray",
    width: float = 2.6,
) -> np.ndarray:
    """A row of grayscale images, each titled with its name; returns the array of Axes."""
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    fig, axes = plt.subplots(1, n, figsize=(width * n, width * 0.9), layout="constrained",
                             squeeze=False)
    axes = axes[0]
    arrays = [_numbers(img) for img in images.values()]
    lo = min(a.min() for a in arrays)
    hi = max(a.max() for a in arrays)
    for ax, (name, img) in zip(axes, zip(images, arrays)):
        ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(name, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return axes


def plot_eigenvalues(
    eigenvalues: Mapping[str, Any],
    *,
    radii: Mapping[str, float] | None = None,
    title: str = "Eigenvalues in the complex plane",
    ax: Axes | None = None,
) -> Axes:
    """Named sets of (complex) eigenvalues as points in the complex plane.

    ``radii`` draws a dashed circle of that radius around 0 for each named set
    (e.g. the radius the circular law predicts).
    """
    ax = _axes(ax, title, "real part", "imaginary part", figsize=(5, 5))
    extent = 1.0
    t = np.linspace(0, 2 * np.pi, 200)
    for name, lam in eigenvalues.items():
        lam = np.asarray(lam.detach().cpu().numpy() if hasattr(lam, "detach") else lam,
                         dtype=complex)
        (pts,) = ax.plot(lam.real, lam.imag, ".", ms=3, alpha=0.6, label=name)
        extent = max(extent, np.abs(lam).max())
        if radii and name in radii:
            r = radii[name]
            ax.plot(r * np.cos(t), r * np.sin(t), "--", lw=1.2, color=pts.get_color())
            extent = max(extent, r)
    lim = 1.1 * extent
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize="small", markerscale=3)
    return ax


def plot_prediction_checkpoints(
    probs: Any,
    target: int,
    *,
    labels: Sequence[str] | None = None,
    metrics: Mapping[str, Any] | None = None,
    title: str = "A classifier's predictions at each checkpoint",
) -> np.ndarray:
    """One bar chart per checkpoint of a predicted distribution (true class in green).

    ``probs`` has one row per checkpoint. ``metrics`` (name -> one value per
    checkpoint, e.g. entropy and cross-entropy) adds a last panel plotting them
    against the checkpoint. Returns the array of Axes.
    """
    probs = _numbers(probs)
    if probs.ndim != 2:
        raise ValueError(f"probs must have one row per checkpoint, got shape {probs.shape}")
    steps, classes = probs.shape
    labels = list(labels) if labels is not None else [str(k) for k in range(classes)]
    panels = steps + (1 if metrics else 0)
    fig, axes = plt.subplots(1, panels, figsize=(2.3 * panels + 1, 3), layout="constrained",
                             squeeze=False)
    axes = axes[0]
    colors = ["tab:green" if k == target else "tab:blue" for k in range(classes)]
    for i in range(steps):
        ax = axes[i]
        ax.bar(range(classes), probs[i], color=colors)
        ax.set_xticks(range(classes), labels)
        ax.set_ylim(0, 1)
        ax.set_title(f"checkpoint {i + 1}", fontsize="medium")
        ax.set_xlabel("class")
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_ylabel("predicted probability")
    if metrics:
        ax = axes[-1]
        for name, values in metrics.items():
            ax.plot(np.arange(1, steps + 1), _numbers(values), "o-", lw=1.8, label=name)
        ax.set_xticks(range(1, steps + 1))
        ax.set_xlabel("checkpoint")
        ax.set_ylabel("bits")
        ax.set_title("entropy and cross-entropy", fontsize="medium")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return axes


def plot_curve_panels(
    panels: Mapping[str, Mapping[str, tuple[Any, Any]]],
    *,
    xlabel: str,
    ylabel: str | Sequence[str] = "",
    title: str | None = None,
    logx: bool = False,
    logy: bool = False,
    markers: bool = False,
) -> np.ndarray:
    """Several :func:`plot_curves` panels side by side, e.g. losses next to their derivatives.

    ``panels`` maps each panel's title to its named ``(x, y)`` curves. ``ylabel``
    is one label for every panel or one per panel. Returns the Axes, left to right.
    """
    n = len(panels)
    if n == 0:
        raise ValueError("no panels to draw")
    ylabels = [ylabel] * n if isinstance(ylabel, str) else list(ylabel)
    if len(ylabels) != n:
        raise ValueError(f"{len(ylabels)} y labels for {n} panels")
    fig, axes = plt.subplots(1, n, figsize=(3.9 * n + 0.6, 3.4), layout="constrained",
                             squeeze=False)
    for ax, (name, curves), label in zip(axes[0], panels.items(), ylabels):
        plot_curves(curves, title=name, xlabel=xlabel, ylabel=label, logx=logx, logy=logy,
                    markers=markers, ax=ax)
    if title:
        fig.suptitle(title)
    return axes[0]


def plot_descent_panels(
    xs: Any,
    ys: Any,
    zs: Any,
    paths: Mapping[str, Any],
    *,
    title: str | None = None,
    xlabel: str = "x",
    ylabel: str = "y",
    levels: int = 30,
    ncols: int | None = None,
) -> np.ndarray:
    """One contour panel of ``zs`` per named optimisation path (e.g. one per learning rate).

    The grid is as in :func:`plot_contour`. Every panel keeps the grid's limits,
    so a path that diverges runs off the panel instead of stretching the axes;
    the panel's title then says so. The start of each path is a square, its end
    a star. Returns the Axes in the order of ``paths``.
    """
    names = list(paths)
    if not names:
        raise ValueError("no paths to draw")
    xs, ys, zs = _numbers(xs), _numbers(ys), _numbers(zs)
    ncols = ncols or len(names)
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols + 0.4, 3.0 * nrows + 0.4),
                             layout="constrained", squeeze=False)
    x_lo, x_hi, y_lo, y_hi = xs.min(), xs.max(), ys.min(), ys.max()
    for ax, name in zip(axes.flat, names):
        path = _numbers(paths[name]).reshape(-1, 2)
        ax.contourf(xs, ys, zs, levels=levels, cmap="viridis")
        ax.plot(path[:, 0], path[:, 1], "o-", color="white", ms=2.5, lw=1.0)
        ax.plot(path[:1, 0], path[:1, 1], "s", color="tab:orange", ms=6)
        ax.plot(path[-1:, 0], path[-1:, 1], "*", color="tab:red", ms=11)
        end_x, end_y = path[-1]
        outside = not (np.isfinite(end_x) and np.isfinite(end_y)
                       and x_lo <= end_x <= x_hi and y_lo <= end_y <= y_hi)
        ax.set_title(f"{name} (leaves the plot)" if outside else name, fontsize="medium")
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    for ax in axes.flat[len(names):]:
        ax.remove()
    if title:
        fig.suptitle(title)
    return np.array(axes.flat[:len(names)])


def _label_paths(labels: Sequence[tuple[float, float, str]], height: float) -> Any:
    """One compound Path drawing many short strings, each centred at (x, y) in data units.

    The y axis points down (as in ``imshow``). Drawing one path is far faster than
    drawing hundreds of Text artists, which matters for the 729-cell bigram table.
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path
    from matplotlib.textpath import TextPath

    prop = FontProperties(family="DejaVu Sans")
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    vertices, codes = [], []
    for x, y, text in labels:
        if not text.strip():
            continue
        if text not in cache:
            path = TextPath((0, 0), text, size=1, prop=prop)
            v = np.asarray(path.vertices, dtype=float)
            # centred horizontally on the ink, vertically on half the digit height, so that
            # '.' stays on the baseline of its line
            centre = np.array([(v[:, 0].min() + v[:, 0].max()) / 2, 0.36])
            cache[text] = ((v - centre) * [1, -1], np.asarray(path.codes))
        v, c = cache[text]
        vertices.append(v * height + [x, y])
        codes.append(c)
    if not vertices:
        return None
    return Path(np.concatenate(vertices), np.concatenate(codes).astype(np.uint8))


def bigram_cell_labels(values: Any, itos: Mapping[int, str], fmt: str | None = None) -> list[list[str]]:
    """The two lines of each cell of :func:`plot_bigram_heatmap`: ``[pair, formatted value]``, row-major."""
    values = _numbers(values)
    if fmt is None:
        fmt = "{:.0f}" if np.all(values == np.round(values)) else "{:.2f}"
    return [[itos[i] + itos[j], fmt.format(values[i, j])]
            for i in range(values.shape[0]) for j in range(values.shape[1])]


def plot_bigram_heatmap(
    values: Any,
    itos: Mapping[int, str],
    *,
    title: str = "Bigram counts",
    fmt: str | None = None,
    cmap: str = "Blues",
    ax: Axes | None = None,
) -> Axes:
    """A square table of bigram statistics: row = first character, column = second.

    Each cell shows the pair (``itos[row] + itos[col]``) above its value, on a
    colour scale. ``fmt`` formats the values (default ``"{:.0f}"`` for whole
    numbers, ``"{:.2f}"`` otherwise); light text is used on dark cells. The cell
    text is drawn as two filled paths (dark and light text), labelled
    ``"cell text (dark)"`` and ``"cell text (light)"``.
    """
    from matplotlib.patches import PathPatch

    values = _numbers(values)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {values.shape}")
    size = values.shape[0]
    if len(itos) < size:
        raise ValueError(f"itos has {len(itos)} entries for a {size} x {size} matrix")
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 12), layout="constrained")
    ax.imshow(values, cmap=cmap)
    threshold = values.min() + 0.6 * (values.max() - values.min())
    light = {True: [], False: []}
    for k, (pair, value) in enumerate(bigram_cell_labels(values, itos, fmt)):
        i, j = divmod(k, size)
        is_dark = bool(values[i, j] > threshold)
        light[is_dark] += [(j, i - 0.17, pair), (j, i + 0.19, value)]
    height = 0.26 * 27 / max(size, 27)
    for is_dark, colour, name in ((False, "0.2", "dark"), (True, "white", "light")):
        path = _label_paths(light[is_dark], height)
        if path is not None:
            patch = PathPatch(path, facecolor=colour, edgecolor="none", transform=ax.transData,
                              label=f"cell text ({name})")
            ax.add_artist(patch)
    ax.set_title(title)
    ax.set_xlabel("second character")
    ax.set_ylabel("first character")
    ax.set_xticks(range(size), [itos[k] for k in range(size)])
    ax.set_yticks(range(size), [itos[k] for k in range(size)])
    ax.tick_params(length=0, labeltop=True)
    return ax


def plot_one_hot(
    rows: Any,
    itos: Mapping[int, str],
    *,
    row_labels: Sequence[str] | None = None,
    title: str = "One-hot rows",
    ax: Axes | None = None,
) -> Axes:
    """Rows of a one-hot (or any 0..1) matrix as an image, one column per vocabulary entry.

    ``row_labels`` names the rows (e.g. the input character of each example);
    the columns are labelled with ``itos``.
    """
    rows = _numbers(rows)
    if rows.ndim != 2:
        raise ValueError(f"expected a 2-d matrix, got shape {rows.shape}")
    n, width = rows.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, max(1.6, 0.32 * n + 1.0)), layout="constrained")
    ax.imshow(rows, cmap="Greys", vmin=0, vmax=max(1.0, rows.max()), aspect="equal")
    ax.set_title(title)
    ax.set_xlabel("column (vocabulary index and character)")
    ax.set_ylabel("example")
    ax.set_xticks(range(width), [f"{k}\n{itos[k]}" for k in range(width)], fontsize=7)
    ax.set_yticks(range(n), row_labels if row_labels is not None else [str(k) for k in range(n)])
    ax.set_xticks(np.arange(-0.5, width), minor=True)
    ax.set_yticks(np.arange(-0.5, n), minor=True)
    ax.grid(which="minor", color="0.8", lw=0.5)
    ax.tick_params(which="minor", length=0)
    return ax


def plot_activation_histograms(
    activations: Mapping[str, Any],
    *,
    title: str = "Activations",
    xlabel: str = "activation value",
    bins: int = 60,
    ax: Axes | None = None,
) -> Axes:
    """Outlined histograms (densities) of named sets of values, e.g. the activations of several layers.

    All histograms share the same bins, spanning the smallest to the largest value shown.
    """
    arrays = {name: _numbers(values).ravel() for name, values in activations.items()}
    ax = _axes(ax, title, xlabel, "density")
    lo = min(a.min() for a in arrays.values())
    hi = max(a.max() for a in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for name, values in arrays.items():
        ax.hist(values, bins=edges, density=True, histtype="step", lw=1.6, label=name)
    ax.legend()
    return ax


def plot_decision_boundary(
    predict: Any,
    X: Any,
    y: Any,
    *,
    title: str = "Decision boundary",
    resolution: int = 60,
    margin: float = 0.5,
    ax: Axes | None = None,
) -> Axes:
    """Points ``X`` (n, 2) coloured by their labels ``y`` (the sign decides the class) over the
    regions where ``predict`` scores positive or negative.

    ``predict`` takes an (m, 2) array of points and returns m scores; it is called once, on a
    ``resolution`` x ``resolution`` grid spanning the data plus ``margin`` on every side.
    The line where the score is 0 is drawn in black.
    """
    points, labels = _numbers(X), _numbers(y).ravel()
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"X must be (n, 2) with one label per row; got X {points.shape}, y {labels.shape}")
    ax = _axes(ax, title, "$x_1$", "$x_2$", figsize=(5.0, 4.2))
    lo, hi = points.min(axis=0) - margin, points.max(axis=0) + margin
    g1, g2 = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    scores = _numbers(predict(grid)).reshape(g1.shape)
    if not np.all(np.isfinite(scores)):
        raise ValueError("predict returned a NaN or an infinite score: the model has diverged")
    ax.contourf(g1, g2, scores > 0, levels=[-0.5, 0.5, 1.5], colors=["#c6dbef", "#fdd0a2"], alpha=0.8)
    if scores.min() < 0 < scores.max():
        ax.contour(g1, g2, scores, levels=[0.0], colors="black", linewidths=1.2)
    for sign, colour, marker in ((-1, "#2171b5", "o"), (1, "#d94801", "s")):
        chosen = (labels > 0) if sign > 0 else (labels <= 0)
        ax.scatter(points[chosen, 0], points[chosen, 1], c=colour, marker=marker, s=22,
                   edgecolors="white", linewidths=0.5, label=f"y = {sign:+d}")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.legend(loc="upper right", fontsize=8)
    return ax
