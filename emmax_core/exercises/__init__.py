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
The checkers live in one private module per chapter (``_chapter02`` ... ``_chapters05_10``); import them
from here.

Taught in: every chapter's "Exercises" section (book page "For instructors").
"""

from __future__ import annotations

from . import _checking
from ._chapter02 import check_enqueue, check_masked_info_nce, check_momentum_update
from ._chapter03 import (
    check_expanded_log_joint,
    check_my_interpolation_labels,
    check_naive_log_joint,
    check_nearest_rank,
    check_posteriors,
    check_smoothed_rank_ce,
)
from ._chapter04 import check_batch_loss, check_my_rank_temperatures, check_stable_rank_term
from ._chapters05_10 import (
    check_acc_at_1,
    check_isotropy,
    check_mono_top_precision,
    check_my_margin_scores,
    check_pick_precision,
    check_top_rank_scores,
)

#: Function name -> (exercise label, chapter notebook). ``check_<name>`` checks the function ``<name>``.
EXERCISES: dict[str, tuple[str, str]] = _checking.EXERCISES

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
