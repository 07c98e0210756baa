"""Semantic rank correlation: do cosine scores order sentence pairs like graded gold labels?

The STS protocol (MTEB main score ``cosine_spearman``): embed both sides of each pair, take the
cosine, and correlate it with the gold scores. In the tiny profile the gold labels are the corpus's
silver semantic ranks (3 = translation, 2 = same article / catalog app, 1 = same thematic group /
source, 0 = unrelated, ``emmax_core.corpus.silver_ranks``), which is exactly the graded notion of
similarity EMMA-X's rank classifier learns (book: :ref:`algorithm-ranks`); in the colab profile they are
STS17's 0-5 scores. Spearman handles the many ties of 4-level ranks with average ranks.

Taught in: notebooks/07_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr

from .base import SentenceEvaluator, l2_normalize

__all__ = ["RankCorrelationEvaluator", "rank_correlation"]


def rank_correlation(embeddings1: np.ndarray, embeddings2: np.ndarray, scores) -> dict[str, float]:
    """Spearman and Pearson correlation between pair cosines and gold (or silver) scores.

    Args:
        embeddings1: ``(n, dim)`` first sentence of each pair.
        embeddings2: ``(n, dim)`` second sentence of each pair.
        scores: ``n`` graded labels (silver ranks 0..N-1 or STS scores 0-5).

    Returns:
        ``{"cosine_spearman", "cosine_pearson"}`` (``scipy.stats`` correlations, in [-1, 1]).

    Taught in: notebooks/07_evaluation.ipynb
    """
    scores = np.asarray(scores, dtype=float)
    if not len(embeddings1) == len(embeddings2) == len(scores):
        raise ValueError("embeddings1, embeddings2 and scores must have the same length (one per pair).")
    if len(scores) < 2 or np.all(scores == scores[0]):
        raise ValueError("scores must hold at least 2 pairs with different values to compute a correlation.")
    cosines = np.sum(l2_normalize(embeddings1) * l2_normalize(embeddings2), axis=1)
    return {
        "cosine_spearman": float(spearmanr(cosines, scores).statistic),
        "cosine_pearson": float(pearsonr(cosines, scores).statistic),
    }


class RankCorrelationEvaluator(SentenceEvaluator):
    """STS-style evaluator: Spearman of pair cosines vs graded labels; primary ``cosine_spearman``.

    Args:
        sentences1: ``n`` first sentences.
        sentences2: ``n`` second sentences.
        silver_ranks: ``n`` graded labels: silver semantic ranks, or any gold scores (e.g. STS17 0-5).
        name, batch_size: see :class:`~emmax_core.evaluation.base.SentenceEvaluator`.

    Returns (when called): ``cosine_spearman`` (primary) and ``cosine_pearson``.

    Taught in: notebooks/07_evaluation.ipynb
    """

    _primary = "cosine_spearman"

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        silver_ranks,
        name: str = "",
        batch_size: int = 32,
    ):
        super().__init__(name=name, batch_size=batch_size)
        if not len(sentences1) == len(sentences2) == len(silver_ranks) or len(sentences1) < 2:
            raise ValueError("sentences1, sentences2 and silver_ranks must have the same length (>= 2).")
        self.sentences1, self.sentences2 = list(sentences1), list(sentences2)
        self.silver_ranks = np.asarray(silver_ranks, dtype=float)

    def compute(self, model) -> dict[str, float]:
        return rank_correlation(
            self.encode(model, self.sentences1), self.encode(model, self.sentences2), self.silver_ranks
        )
