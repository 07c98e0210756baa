"""Checkers of chapter 04's exercises: one rank term, the whole ranking InfoNCE, the rank temperatures."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..losses import _rank_term, ranking_info_nce
from ..ranks import rank_temperatures
from ._checking import _done, _expect, _random_labels


def _rank_term_reference(sims, labels, r, tau) -> float:
    s, lab = torch.as_tensor(sims, dtype=torch.float64)[None], torch.as_tensor(labels)[None]
    return float(_rank_term(s / tau, lab == r, (lab >= 0) & (lab <= r), False))


def check_stable_rank_term(fn: Callable) -> None:
    """Exercise ex-04-rank-term (chapter 04): ``fn(s, l, r, tau)`` -> float, one anchor's rank-r InfoNCE term.

    ``s``: list of Q similarities; ``l``: list of Q ranks (-1 = ignored); rank-r candidates are positives
    against all candidates of rank <= r; ``-log(mean softmax probability of the positives + 1e-7)``; a row
    without a rank-r positive gives ``-log(1e-7)`` (the term inside :func:`emmax_core.losses.ranking_info_nce`).
    """
    name, g, n = "stable_rank_term", torch.Generator().manual_seed(8), 0
    s = (torch.rand(10, generator=g, dtype=torch.float64) * 2 - 1).tolist()
    cases = {
        "rank 1 of 4": (s, [0, 1, 2, 3, 1, 0, -1, 2, 0, 3], 1, 0.1),
        "rank 3 of 4": (s, [0, 1, 2, 3, 1, 0, -1, 2, 0, 3], 3, 0.05),
        "N=2 ranks": (s[:4], [1, 0, 0, -1], 1, 0.05),
        "a row without positives": (s[:5], [0, 0, 2, -1, 0], 1, 0.1),
        "several positives": (s[:6], [1, 1, 1, 0, 0, 2], 1, 0.07),
    }
    for case, (sims, labels, r, tau) in cases.items():
        _expect(name, case, _rank_term_reference(sims, labels, r, tau), float(fn(sims, labels, r, tau)),
                "divide by tau inside the exp; the denominator holds ranks 0..r only (not higher ranks, not -1); "
                "average the positives' probabilities inside the log; -log(1e-7) when there is no positive")
        n += 1
    _done(name, n, "the rank term of emmax_core.losses.ranking_info_nce")


def check_batch_loss(fn: Callable) -> None:
    """Exercise ex-04-1 (chapter 04): ``fn(sims, labels, temperatures, exclude_empty_rows=False)``, the whole loss.

    ``sims``: (B, Q) float64; ``labels``: (B, Q) long in -1..N-1; ``temperatures``: (N-1,). Returns a scalar
    equal to :func:`emmax_core.losses.ranking_info_nce` with the same ``exclude_empty_rows``.
    """
    name, g, n = "batch_loss", torch.Generator().manual_seed(9), 0
    temps4 = rank_temperatures(4).double()
    cases = {"B=6, Q=12, N=4": (torch.rand(6, 12, generator=g), _random_labels(6, 12, 4, g), temps4),
             "N=2 ranks": (torch.rand(2, 5, generator=g), _random_labels(2, 5, 2, g), rank_temperatures(2)),
             "a row without positives": (torch.rand(3, 6, generator=g),
                                         torch.tensor([[-1, 0, 0, 0, 0, 0], [1, -1, 2, 3, 0, 1],
                                                       [0, 3, -1, 1, 2, 0]]), temps4),
             "a rank nobody has": (torch.rand(2, 4, generator=g), torch.tensor([[-1, 1, 0, 3], [0, -1, 3, 1]]),
                                   temps4)}
    for case, (sims, labels, temps) in cases.items():
        sims = sims.double() * 2 - 1
        for flag in (False, True):
            expected = ranking_info_nce(sims, labels, temps.double(), exclude_empty_rows=flag)
            _expect(name, f"{case}, exclude_empty_rows={flag}", expected,
                    float(fn(sims, labels, temps.double(), flag)),
                    "sum over ranks r = 1..N-1 that occur somewhere in the batch, each with its own temperature "
                    "tau_r = temperatures[r - 1]; average each rank's term over all rows (or only the rows with "
                    "a rank-r positive when exclude_empty_rows)")
            n += 1
    _done(name, n, "emmax_core.losses.ranking_info_nce")


def check_my_rank_temperatures(fn: Callable) -> None:
    """Exercise ex-04-2 (chapter 04): ``fn(num_ranks, tau_low, tau_high)`` -> (N-1,) temperatures tau_1..tau_{N-1}.

    Linear from tau_high (rank 1) to tau_low (rank N-1); N = 2 gives ``[tau_low]``; as
    :func:`emmax_core.ranks.rank_temperatures`.
    """
    name, n = "my_rank_temperatures", 0
    for num_ranks in range(2, 12):
        for lo, hi in [(0.05, 0.1), (0.02, 0.2), (0.07, 0.07)]:
            case = "N=2 ranks" if num_ranks == 2 else f"N={num_ranks}"
            _expect(name, f"{case}, tau=({lo}, {hi})", rank_temperatures(num_ranks, lo, hi), fn(num_ranks, lo, hi),
                    "tau_r = tau_high - (r - 1) (tau_high - tau_low) / (N - 2) for r = 1..N-1 (highest temperature "
                    "for rank 1); with N = 2 return [tau_low] instead of dividing by zero")
            n += 1
    _done(name, n, "emmax_core.ranks.rank_temperatures")
