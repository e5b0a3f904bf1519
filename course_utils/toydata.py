"""Small two-dimensional data sets, made by the course, for classifiers to learn from (notebook 04)."""

from __future__ import annotations

import numpy as np


def half_moons(n: int = 100, *, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles: points ``X`` of shape (n, 2) and labels ``y`` in {-1, +1}.

    The first ``n // 2`` points lie on the upper arc (label -1), the rest on the lower arc
    that reaches into it (label +1); each point is jittered by Gaussian noise of standard
    deviation ``noise``. No straight line separates the classes. The same ``seed`` gives
    the same points.
    """
    if n < 2:
        raise ValueError(f"half_moons needs at least 2 points (one per class), got n={n}")
    if noise < 0:
        raise ValueError(f"noise is a standard deviation and cannot be negative, got {noise}")
    rng = np.random.default_rng(seed)
    upper, lower = n // 2, n - n // 2
    t_upper = rng.uniform(0.0, np.pi, upper)
    t_lower = rng.uniform(0.0, np.pi, lower)
    X = np.concatenate([
        np.column_stack([np.cos(t_upper), np.sin(t_upper)]),
        np.column_stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)]),
    ])
    X += rng.normal(0.0, noise, X.shape)
    y = np.concatenate([-np.ones(upper), np.ones(lower)])
    return X, y
