"""course_utils.minibatch: the run lr_schedule's test (notebook 06) trains with the student's rates."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from course_utils.data import build_vocab, load_names, ngram_indices, split_words  # noqa: E402
from course_utils.minibatch import scheduled_dev_nll  # noqa: E402


def _dev_nll(W, words):
    stoi, _ = build_vocab()
    contexts, targets = ngram_indices(split_words(words)[1], 2, stoi)
    xs = torch.tensor([c[0] for c in contexts])
    return torch.nn.functional.cross_entropy(W[xs], torch.tensor(targets)).item()


def test_asks_the_schedule_for_every_step_in_order_and_starts_from_the_seeds_weights():
    words, calls = load_names(), []
    start = torch.randn((27, 27), generator=torch.Generator().manual_seed(5))

    def frozen(step, steps):
        calls.append((step, steps))
        return 0.0

    assert scheduled_dev_nll(frozen, words, 5, steps=3) == pytest.approx(_dev_nll(start, words), rel=1e-6)
    assert calls == [(0, 3), (1, 3), (2, 3)]


def test_a_positive_rate_trains_the_network():
    words = load_names()
    start = _dev_nll(torch.randn((27, 27), generator=torch.Generator().manual_seed(5)), words)
    assert scheduled_dev_nll(lambda step, steps: 10.0, words, 5, steps=200) < start - 0.5
