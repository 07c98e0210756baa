"""Checkers of the exercises of chapters 05 to 10: diagnostics, confusion, retrieval, margins, isotropy and
mixed precision."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from unittest import mock

import numpy as np
import torch

from ..diagnostics import em_diagnostics
from ..evaluation.geometry import partition_isotropy
from ..evaluation.mining import margin_scores
from ..evaluation.retrieval import translation_accuracy
from ._checking import EXERCISES, _done, _expect, _random_labels

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
    from ..trainer import resolve_precision

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
