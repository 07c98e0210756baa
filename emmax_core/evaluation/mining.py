"""Bitext mining (BUCC-style): find the translation pairs hidden among unaligned distractors.

Scores are the ratio margin of Artetxe & Schwenk (2019, "Margin-based parallel corpus mining with
multilingual sentence embeddings"), which corrects cosine for hubness:

    margin(x, y) = cos(x, y) / ( sum_{z in NN_k(x)} cos(x, z) / 2k  +  sum_{z in NN_k(y)} cos(y, z) / 2k )

with NN_k(x) the k nearest targets of source x and NN_k(y) the k nearest sources of target y.
Candidates come from forward (each source's best target), backward (each target's best source),
intersection, or max-score (the union, greedily de-duplicated by score, as in LASER). A pair is
accepted when its score passes a threshold; F1 against the gold pairs is reported at the threshold
that maximises it on this set (BUCC tunes it on a train split, so this is an optimistic,
"oracle-threshold" F1, the usual choice at small scale). EMMA-X reports BUCC F1 in XRETE.

Taught in: notebooks/07_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .base import SentenceEvaluator, column, cosine_similarity_matrix

__all__ = ["MiningEvaluator", "MiningTask", "make_mining_task", "margin_scores", "mine_pairs", "mining_f1"]

_MODES = ("forward", "backward", "intersection", "max")


def _mean_top_k(sims: np.ndarray, k: int) -> np.ndarray:
    """Mean of the k largest values of each row; ``(n, m) -> (n,)``."""
    k = min(k, sims.shape[1])
    return -np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1)


def margin_scores(
    source_embeddings: np.ndarray, target_embeddings: np.ndarray, k: int = 4, margin: str = "ratio"
) -> np.ndarray:
    """Margin-based scores between every source and target sentence (Artetxe & Schwenk, 2019).

    Args:
        source_embeddings: ``(n, dim)``.
        target_embeddings: ``(m, dim)``.
        k: neighbours averaged in each direction (clipped to the other side's size).
        margin: ``"ratio"`` (cos / mean-neighbour-cos, the paper's best) or ``"distance"`` (difference).

    Returns:
        ``(n, m)`` array of margin scores.

    Taught in: notebooks/07_evaluation.ipynb
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    sims = cosine_similarity_matrix(source_embeddings, target_embeddings)
    neighbourhood = (_mean_top_k(sims, k)[:, None] + _mean_top_k(sims.T, k)[None, :]) / 2
    if margin == "ratio":
        return sims / neighbourhood
    if margin == "distance":
        return sims - neighbourhood
    raise ValueError(f"margin must be 'ratio' or 'distance', got {margin!r}.")


def mine_pairs(
    source_embeddings: np.ndarray,
    target_embeddings: np.ndarray,
    k: int = 4,
    mode: str = "max",
    margin: str = "ratio",
) -> list[tuple[int, int, float]]:
    """Candidate translation pairs with their margin scores, best first.

    Args:
        source_embeddings: ``(n, dim)``.
        target_embeddings: ``(m, dim)``.
        k: neighbours for the margin.
        mode: ``"forward"``, ``"backward"``, ``"intersection"`` or ``"max"`` (union of forward and
            backward, kept greedily by score so each sentence is used at most once).
        margin: see :func:`margin_scores`.

    Returns:
        ``[(source_index, target_index, score), ...]`` sorted by decreasing score.

    Taught in: notebooks/07_evaluation.ipynb
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
    scores = margin_scores(source_embeddings, target_embeddings, k=k, margin=margin)
    forward = {(i, int(j)) for i, j in enumerate(scores.argmax(axis=1))}
    backward = {(int(i), j) for j, i in enumerate(scores.argmax(axis=0))}
    pairs = {
        "forward": forward,
        "backward": backward,
        "intersection": forward & backward,
        "max": forward | backward,
    }[mode]
    ranked = sorted(((i, j, float(scores[i, j])) for i, j in pairs), key=lambda p: (-p[2], p[0], p[1]))
    if mode != "max":
        return ranked
    used_src, used_trg, kept = set(), set(), []
    for i, j, s in ranked:
        if i not in used_src and j not in used_trg:
            kept.append((i, j, s))
            used_src.add(i)
            used_trg.add(j)
    return kept


def mining_f1(
    candidates: Sequence[tuple[int, int, float]], gold_pairs, threshold: float | None = None
) -> dict[str, float]:
    """Precision, recall and F1 of mined pairs, at a given threshold or at the F1-maximising one.

    Args:
        candidates: ``[(source_index, target_index, score), ...]`` as returned by :func:`mine_pairs`.
        gold_pairs: iterable of true ``(source_index, target_index)`` pairs.
        threshold: accept pairs with ``score >= threshold``; ``None`` searches every cut between
            distinct scores and keeps the best F1.

    Returns:
        ``{"precision", "recall", "f1", "threshold"}`` (threshold is ``nan`` when nothing is accepted).

    Taught in: notebooks/07_evaluation.ipynb
    """
    gold = {(int(i), int(j)) for i, j in gold_pairs}
    if not gold:
        raise ValueError("gold_pairs is empty; mining F1 needs at least one true pair.")
    ranked = sorted(candidates, key=lambda p: -p[2])
    scores = np.array([p[2] for p in ranked], dtype=float)
    hits = np.concatenate([[0], np.cumsum([(int(i), int(j)) in gold for i, j, _ in ranked])])

    def at_cut(t: int, thr: float) -> dict[str, float]:
        """Metrics when the ``t`` best candidates are accepted."""
        precision, recall = (hits[t] / t if t else 0.0), hits[t] / len(gold)
        f1 = 2 * precision * recall / (precision + recall) if hits[t] else 0.0
        return {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "threshold": float(thr),
        }

    if threshold is not None:
        return at_cut(int(np.sum(scores >= threshold)), threshold)
    # A threshold can only cut between two different scores, never inside a tie.
    cuts = [t for t in range(1, len(ranked) + 1) if t == len(ranked) or scores[t - 1] > scores[t]]
    results = [at_cut(t, scores[t - 1]) for t in cuts]
    return max(results, key=lambda r: r["f1"], default=at_cut(0, float("nan")))


@dataclass(frozen=True)
class MiningTask:
    """A BUCC-style task: two shuffled sides, only some sentences with a translation on the other side.

    ``source_rows`` / ``target_rows`` index the rows the task was built from (to reuse embeddings).
    """

    source_sentences: list[str]
    target_sentences: list[str]
    gold_pairs: list[tuple[int, int]]
    source_rows: list[int]
    target_rows: list[int]


def make_mining_task(
    rows, lang: str, pivot: str = "eng", gold_fraction: float = 0.5, seed: int = 0
) -> MiningTask:
    """Build a mining task from parallel rows: some units on both sides, the rest as distractors.

    Args:
        rows: rows with ``lang``, ``unit_id``, ``text`` (e.g. ``load_corpus()`` or a hub loader's output).
        lang: the source language; ``pivot`` is the target language.
        gold_fraction: share of shared units kept on both sides; the others are split into
            source-only and target-only distractors (sentences whose translation is absent).
        seed: shuffling seed.

    Returns:
        A :class:`MiningTask`.

    Taught in: notebooks/07_evaluation.ipynb
    """
    if not 0 < gold_fraction <= 1:
        raise ValueError(f"gold_fraction must be in (0, 1], got {gold_fraction}.")
    langs, units, texts = (column(rows, name) for name in ("lang", "unit_id", "text"))
    first = {}
    for idx, (lg, unit) in enumerate(zip(langs, units)):
        if lg in (lang, pivot):
            first.setdefault((lg, unit), idx)
    shared = sorted({u for lg, u in first if lg == lang} & {u for lg, u in first if lg == pivot})
    if len(shared) < 2:
        raise ValueError(f"fewer than 2 units have both {lang!r} and {pivot!r}; pick other languages.")
    rng = np.random.default_rng(seed)
    order = [shared[i] for i in rng.permutation(len(shared))]
    n_gold = max(1, round(gold_fraction * len(order)))
    gold_units, rest = order[:n_gold], order[n_gold:]
    src_units = gold_units + rest[0::2]
    trg_units = gold_units + rest[1::2]
    src_units = [src_units[i] for i in rng.permutation(len(src_units))]
    trg_units = [trg_units[i] for i in rng.permutation(len(trg_units))]
    src_pos = {u: i for i, u in enumerate(src_units)}
    gold = sorted((src_pos[u], j) for j, u in enumerate(trg_units) if u in src_pos)
    src_rows = [first[(lang, u)] for u in src_units]
    trg_rows = [first[(pivot, u)] for u in trg_units]
    return MiningTask(
        [str(texts[i]) for i in src_rows], [str(texts[i]) for i in trg_rows], gold, src_rows, trg_rows
    )


class MiningEvaluator(SentenceEvaluator):
    """BUCC-style margin mining; primary metric ``f1`` (also ``precision``, ``recall``, ``threshold``).

    Args:
        source_sentences: ``n`` sentences in one language (with distractors).
        target_sentences: ``m`` sentences in the other language (with distractors).
        gold_pairs: true ``(source_index, target_index)`` pairs.
        k, mode, margin: see :func:`mine_pairs`.
        threshold: fixed score threshold; ``None`` reports the F1-maximising one.
        name, batch_size: see :class:`~emmax_core.evaluation.base.SentenceEvaluator`.

    Taught in: notebooks/07_evaluation.ipynb
    """

    _primary = "f1"

    def __init__(
        self,
        source_sentences,
        target_sentences,
        gold_pairs,
        k: int = 4,
        mode: str = "max",
        margin: str = "ratio",
        threshold: float | None = None,
        name: str = "",
        batch_size: int = 32,
    ):
        super().__init__(name=name, batch_size=batch_size)
        if not source_sentences or not target_sentences:
            raise ValueError("source_sentences and target_sentences must be non-empty.")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}.")
        self.source_sentences, self.target_sentences = list(source_sentences), list(target_sentences)
        self.gold_pairs = [(int(i), int(j)) for i, j in gold_pairs]
        self.k, self.mode, self.margin, self.threshold = k, mode, margin, threshold

    def compute(self, model) -> dict[str, float]:
        candidates = mine_pairs(
            self.encode(model, self.source_sentences),
            self.encode(model, self.target_sentences),
            k=self.k,
            mode=self.mode,
            margin=self.margin,
        )
        return mining_f1(candidates, self.gold_pairs, threshold=self.threshold)
