"""The committed results of the central experiment, shipped inside the package.

`make results` (``python -m emmax_core.experiment``) writes its summary to ``emmax_core/data/results/results.json``;
:func:`load` reads it back from wherever the package is installed, so a chapter opened alone (on Colab, after
``pip install``) shows the same tables and figures as the book. The figures are drawn from these numbers by
:func:`emmax_core.viz.plot_experiment_headline` and :func:`emmax_core.viz.plot_experiment_diagnostics`.

Snapshots kept beside the current results (``load(name)``):

- ``"results"``: the current summary of ``make results``, the headline suite (tiny profile, 3 seeds x 2 folds).
- ``"levers"`` (``levers.json``): ``make results-levers``, the ablations and lever (a) beside the runs they are
  read against (``python -m emmax_core.experiment --suite levers``).
- ``"sweep"`` (``sweep.json``): ``make sweep``, EM with noisy-ORACLE labels over a precision x recall grid and
  the warm-up ladder; its ``"map"`` key is :func:`emmax_core.experiment.label_map.label_map`'s reading.
- ``"before_rank_mean_fix"`` (``results_before_rank_mean_fix.json.gz``): the summary as it was before the
  trainer's rank-mean fix, kept so that what the fix changed can be computed (gzipped: it is never rewritten).

Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources


def _folder():
    return resources.files("emmax_core") / "data" / "results"


def available() -> list[str]:
    """Names :func:`load` accepts (``"results"`` first)."""
    stems = [p.name.split(".json")[0] for p in _folder().iterdir() if p.name.endswith((".json", ".json.gz"))]
    names = sorted(s if s == "results" else s.removeprefix("results_") for s in stems)
    return sorted(names, key=lambda n: n != "results")


def load(name: str = "results") -> dict:
    """The experiment summary called ``name`` (see the module docstring), as written by ``make results``.

    Returns:
        ``dict`` with ``tables`` (``leak_free`` / ``transductive``: per run its group accuracies, deltas,
        ``headline`` = Δ NON-PARALLEL − Δ UNSEEN and its ``spread`` over seeds), ``headline``, ``fold_swap``,
        ``diagnostics`` (pseudo-label precision and recall per EM-like run), ``backbones`` and the per-run
        ``results``.

    Raises:
        FileNotFoundError: no snapshot of that name; the message lists the available ones.

    Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
    """
    folder = _folder()
    for stem in (name, f"results_{name}"):  # snapshots are stored as results_<name>.json[.gz]
        for suffix, read in ((".json", lambda f: f.read_text(encoding="utf-8")),
                             (".json.gz", lambda f: gzip.decompress(f.read_bytes()).decode("utf-8"))):
            entry = folder / f"{stem}{suffix}"
            if entry.is_file():
                return json.loads(read(entry))
    raise FileNotFoundError(f"no results called {name!r} in emmax_core/data/results; available: {available()}. "
                            "`make results` writes 'results'.")
