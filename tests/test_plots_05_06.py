"""Tests for the plots that notebooks 05 and 06 add to course_utils.plots."""


import numpy as np
import pytest
import torch
from matplotlib.patches import PathPatch

from course_utils.data import build_vocab
from course_utils.plots import bigram_cell_labels, plot_bigram_heatmap, plot_one_hot

STOI, ITOS = build_vocab()


def _cell_text_patches(ax):
    return {p.get_label(): p for p in ax.patches if isinstance(p, PathPatch)}


def test_bigram_cell_labels_pair_and_value():
    counts = torch.arange(27 * 27).view(27, 27)
    labels = bigram_cell_labels(counts, ITOS)
    assert len(labels) == 27 * 27
    i, j = STOI["n"], STOI["."]
    assert labels[27 * i + j] == ["n.", str(27 * i + j)]
    assert labels[0] == ["..", "0"]
    assert bigram_cell_labels(torch.full((27, 27), 1 / 27), ITOS)[5] == [".e", "0.04"]
    assert bigram_cell_labels(torch.full((27, 27), 1 / 27), ITOS, fmt="{:.3f}")[5][1] == "0.037"


def test_bigram_heatmap_draws_the_table_and_text_in_every_cell():
    counts = torch.arange(27 * 27).view(27, 27)
    ax = plot_bigram_heatmap(counts, ITOS, title="Bigram counts N")
    assert ax.get_title() == "Bigram counts N"
    assert ax.get_xlabel() == "second character" and ax.get_ylabel() == "first character"
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), counts.numpy())
    # the columns are labelled with the characters (above and below the table)
    assert [t.get_text() for t in ax.get_xticklabels()][:27] == [ITOS[k] for k in range(27)]
    patches = _cell_text_patches(ax)
    assert set(patches) == {"cell text (dark)", "cell text (light)"}
    # every cell holds ink of both lines (pair above the centre, value below), and none leaks out
    ink = np.concatenate([p.get_path().vertices for p in patches.values()])
    assert ink[:, 0].min() > -0.5 and ink[:, 0].max() < 26.5
    assert ink[:, 1].min() > -0.5 and ink[:, 1].max() < 26.5
    col, row = np.floor(ink[:, 0] + 0.5).astype(int), np.floor(ink[:, 1] + 0.5).astype(int)
    upper = ink[:, 1] < row
    for half in (upper, ~upper):
        filled = np.zeros((27, 27), bool)
        filled[row[half], col[half]] = True
        assert filled.all()
    # light text sits on the dark (large) cells only
    light = patches["cell text (light)"].get_path().vertices
    assert np.floor(light[:, 1] + 0.5).min() >= 16
    assert patches["cell text (light)"].get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_bigram_heatmap_checks_its_input():
    with pytest.raises(ValueError):
        plot_bigram_heatmap(np.zeros((3, 4)), ITOS)
    ax = plot_bigram_heatmap(np.eye(3) * 0.5, ITOS, title="P")  # small tables work too
    assert ax.get_images()[0].get_array().shape == (3, 3)


def test_one_hot_image_has_rows_and_labelled_columns():
    xs = torch.tensor([0, 5, 13, 13, 1])
    rows = torch.nn.functional.one_hot(xs, num_classes=27).float()
    ax = plot_one_hot(rows, ITOS, row_labels=list(".emma"), title="emma, one-hot")
    assert ax.get_title() == "emma, one-hot"
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), rows.numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(".emma")
    assert [t.get_text() for t in ax.get_xticklabels()][5] == "5\ne"
    with pytest.raises(ValueError):
        plot_one_hot(np.zeros(27), ITOS)
