"""Shared machinery for the evaluators: the evaluator base class, encoding and cosine scores.

Every evaluator in this package follows the sentence-transformers ``SentenceEvaluator`` contract:
``evaluator(model, output_path=None) -> dict[str, float]``, with ``primary_metric`` and
``greater_is_better`` attributes and metric names prefixed by ``name_`` when a name is given. The
model is anything with ``encode(list_of_str, batch_size=..., convert_to_numpy=True)``, normally
:class:`emmax_core.SentenceEncoder`. The metrics themselves are plain numpy functions, so a notebook
can call them on embeddings it already has.

Taught in: notebooks/07_evaluation.ipynb
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["SentenceEvaluator", "column", "cosine_similarity_matrix", "encode", "l2_normalize", "macro_mean"]


def l2_normalize(embeddings: np.ndarray) -> np.ndarray:
    """Scale each row to unit L2 norm (zero rows stay zero).

    Args:
        embeddings: ``(n, dim)`` array.

    Returns:
        ``(n, dim)`` float64 array whose rows have norm 1.

    Taught in: notebooks/07_evaluation.ipynb
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(
            f"embeddings must be a 2-D array (n, dim), got shape {x.shape}; stack the vectors first."
        )
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def cosine_similarity_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a`` with every row of ``b``.

    Args:
        a: ``(n, dim)`` query embeddings.
        b: ``(m, dim)`` candidate embeddings.

    Returns:
        ``(n, m)`` array, entry ``[i, j] = cos(a_i, b_j)``.

    Taught in: notebooks/07_evaluation.ipynb
    """
    a, b = l2_normalize(a), l2_normalize(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dim, got {a.shape[1]} and {b.shape[1]}: embed both with the "
                         "same model.")
    return a @ b.T


def encode(model, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Embed ``texts`` with ``model.encode`` (sentence-transformers semantics).

    Args:
        model: any object with ``encode(list_of_str, batch_size=..., convert_to_numpy=True)``.
        texts: ``n`` sentences.
        batch_size: sentences per forward pass.

    Returns:
        ``(n, dim)`` float array.

    Taught in: notebooks/07_evaluation.ipynb
    """
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("texts is empty; pass at least one sentence to encode.")
    if not hasattr(model, "encode"):
        raise ValueError(
            f"model must have an encode() method (e.g. SentenceEncoder), got {type(model).__name__}."
        )
    emb = np.asarray(model.encode(texts, batch_size=batch_size, convert_to_numpy=True), dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise ValueError(f"model.encode returned shape {emb.shape}; expected ({len(texts)}, dim).")
    return emb


def column(rows, name: str) -> np.ndarray:
    """One column of a ``datasets.Dataset``, DataFrame, dict of lists or list of dicts, as an object array.

    Args:
        rows: ``n`` rows in any of those forms.
        name: column name, e.g. ``"lang"``.

    Returns:
        ``(n,)`` object array.
    """
    try:
        values = [r[name] for r in rows] if isinstance(rows, (list, tuple)) else list(rows[name])
    except (KeyError, TypeError) as err:
        raise ValueError(f"rows must have a {name!r} column (expected lang, unit_id, text, source).") from err
    return np.asarray(values, dtype=object)


def macro_mean(values) -> float:
    """Unweighted mean that returns ``nan`` (not a warning) for an empty input."""
    values = [float(v) for v in values]
    return float(np.mean(values)) if values else float("nan")


class SentenceEvaluator:
    """Base class: run ``compute(model)``, prefix the metric names, optionally save them.

    Subclasses set ``primary_metric`` (unprefixed) and implement ``compute(model) -> dict``.

    Args:
        name: optional prefix; metrics become ``f"{name}_{metric}"`` (sentence-transformers style).
        batch_size: passed to ``model.encode``.

    Taught in: notebooks/07_evaluation.ipynb
    """

    greater_is_better: bool = True
    _primary: str = ""

    def __init__(self, name: str = "", batch_size: int = 32):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.name = name
        self.batch_size = batch_size

    @property
    def primary_metric(self) -> str:
        """Key of the headline metric in the returned dict (prefixed like the other keys)."""
        return self._prefix(self._primary)

    def _prefix(self, key: str) -> str:
        return f"{self.name}_{key}" if self.name else key

    def compute(self, model) -> dict[str, float]:
        """Return the unprefixed metrics for ``model``; implemented by subclasses."""
        raise NotImplementedError

    def __call__(self, model, output_path: str | None = None) -> dict[str, float]:
        """Evaluate ``model``; if ``output_path`` is a folder, also write ``<name>_results.json`` there.

        Returns:
            ``dict[str, float]`` of metrics, keys prefixed with ``name_`` when a name was given.
        """
        metrics = {self._prefix(k): float(v) for k, v in self.compute(model).items()}
        if output_path is not None:
            out = Path(output_path)
            out.mkdir(parents=True, exist_ok=True)
            stem = self.name or type(self).__name__
            (out / f"{stem}_results.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        return metrics

    def encode(self, model, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` with this evaluator's batch size; ``(n, dim)``."""
        return encode(model, texts, self.batch_size)
