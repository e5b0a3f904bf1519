"""Notebook 06's minibatch training run, for the test of its learning-rate schedule.

lr_schedule's test trains the bigram network with the student's rates and reads its dev NLL.
The loop lives here, not in the test cell, for two reasons: at grading time it runs on the
grader's side, so only the rates cross over from the student's kernel (not a tensor of
examples per step), and the test cell does not print the answer of the earlier exercise
train_minibatch right below it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .data import build_vocab, ngram_indices, split_words


def scheduled_dev_nll(schedule: Callable[[int, int], float], words: Sequence[str], seed: int,
                      steps: int = 4096, batch_size: int = 64, reg: float = 0.01) -> float:
    """The dev NLL of the bigram network after ``steps`` minibatch steps at the rates ``schedule(step, steps)``.

    ``split_words(words)`` gives the train and dev names. The weights start standard normal and
    the minibatch positions are drawn uniformly with replacement, each from a torch generator
    seeded with ``seed``; every step descends the minibatch's average NLL plus ``reg`` times the
    mean of the squared weights.
    """
    import torch
    import torch.nn.functional as F

    stoi, _ = build_vocab()
    train, dev, _ = split_words(list(words))
    (xs, ys), (xd, yd) = [
        (torch.tensor([c[0] for c in contexts]), torch.tensor(targets))
        for contexts, targets in (ngram_indices(train, 2, stoi), ngram_indices(dev, 2, stoi))]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny steps: a second thread costs more than it gives
    try:
        W = torch.randn((27, 27), generator=torch.Generator().manual_seed(seed), requires_grad=True)
        g = torch.Generator().manual_seed(seed)
        for step in range(steps):
            rate = float(schedule(step, steps))
            batch = torch.randint(0, len(xs), (batch_size,), generator=g)
            objective = F.cross_entropy(W[xs[batch]], ys[batch]) + reg * (W ** 2).mean()
            W.grad = None
            objective.backward()
            with torch.no_grad():
                W -= rate * W.grad
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        return F.cross_entropy(W[xd], yd).item()
