"""emmax_core: EMMA-X, small enough to read in an afternoon, tested, and fast enough to run on a laptop.

Public names are imported lazily so ``import emmax_core`` stays fast:

>>> from emmax_core import SentenceEncoder, EMMAXConfig, load_corpus   # doctest: +SKIP

Taught in: notebooks/00_setup.ipynb (a tour of the package).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "SentenceEncoder": "encoder",
    "EMMAXConfig": "config",
    "load_corpus": "corpus",
    "list_languages": "corpus",
    "language_info": "corpus",
    "parallel_pairs": "corpus",
    "monolingual_pool": "corpus",
    "held_out_units": "corpus",
    "silver_ranks": "corpus",
    "default_language_split": "corpus",
    "GaussianMixtureRankClassifier": "gmm",
    "RankingInfoNCELoss": "losses",
    "EMMAXTrainer": "trainer",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'emmax_core' has no attribute {name!r}")


def __dir__():
    return __all__
