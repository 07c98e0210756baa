"""Zero-shot cross-lingual classification with frozen sentence embeddings.

A logistic-regression probe is trained on English embeddings only and tested on every other
language: if the encoder maps translations to the same place, the English decision boundary
transfers. This is the small-scale stand-in for XRETE's classification tasks (one classification task
with frozen embeddings and a logistic-regression probe), and the MTEB
``Classification`` protocol without its repeated undersampling. Sentence pairs (NLI, e.g. XNLI) use
the SentEval features ``[u, v, |u - v|, u * v]``.

Taught in: notebooks/07_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from .base import SentenceEvaluator, macro_mean

__all__ = ["ZeroShotClassificationEvaluator", "pair_features", "zero_shot_classification"]


def pair_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """SentEval / InferSent pair features ``[u, v, |u - v|, u * v]``.

    Args:
        u: ``(n, dim)`` first-sentence embeddings (e.g. premises).
        v: ``(n, dim)`` second-sentence embeddings (e.g. hypotheses).

    Returns:
        ``(n, 4 * dim)`` features.

    Taught in: notebooks/07_evaluation.ipynb
    """
    u, v = np.asarray(u), np.asarray(v)
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same shape, got {u.shape} and {v.shape}.")
    return np.hstack([u, v, np.abs(u - v), u * v])


def zero_shot_classification(
    train_embeddings: np.ndarray,
    train_labels,
    test_sets: Mapping[str, tuple],
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Fit logistic regression on one language's embeddings; score it on each test language.

    Args:
        train_embeddings: ``(n, dim)`` features of the training (English) examples.
        train_labels: ``n`` labels.
        test_sets: ``{lang: (embeddings (n_lang, dim), labels (n_lang,))}``.
        C, max_iter, seed: passed to ``sklearn.linear_model.LogisticRegression``.

    Returns:
        ``lang={L}/accuracy``, ``lang={L}/macro_f1`` per language and their macro means
        ``mean_accuracy``, ``mean_macro_f1``.

    Taught in: notebooks/07_evaluation.ipynb
    """
    if len(train_embeddings) != len(train_labels):
        raise ValueError("train_embeddings and train_labels must have the same length.")
    if len(set(np.asarray(train_labels).tolist())) < 2:
        raise ValueError("train_labels must contain at least 2 classes to train a classifier.")
    if not test_sets:
        raise ValueError("test_sets is empty; pass {lang: (embeddings, labels)}.")
    probe = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    probe.fit(np.asarray(train_embeddings), np.asarray(train_labels))
    out: dict[str, float] = {}
    for lang, (emb, labels) in test_sets.items():
        predicted = probe.predict(np.asarray(emb))
        out[f"lang={lang}/accuracy"] = float(accuracy_score(labels, predicted))
        out[f"lang={lang}/macro_f1"] = float(f1_score(labels, predicted, average="macro"))
    out["mean_accuracy"] = macro_mean(out[f"lang={lang}/accuracy"] for lang in test_sets)
    out["mean_macro_f1"] = macro_mean(out[f"lang={lang}/macro_f1"] for lang in test_sets)
    return out


class ZeroShotClassificationEvaluator(SentenceEvaluator):
    """Train a logistic-regression probe on English embeddings; report accuracy per test language.

    Args:
        train_texts: ``n`` training inputs: sentences, or ``(sentence1, sentence2)`` pairs for NLI.
        train_labels: ``n`` labels.
        test_sets: ``{lang: (texts, labels)}`` in the same input form as ``train_texts``.
        C, max_iter, seed: logistic-regression settings.
        name, batch_size: see :class:`~emmax_core.evaluation.base.SentenceEvaluator`.

    Returns (when called): ``lang={L}/accuracy``, ``lang={L}/macro_f1``, ``mean_accuracy`` (primary),
    ``mean_macro_f1``.

    Taught in: notebooks/07_evaluation.ipynb
    """

    _primary = "mean_accuracy"

    def __init__(
        self,
        train_texts: Sequence,
        train_labels: Sequence,
        test_sets: Mapping[str, tuple],
        C: float = 1.0,
        max_iter: int = 1000,
        seed: int = 0,
        name: str = "",
        batch_size: int = 32,
    ):
        super().__init__(name=name, batch_size=batch_size)
        if not train_texts or len(train_texts) != len(train_labels):
            raise ValueError("train_texts must be non-empty and as long as train_labels.")
        if not test_sets:
            raise ValueError("test_sets is empty; pass {lang: (texts, labels)}.")
        self.train_texts, self.train_labels = list(train_texts), list(train_labels)
        self.test_sets = {lang: (list(t), list(y)) for lang, (t, y) in test_sets.items()}
        self.C, self.max_iter, self.seed = C, max_iter, seed

    def _features(self, model, texts: list) -> np.ndarray:
        """Sentence embeddings, or pair features when the inputs are ``(sentence1, sentence2)``."""
        if isinstance(texts[0], str):
            return self.encode(model, texts)
        first, second = zip(*texts)
        return pair_features(self.encode(model, first), self.encode(model, second))

    def compute(self, model) -> dict[str, float]:
        test = {lang: (self._features(model, t), y) for lang, (t, y) in self.test_sets.items()}
        return zero_shot_classification(
            self._features(model, self.train_texts),
            self.train_labels,
            test,
            C=self.C,
            max_iter=self.max_iter,
            seed=self.seed,
        )
