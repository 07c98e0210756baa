"""Checkers for the coding exercises of the chapters: one ``check_<name>(fn)`` per exercise, named after it.

A checker calls the student's function on small random inputs and on edge cases (N = 2 ranks, a row without
positives, a queue that wraps around, ties), compares each answer with the package's own implementation, and
raises an ``AssertionError`` naming the exercise, the case, the expected and the received value and a hint. It
prints one success line otherwise. Errors raised by the student's function (e.g. the ``NotImplementedError`` of
a student notebook's stub) propagate unchanged.

    >>> from emmax_core.exercises import check_my_rank_temperatures
    >>> check_my_rank_temperatures(my_rank_temperatures)   # doctest: +SKIP
    ex-04-2 my_rank_temperatures: all 30 cases match emmax_core.ranks.rank_temperatures

:data:`EXERCISES` maps each checker's name to its exercise label and chapter; ``scripts/make_student.py``
uses the labels in the stubs of the student notebooks, ``emmax_core.grading`` to build the autograder's tests.

Taught in: every chapter's "Exercises" section (book page "For instructors").
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from itertools import product
from unittest import mock

import numpy as np
import torch

from .diagnostics import em_diagnostics
from .evaluation.geometry import partition_isotropy
from .evaluation.mining import margin_scores
from .evaluation.retrieval import translation_accuracy
from .gmm import GaussianMixtureRankClassifier
from .losses import _rank_term, info_nce, rank_cross_entropy, ranking_info_nce
from .momentum import KeyQueue, MomentumEncoder
from .ranks import RankMeans, interpolation_labels, rank_temperatures

__all__ = [
    "EXERCISES",
    "check_naive_log_joint",
    "check_expanded_log_joint",
    "check_posteriors",
    "check_nearest_rank",
    "check_my_interpolation_labels",
    "check_smoothed_rank_ce",
    "check_masked_info_nce",
    "check_momentum_update",
    "check_enqueue",
    "check_stable_rank_term",
    "check_batch_loss",
    "check_my_rank_temperatures",
    "check_mono_top_precision",
    "check_top_rank_scores",
    "check_acc_at_1",
    "check_my_margin_scores",
    "check_isotropy",
    "check_pick_precision",
]

#: Function name -> (exercise label, chapter notebook). ``check_<name>`` checks the function ``<name>``.
EXERCISES: dict[str, tuple[str, str]] = {
    "masked_info_nce": ("ex-02-1", "02_encoders_and_init"),
    "momentum_update": ("ex-02-momentum", "02_encoders_and_init"),
    "enqueue": ("ex-02-queue", "02_encoders_and_init"),
    "naive_log_joint": ("ex-03-1", "03_ranks_and_gmm"),
    "nearest_rank": ("ex-03-2", "03_ranks_and_gmm"),
    "expanded_log_joint": ("ex-03-expanded", "03_ranks_and_gmm"),
    "posteriors": ("ex-03-posteriors", "03_ranks_and_gmm"),
    "my_interpolation_labels": ("ex-03-interpolation", "03_ranks_and_gmm"),
    "smoothed_rank_ce": ("ex-03-smoothing", "03_ranks_and_gmm"),
    "stable_rank_term": ("ex-04-rank-term", "04_ranking_infonce"),
    "batch_loss": ("ex-04-1", "04_ranking_infonce"),
    "my_rank_temperatures": ("ex-04-2", "04_ranking_infonce"),
    "mono_top_precision": ("ex-05-precision", "05_em_iterations"),
    "top_rank_scores": ("ex-06-confusion", "06_rank_visualizations"),
    "acc_at_1": ("ex-07-1", "07_evaluation"),
    "my_margin_scores": ("ex-07-margin", "07_evaluation"),
    "isotropy": ("ex-08-isotropy", "08_geometry"),
    "pick_precision": ("ex-10-precision", "10_scaling_up"),
}


def _as_array(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy() if x.dtype != torch.bool else x.cpu().numpy()
    return np.asarray(x, dtype=np.float64) if not isinstance(x, np.ndarray) or x.dtype != bool else x


def _short(x) -> str:
    a = np.asarray(_as_array(x))
    with np.printoptions(precision=5, suppress=True, threshold=12, edgeitems=3):
        text = str(a) if a.ndim else f"{float(a):.6g}"
    return text.replace("\n", " ")


def _expect(name: str, case: str, expected, got, hint: str, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Raise an AssertionError naming the exercise and the case unless `got` matches `expected`."""
    label = EXERCISES[name][0]
    head = f"{label} {name}, case {case!r}: "
    exp = _as_array(expected)
    try:
        arr = _as_array(got)
    except (TypeError, ValueError) as err:
        raise AssertionError(f"{head}expected an array-like of shape {exp.shape}, got {type(got).__name__} "
                             f"({err}). Hint: {hint}") from None
    if arr.shape != exp.shape:
        raise AssertionError(f"{head}expected shape {exp.shape}, got shape {arr.shape}. Hint: {hint}")
    if not np.allclose(arr, exp, atol=atol, rtol=rtol, equal_nan=True):
        raise AssertionError(f"{head}expected {_short(exp)}, got {_short(arr)}. Hint: {hint}")


def _done(name: str, cases: int, reference: str) -> None:
    print(f"{EXERCISES[name][0]} {name}: all {cases} cases match {reference}")


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


# Chapter 02 ------------------------------------------------------------------------------------------------

def check_masked_info_nce(fn: Callable) -> None:
    """Exercise ex-02-1 (chapter 02): ``fn(sims, positive_index, temperature, mask)`` is masked InfoNCE.

    ``sims``: (B, Q) float64; ``positive_index``: (B,) long; ``mask``: (B, Q) bool, True = column left out.
    Returns a scalar equal to :func:`emmax_core.losses.info_nce` with the same mask.
    """
    name, g, n = "masked_info_nce", torch.Generator().manual_seed(2), 0
    for case, (b, q, tau) in {"B=6, Q=10": (6, 10, 0.05), "B=2, Q=3": (2, 3, 0.1), "tau=1": (4, 7, 1.0)}.items():
        sims = torch.rand(b, q, generator=g, dtype=torch.float64) * 2 - 1
        positive = torch.randint(0, q - 1, (b,), generator=g)
        mask = torch.zeros(b, q, dtype=torch.bool)
        mask[:, q - 1] = True
        for variant, m in (("with a mask", mask), ("empty mask", torch.zeros_like(mask))):
            _expect(name, f"{case}, {variant}", info_nce(sims, positive, tau, mask=m), fn(sims, positive, tau, m),
                    "divide the similarities by the temperature, leave masked columns out of the logsumexp only, "
                    "and average -log p over the rows")
            n += 1
    _done(name, n, "emmax_core.losses.info_nce")


def check_momentum_update(fn: Callable) -> None:
    """Exercise ex-02-momentum (chapter 02): ``fn(key_encoder, online, momentum)`` moves ``key_encoder`` in place.

    Both are ``torch.nn.Module`` with the same layout; after the call every parameter is
    ``momentum * xi + (1 - momentum) * theta``, as :meth:`emmax_core.momentum.MomentumEncoder.update` does.
    """
    name, n = "momentum_update", 0
    for case, m in {"m=0.9": 0.9, "m=0.99": 0.99, "m=0 (copy)": 0.0, "m=1 (frozen)": 1.0}.items():
        torch.manual_seed(3)
        online, key = torch.nn.Linear(4, 3).double(), torch.nn.Linear(4, 3).double()
        reference = MomentumEncoder(key)
        reference.update(online, momentum=m)
        student = copy.deepcopy(key)
        with torch.no_grad():
            out = fn(student, online, m)
        if isinstance(out, torch.nn.Module):
            student = out
        for (pname, expected), got in zip(reference.encoder.named_parameters(), student.parameters()):
            _expect(name, f"{case}, {pname}", expected, got,
                    "xi <- m * xi + (1 - m) * theta for every parameter, in place (under torch.no_grad()); "
                    "m multiplies the key encoder's weights, not the online encoder's")
            n += 1
    _done(name, n, "emmax_core.momentum.MomentumEncoder.update")


def check_enqueue(fn: Callable) -> None:
    """Exercise ex-02-queue (chapter 02): ``fn(queue, ptr, keys) -> (queue, ptr)`` writes keys over the oldest slots.

    ``queue``: (K, D) float64; ``ptr``: int, the next slot to write; ``keys``: (b, D) with b <= K. Returns the new
    (K, D) queue (a new tensor or the same one) and the new pointer, as :class:`emmax_core.momentum.KeyQueue`.
    """
    name, g, n = "enqueue", torch.Generator().manual_seed(4), 0
    cases = {"no wrap": (8, 0, 3), "wrapped queue": (8, 6, 4), "batch = K": (5, 2, 5), "one slot": (1, 0, 1),
             "ends exactly at K": (6, 3, 3)}
    for case, (size, start, batch) in cases.items():
        ref = KeyQueue(size, 3).double()
        ref.ptr.fill_(start)
        queue = ref.keys.clone()
        keys = torch.randn(batch, 3, generator=g, dtype=torch.float64)
        ref.enqueue(keys)
        out = fn(queue.clone(), start, keys)
        if not isinstance(out, tuple) or len(out) != 2:
            raise AssertionError(f"{EXERCISES[name][0]} {name}, case {case!r}: expected a tuple (queue, ptr), got "
                                 f"{type(out).__name__}. Hint: return both the queue and the new pointer")
        hint = ("slot (ptr + i) % K gets key i; the new pointer is (ptr + b) % K; keys written past the end wrap "
                "around to slot 0")
        _expect(name, f"{case}, queue", ref.keys, out[0], hint)
        _expect(name, f"{case}, ptr", int(ref.ptr), int(out[1]), hint)
        n += 1
    _done(name, n, "emmax_core.momentum.KeyQueue.enqueue")


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


# Chapter 04 ------------------------------------------------------------------------------------------------

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


def _random_labels(b, q, ranks, g):
    labels = torch.randint(0, ranks, (b, q), generator=g)
    labels[torch.arange(min(b, q)), torch.arange(min(b, q))] = -1
    return labels


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


# Chapter 05 ------------------------------------------------------------------------------------------------

def check_mono_top_precision(fn: Callable) -> None:
    """Exercise ex-05-precision (chapter 05): ``fn(enc_labels, truth, partner, num_ranks)`` -> float.

    ``enc_labels``: (B, Q) long (the self key of row i is column i, labelled -1); ``truth``: (B, Q) bool;
    ``partner``: (B,) long, -1 for monolingual rows. Among monolingual rows, the share of candidates labelled
    ``num_ranks - 1`` that are true translations (NaN when there is none), as ``mono_top_precision`` of
    :func:`emmax_core.diagnostics.em_diagnostics`.
    """
    name, g, n = "mono_top_precision", torch.Generator().manual_seed(10), 0
    cases = {"B=6, Q=10, N=4": (6, 10, 4, 0.5), "N=2 ranks": (4, 6, 2, 0.3), "every row monolingual": (3, 5, 3, 0.0)}
    for case, (b, q, ranks, share) in cases.items():
        sims = torch.rand(b, q, generator=g, dtype=torch.float64)
        labels = _random_labels(b, q, ranks, g)
        truth = torch.rand(b, q, generator=g) < 0.3
        truth[torch.arange(b), torch.arange(b)] = False
        partner = torch.where(torch.rand(b, generator=g) < share, (torch.arange(b) + 1) % q, torch.tensor(-1))
        partner[-1] = -1  # at least one monolingual row
        langs = torch.randint(0, 3, (q,), generator=g)
        expected = em_diagnostics(sims, labels, labels, labels, truth, partner, langs, langs[:b],
                                  ranks)["mono_top_precision"]
        _expect(name, case, expected, float(fn(labels, truth, partner, ranks)),
                "keep only the rows with partner == -1; count candidates labelled num_ranks - 1 (not 1, not "
                "num_ranks) and divide the true ones among them by all of them")
        n += 1
    _done(name, n, "emmax_core.diagnostics.em_diagnostics")


# Chapter 06 ------------------------------------------------------------------------------------------------

def check_top_rank_scores(fn: Callable) -> None:
    """Exercise ex-06-confusion (chapter 06): ``fn(silver, pred, rank=3)`` -> (precision, recall), without sklearn.

    ``silver``, ``pred``: flat integer arrays. Precision of predicted rank ``rank`` against silver rank 3 (0 when
    nothing is predicted at that rank) and its recall, as read from ``sklearn.metrics.confusion_matrix``.
    """
    from sklearn.metrics import confusion_matrix

    name, rng, n = "top_rank_scores", np.random.default_rng(11), 0
    cases = {"random": (rng.integers(0, 4, 200), rng.integers(0, 4, 200)),
             "rank never predicted": (rng.integers(0, 4, 50), rng.integers(0, 3, 50)),
             "two pairs": (np.array([3, 0]), np.array([3, 3]))}
    for case, (silver, pred) in cases.items():
        silver[0] = 3  # at least one translation
        m = confusion_matrix(silver, pred, labels=[0, 1, 2, 3])
        for rank in (1, 3):
            expected = (m[3, rank] / max(m[:, rank].sum(), 1), m[3, rank] / m[3].sum())
            _expect(name, f"{case}, rank={rank}", expected, np.asarray(fn(silver, pred, rank), dtype=float),
                    "precision divides the hits by the pairs *predicted* at that rank, recall by the *silver* "
                    "translations (silver == 3); return (precision, recall) in that order")
            n += 1
    _done(name, n, "sklearn.metrics.confusion_matrix")


# Chapter 07 ------------------------------------------------------------------------------------------------

def _scaled(n, dim, rng):
    x = rng.normal(size=(n, dim))
    return x * rng.uniform(0.2, 5.0, size=(n, 1))  # rows of very different norms: cosine != dot product


def check_acc_at_1(fn: Callable) -> None:
    """Exercise ex-07-1 (chapter 07): ``fn(src, trg)`` -> float, bitext retrieval accuracy @1 (source to target).

    ``src``, ``trg``: (n, dim) aligned rows, not normalised. The share of rows i whose most similar row of
    ``trg`` by cosine is row i, as ``translation_accuracy(src, trg)["src2trg_accuracy"]``.
    """
    name, rng, n = "acc_at_1", np.random.default_rng(12), 0
    base = rng.normal(size=(8, 5))
    cases = {"n=8, close pairs": (base, base + 0.8 * rng.normal(size=(8, 5))),
             "rows of different norms": (_scaled(10, 4, rng), _scaled(10, 4, rng)),
             "n=2": (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))}
    for case, (src, trg) in cases.items():
        _expect(name, case, translation_accuracy(src, trg)["src2trg_accuracy"], float(fn(src, trg)),
                "normalise both sides to unit rows first (cosine, not dot product), take the argmax over the "
                "target axis (axis=1 of src @ trg.T), and compare with np.arange(n)")
        n += 1
    _done(name, n, "emmax_core.evaluation.translation_accuracy")


def check_my_margin_scores(fn: Callable) -> None:
    """Exercise ex-07-margin (chapter 07): ``fn(src, trg, k)`` -> (n, m) ratio-margin scores (Artetxe & Schwenk).

    ``cos(x, y) / ((mean of x's k nearest targets + mean of y's k nearest sources) / 2)`` with cosines; ``k`` is
    clipped to the other side's size; as :func:`emmax_core.evaluation.mining.margin_scores` with ``margin="ratio"``.
    """
    name, rng, n = "my_margin_scores", np.random.default_rng(13), 0
    cases = {"n=6, m=7, k=3": (_scaled(6, 5, rng), _scaled(7, 5, rng), 3),
             "k=1": (_scaled(5, 4, rng), _scaled(5, 4, rng), 1),
             "k larger than the other side": (_scaled(3, 4, rng), _scaled(2, 4, rng), 4),
             "n=2": (_scaled(2, 3, rng), _scaled(2, 3, rng), 2)}
    for case, (src, trg, k) in cases.items():
        _expect(name, case, margin_scores(src, trg, k=k), fn(src, trg, k),
                "use cosines; average the k largest cosines of each source row (axis=1) and of each target "
                "column (axis=0), add the two and halve; divide the cosine by that; clip k to the other side")
        n += 1
    _done(name, n, "emmax_core.evaluation.mining.margin_scores")


# Chapter 08 ------------------------------------------------------------------------------------------------

def check_isotropy(fn: Callable) -> None:
    """Exercise ex-08-isotropy (chapter 08): ``fn(w)`` -> float, partition isotropy ``min Z / max Z``.

    ``w``: (n, H) float64 (used as given); c runs over the eigenvectors of ``W^T W`` and
    ``Z(c) = sum_i exp(c^T w_i)``; as :func:`emmax_core.evaluation.geometry.partition_isotropy`.
    """
    name, rng, n = "isotropy", np.random.default_rng(14), 0
    iso = rng.normal(size=(300, 8))
    cone = iso * 0.2 + 3.0 / np.sqrt(8)
    cases = {"isotropic": iso / np.linalg.norm(iso, axis=1, keepdims=True),
             "cone": cone / np.linalg.norm(cone, axis=1, keepdims=True),
             "n=2 rows": rng.normal(size=(2, 3)), "not normalised": rng.normal(size=(20, 4)) * 0.5}
    for case, w in cases.items():
        _expect(name, case, partition_isotropy(w), float(fn(np.array(w, dtype=np.float64))),
                "the directions c are the eigenvectors of W^T W (columns of np.linalg.eigh's second output), "
                "Z sums exp(w @ c) over the rows (axis=0 of w @ U), and I = min Z / max Z (not max / min)",
                rtol=1e-6)
        n += 1
    _done(name, n, "emmax_core.evaluation.geometry.partition_isotropy")


# Chapter 10 ------------------------------------------------------------------------------------------------

def check_pick_precision(fn: Callable) -> None:
    """Exercise ex-10-precision (chapter 10): ``fn(cuda, bf16)`` -> ``"no"``, ``"fp16"`` or ``"bf16"``.

    Accelerate's ``mixed_precision`` for a machine with or without CUDA and bf16 support; the checker fakes the
    four kinds of machine and compares with :func:`emmax_core.trainer.resolve_precision` (``"auto"``).
    """
    from .trainer import resolve_precision

    name, n = "pick_precision", 0
    for cuda, bf16 in product([False, True], repeat=2):
        with mock.patch("torch.cuda.is_available", return_value=cuda), \
             mock.patch("torch.cuda.is_bf16_supported", return_value=bf16):
            expected = resolve_precision("auto")
        got = fn(cuda, bf16)
        if got != expected:
            raise AssertionError(f"{EXERCISES[name][0]} {name}, case 'cuda={cuda}, bf16={bf16}': expected "
                                 f"{expected!r}, got {got!r}. Hint: without CUDA Accelerate accepts only 'no'; "
                                 "with CUDA prefer bf16 when supported")
        n += 1
    _done(name, n, "emmax_core.trainer.resolve_precision")

