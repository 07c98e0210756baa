"""The central experiment: does EM over unaligned text help NON-PARALLEL languages?

Languages are split into PARALLEL (parallel pairs in the warm-up), and groups A and B that take turns as
NON-PARALLEL (unaligned sentences in the EM stage) and UNSEEN (never trained on) in two folds, so every
language is measured in both roles from the same warm-up: a paired control. Every run starts from one
warm-up per seed and trains for the same number of steps; the headline of a run is

    (delta NON-PARALLEL - delta UNSEEN), deltas against the warm-up, averaged over folds and sources,

with its mean and spread (standard deviation) over seeds. Scores are xx->English acc@1 on held-out units
(leak-free: no EM pool contains them) and, transductively, on units the EM pools contained. Book:
:ref:`experiment-runs`.

The subpackage, in the order a run goes through it:

- :mod:`~emmax_core.experiment.registry`: the runs, backbones and suites as plain data; ``ExperimentConfig``;
- :mod:`~emmax_core.experiment.runner`: train (or load) and evaluate every job, with a per-model score cache;
- :mod:`~emmax_core.experiment.aggregate`: tables, headline with spread, fold swap, diagnostics, cost;
- :mod:`~emmax_core.experiment.report`: ``README.md`` in words generated from the numbers, and its figures
  (drawn by :mod:`emmax_core.viz`); :mod:`~emmax_core.experiment.comparison`: what changed between two summaries;
- :mod:`~emmax_core.experiment.label_map`: the sweep suite's reading, EM's gain over pseudo-label precision and
  recall (noisy-ORACLE grid) with the real labellers placed on it, and the warm-up ladder.

``make results`` runs ``python -m emmax_core.experiment --output-dir results --results-json
emmax_core/data/results/results.json`` (the headline suite); ``make results-levers`` the ablations and lever (a)
and ``make sweep`` the label-quality map (command line: :func:`emmax_core.cli.experiment_main`). The general
evaluation (:mod:`emmax_core.evaluation`) never imports this subpackage.

Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
"""

from .aggregate import aggregate, headline
from .registry import (
           BACKBONE_EM,
           BACKBONES,
           EM_LIKE,
           RUNS,
           SUITES,
           ExperimentConfig,
           describe,
           run_label,
           split_label,
)
from .runner import base_config, jobs, run_all, run_job

__all__ = ["BACKBONES", "BACKBONE_EM", "EM_LIKE", "RUNS", "SUITES", "ExperimentConfig", "aggregate", "base_config",
           "describe", "headline", "jobs", "run_all", "run_job", "run_label", "split_label"]
