"""Checkers of chapter 03's exercises: the GMM's log-likelihoods and posteriors, rank means, warm-up labels,
label smoothing."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..gmm import GaussianMixtureRankClassifier
from ..losses import rank_cross_entropy
from ..ranks import RankMeans, interpolation_labels
from ._checking import _done, _expect


def _gmm(num_ranks: int, dim: int, seed: int) -> GaussianMixtureRankClassifier:
    g = torch.Generator().manual_seed(seed)
    gmm = GaussianMixtureRankClassifier(num_ranks, dim, generator=g).double()
    with torch.no_grad():
        gmm.means.normal_(0, 0.3, generator=g)
        gmm.log_vars.uniform_(-1.0, 0.5, generator=g)
        gmm.mixing_logits.normal_(0, 1.0, generator=g)
    return gmm


def _unit(n: int, dim: int, g: torch.Generator) -> torch.Tensor:
    x = torch.randn(n, dim, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


# Chapter 03 ------------------------------------------------------------------------------------------------

_GMM_CASES = {"N=4, D=3": (4, 3, 5, 7), "N=2 ranks": (2, 5, 3, 4), "one query": (3, 2, 1, 6)}


def _check_gmm_function(name: str, fn: Callable, inputs: Callable, offset: int, reference: Callable,
                        reference_name: str, hint: str) -> None:
    """Compare ``fn(gmm, *inputs(rows, dim, generator))`` with ``reference(gmm, ...)`` on every GMM case.

    The inputs' generator is seeded with the case's seed plus ``offset``.
    """
    n = 0
    for case, (ranks, dim, rows, seed) in _GMM_CASES.items():
        gmm = _gmm(ranks, dim, seed)
        args = inputs(rows, dim, torch.Generator().manual_seed(seed + offset))
        with torch.no_grad():
            expected, got = reference(gmm, *args), fn(gmm, *args)
        _expect(name, case, expected, got, hint)
        n += 1
    _done(name, n, reference_name)


def check_naive_log_joint(fn: Callable) -> None:
    """Exercise ex-03-1 (chapter 03): ``fn(gmm, d)`` is log p(d, z=r) by the formula, for explicit differences.

    ``gmm``: a :class:`~emmax_core.gmm.GaussianMixtureRankClassifier` (float64); ``d``: (n, D).
    Returns (n, N), as ``gmm.log_joint(d, zeros(1, D))[:, 0]``.
    """
    _check_gmm_function(
        "naive_log_joint", fn, lambda rows, dim, g: (torch.randn(rows, dim, generator=g, dtype=torch.float64),), 0,
        lambda gmm, d: gmm.log_joint(d, torch.zeros(1, d.shape[1], dtype=d.dtype))[:, 0],
        "GaussianMixtureRankClassifier.log_joint",
        "log pi_r = log_softmax(mixing_logits) (not the logits themselves); the normaliser is "
        "-1/2 (D log 2 pi + sum log_vars[r]); the Mahalanobis term divides by exp(log_vars), it does not multiply")


def _self_pair(rows: int, dim: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    queries, candidates = _unit(rows, dim, g), _unit(rows + 2, dim, g)
    candidates[0] = queries[0]  # a self pair: distance 0
    return queries, candidates


def check_expanded_log_joint(fn: Callable) -> None:
    """Exercise ex-03-expanded (chapter 03): ``fn(gmm, queries, candidates)``, the expanded (matmul) log-likelihood.

    ``queries``: (B, D); ``candidates``: (Q, D). Returns (B, Q, N) log p(q_i - c_j, z=r) without building the
    (B, Q, N, D) tensor, as :meth:`~emmax_core.gmm.GaussianMixtureRankClassifier.log_joint`.
    """
    _check_gmm_function(
        "expanded_log_joint", fn, _self_pair, 1, lambda gmm, q, c: gmm.log_joint(q, c),
        "GaussianMixtureRankClassifier.log_joint",
        "expand sum_h (q_h - c_h - mu_h)^2 w_h with w = exp(-log_vars): q^2.w + c^2.w - 2 (q*w).c "
        "- 2 (q - c).(mu*w) + mu^2.w; mind the sign of the cross terms")


def check_posteriors(fn: Callable) -> None:
    """Exercise ex-03-posteriors (chapter 03): ``fn(gmm, queries, candidates)`` -> (B, Q, N) posteriors gamma(r | d).

    Each (i, j) sums to 1 over the ranks (last axis); equals ``gmm(queries, candidates).exp()``.
    """
    _check_gmm_function(
        "posteriors", fn, lambda rows, dim, g: (_unit(rows, dim, g), _unit(rows + 1, dim, g)), 2,
        lambda gmm, q, c: gmm(q, c).exp(), "GaussianMixtureRankClassifier.forward",
        "normalise the joint log-densities over the ranks (the last axis, dim=-1) with a softmax, "
        "not over the candidates")


def check_nearest_rank(fn: Callable) -> None:
    """Exercise ex-03-2 (chapter 03): ``fn(sims, rank_means)`` -> long ranks of the nearest rank mean.

    ``sims``: any shape, float64; ``rank_means``: (N,). Ties go to the lower rank, as
    :meth:`emmax_core.ranks.RankMeans.assign` (``argmin``) does.
    """
    name, g, n = "nearest_rank", torch.Generator().manual_seed(5), 0
    cases = {
        "N=4, (3, 6) sims": (torch.tensor([-0.1, 0.2, 0.5, 0.9]), torch.rand(3, 6, generator=g) * 2 - 1),
        "N=2 ranks": (torch.tensor([0.0, 0.6]), torch.rand(2, 5, generator=g)),
        "exact ties": (torch.tensor([0.0, 0.5, 1.0]), torch.tensor([[0.25, 0.75, 0.5, -1.0]])),
        "means not ordered": (torch.tensor([0.8, 0.1, 0.4]), torch.rand(4, 4, generator=g)),
    }
    for case, (means, sims) in cases.items():
        means, sims = means.double(), sims.double()
        rm = RankMeans(len(means)).double()
        rm.init_from_statistics(torch.ones(len(means)), means)
        _expect(name, case, rm.assign(sims), fn(sims, means),
                "take the rank whose mean is closest in absolute value |s - m_r|; on an exact tie keep the "
                "lower rank (a strict < when you loop upwards)", atol=0)
        n += 1
    _done(name, n, "emmax_core.ranks.RankMeans.assign")


def check_my_interpolation_labels(fn: Callable) -> None:
    """Exercise ex-03-interpolation (chapter 03): ``fn(lam, mixing_logits)`` -> (B, Q) long ranks of the GMM warm-up.

    ``lam``: (B, Q) in [0, 1]; ``mixing_logits``: (N,). The boundaries are ``cumsum(softmax(mixing_logits))``;
    a value on a boundary goes to the upper rank; equals :func:`emmax_core.ranks.interpolation_labels`.
    """
    name, g, n = "my_interpolation_labels", torch.Generator().manual_seed(6), 0
    cases = {
        "uniform N=4": (torch.rand(3, 5, generator=g), torch.zeros(4)),
        "uneven prior": (torch.rand(4, 4, generator=g), torch.tensor([0.5, -1.0, 0.0, 1.0])),
        "N=2, on the boundary": (torch.tensor([[0.0, 0.5, 0.49, 1.0]]), torch.zeros(2)),
        "lam = 0 and 1": (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.zeros(3)),
    }
    for case, (lam, logits) in cases.items():
        _expect(name, case, interpolation_labels(lam, logits), fn(lam, logits),
                "boundaries are cumsum(softmax(mixing_logits)) without the last one; a larger lambda is a higher "
                "rank; a lambda on a boundary goes up (torch.bucketize(..., right=True)); clamp to N - 1", atol=0)
        n += 1
    _done(name, n, "emmax_core.ranks.interpolation_labels")


def check_smoothed_rank_ce(fn: Callable) -> None:
    """Exercise ex-03-smoothing (chapter 03): ``fn(log_posteriors, labels, rank_confidence)``, label-smoothed CE.

    ``log_posteriors``: (B, Q, N); ``labels``: (B, Q) long, -1 = left out. Per kept pair
    ``-(1 - eps) log gamma(y) - eps / (N - 1) sum_{r != y} log gamma(r)``, averaged over kept pairs, as
    :func:`emmax_core.losses.rank_cross_entropy`.
    """
    name, g, n = "smoothed_rank_ce", torch.Generator().manual_seed(7), 0
    for case, (b, q, ranks, eps) in {"N=4, eps=0.3": (3, 5, 4, 0.3), "N=2 ranks": (2, 4, 2, 0.3),
                                     "eps=0": (2, 3, 3, 0.0), "eps=0.5": (4, 2, 4, 0.5)}.items():
        log_post = torch.log_softmax(torch.randn(b, q, ranks, generator=g, dtype=torch.float64), dim=-1)
        labels = torch.randint(0, ranks, (b, q), generator=g)
        labels[0, 0] = -1  # a left-out pair (the self key)
        _expect(name, case, rank_cross_entropy(log_post, labels, eps), fn(log_post, labels, eps),
                "put 1 - eps on the label and eps / (N - 1) on each other rank (not eps / N), skip pairs labelled "
                "-1, and average over the kept pairs")
        n += 1
    _done(name, n, "emmax_core.losses.rank_cross_entropy")
