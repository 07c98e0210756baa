"""Bitext retrieval (Tatoeba-style): find each sentence's translation by nearest cosine neighbour.

The score is top-1 accuracy ("acc@1"), in both directions, exactly as sentence-transformers'
``TranslationEvaluator`` computes it: row ``i`` of the source side is correct when its most similar
target row is row ``i``. EMMA-X reports this on Tatoeba as part of XRETE; the tiny profile runs it per
language on the shipped corpus (book: :ref:`experiment-scoring`).

Taught in: notebooks/07_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .base import SentenceEvaluator, column, cosine_similarity_matrix, encode, l2_normalize, macro_mean

__all__ = [
    "MultilingualRetrievalEvaluator",
    "RetrievalEvaluator",
    "evaluate_bitext_by_language",
    "retrieval_accuracy",
    "translation_accuracy",
]

_BITEXT_METRICS = ("src2trg_accuracy", "trg2src_accuracy", "mean_accuracy", "many_src2trg_accuracy")


def translation_accuracy(source_embeddings: np.ndarray, target_embeddings: np.ndarray) -> dict[str, float]:
    """Top-1 translation retrieval accuracy for aligned pairs, both directions.

    Args:
        source_embeddings: ``(n, dim)``; row ``i`` is the translation of target row ``i``.
        target_embeddings: ``(n, dim)``.

    Returns:
        ``{"src2trg_accuracy", "trg2src_accuracy", "mean_accuracy"}`` in [0, 1]. Ties go to the
        lowest index (``np.argmax``), as in sentence-transformers' ``TranslationEvaluator``.

    Taught in: notebooks/07_evaluation.ipynb
    """
    if len(source_embeddings) != len(target_embeddings):
        raise ValueError(
            f"source_embeddings and target_embeddings must be aligned (row i of each is one translation pair), "
            f"got {len(source_embeddings)} and {len(target_embeddings)} rows: pass the same number of rows."
        )
    sims = cosine_similarity_matrix(source_embeddings, target_embeddings)
    gold = np.arange(len(sims))
    src2trg = float(np.mean(sims.argmax(axis=1) == gold))
    trg2src = float(np.mean(sims.argmax(axis=0) == gold))
    return {
        "src2trg_accuracy": src2trg,
        "trg2src_accuracy": trg2src,
        "mean_accuracy": (src2trg + trg2src) / 2,
    }


def retrieval_accuracy(query_embeddings, candidate_embeddings, query_ids, candidate_ids) -> float:
    """Share of queries whose most similar candidate carries the same id (acc@1).

    Args:
        query_embeddings: ``(n, dim)``.
        candidate_embeddings: ``(m, dim)``; may hold distractors whose ids match no query.
        query_ids: ``n`` ids (e.g. ``unit_id``); a hit is ``candidate_ids[argmax] == query_ids[i]``.
        candidate_ids: ``m`` ids.

    Returns:
        Accuracy in [0, 1].

    Taught in: notebooks/07_evaluation.ipynb
    """
    query_ids, candidate_ids = np.asarray(query_ids), np.asarray(candidate_ids)
    if len(query_ids) != len(query_embeddings) or len(candidate_ids) != len(candidate_embeddings):
        raise ValueError("query_ids / candidate_ids must have one id per embedding row.")
    sims = cosine_similarity_matrix(query_embeddings, candidate_embeddings)
    return float(np.mean(candidate_ids[sims.argmax(axis=1)] == query_ids))


class RetrievalEvaluator(SentenceEvaluator):
    """Tatoeba-style bitext retrieval; same keys as sentence-transformers' ``TranslationEvaluator``.

    Args:
        source_sentences: ``n`` sentences; ``source_sentences[i]`` translates ``target_sentences[i]``.
        target_sentences: ``n`` sentences.
        name: metric prefix (``f"{name}_mean_accuracy"``).
        batch_size: passed to ``model.encode``.

    Returns (when called): ``src2trg_accuracy``, ``trg2src_accuracy``, ``mean_accuracy`` (primary).

    Taught in: notebooks/07_evaluation.ipynb
    """

    _primary = "mean_accuracy"

    def __init__(
        self,
        source_sentences: Sequence[str],
        target_sentences: Sequence[str],
        name: str = "",
        batch_size: int = 32,
    ):
        super().__init__(name=name, batch_size=batch_size)
        if len(source_sentences) != len(target_sentences) or not source_sentences:
            raise ValueError("source_sentences and target_sentences must be non-empty and of equal length.")
        self.source_sentences, self.target_sentences = list(source_sentences), list(target_sentences)

    def compute(self, model) -> dict[str, float]:
        return translation_accuracy(
            self.encode(model, self.source_sentences), self.encode(model, self.target_sentences)
        )


def _pair_scores(emb, units, query_idx, pivot_idx, many_idx) -> dict[str, float]:
    """acc@1 of one language against the pivot: paired candidates both ways, plus many candidates."""
    sims = emb[query_idx] @ emb[pivot_idx].T
    src2trg = float(np.mean(units[pivot_idx][sims.argmax(axis=1)] == units[query_idx]))
    trg2src = float(np.mean(units[query_idx][sims.argmax(axis=0)] == units[pivot_idx]))
    many = emb[query_idx] @ emb[many_idx].T
    return {
        "src2trg_accuracy": src2trg,
        "trg2src_accuracy": trg2src,
        "mean_accuracy": (src2trg + trg2src) / 2,
        "many_src2trg_accuracy": float(np.mean(units[many_idx][many.argmax(axis=1)] == units[query_idx])),
    }


def _language_scores(emb, langs, units, in_scope, pivot) -> dict[str, dict[str, float]]:
    """Per-language scores using only the rows where ``in_scope`` is True (``units`` are integer codes)."""
    pivot_rows = in_scope & (langs == pivot)
    pivot_units = np.unique(units[pivot_rows])
    out = {}
    for lang in sorted(set(langs[in_scope].tolist()) - {pivot}):
        lang_rows = in_scope & (langs == lang)
        shared = np.intersect1d(units[lang_rows], pivot_units)
        if not len(shared):
            continue
        has_pair = np.isin(units, shared)
        out[lang] = _pair_scores(
            emb,
            units,
            np.flatnonzero(lang_rows & has_pair),
            np.flatnonzero(pivot_rows & has_pair),
            np.flatnonzero(pivot_rows),
        )
    return out


def evaluate_bitext_by_language(
    embeddings_or_model,
    rows,
    pivot: str = "eng",
    groups: Mapping[str, Sequence[str]] | None = None,
    batch_size: int = 32,
) -> dict[str, float]:
    """acc@1 of every language against the pivot, per source and macro-averaged per language group.

    For language L (and each source S), queries are L's sentences whose unit also has a pivot sentence;
    candidates are the pivot sentences of those same units (Tatoeba protocol; xx->pivot is
    ``src2trg``, pivot->xx is ``trg2src``). ``many_src2trg_accuracy`` uses every pivot sentence of the
    scope as candidates (harder: units that L lacks act as distractors).

    Args:
        embeddings_or_model: ``(n, dim)`` embeddings aligned with ``rows``, or a model with ``encode``.
        rows: ``n`` rows with ``lang``, ``unit_id``, ``text`` and optional ``source`` (a
            ``datasets.Dataset``, DataFrame, dict of lists or list of dicts; e.g. ``load_corpus()``).
        pivot: the pivot language code.
        groups: optional ``{group_name: [lang, ...]}`` (e.g. the experiment's NON-PARALLEL and UNSEEN).
        batch_size: used only when a model is given.

    Returns:
        Flat ``dict[str, float]`` with keys ``lang={L}/{metric}``, ``source={S}/lang={L}/{metric}``,
        ``source={S}/{metric}``, ``group={G}/{metric}`` (nan if no member occurs),
        ``group={G}/source={S}/{metric}`` (only where a member occurs in S) and overall ``{metric}``;
        aggregates are macro means over languages. Metrics: ``src2trg_accuracy``,
        ``trg2src_accuracy``, ``mean_accuracy``, ``many_src2trg_accuracy``.

    Taught in: notebooks/07_evaluation.ipynb
    """
    langs = column(rows, "lang").astype(str)
    # Integer unit codes: comparing and matching ints is far faster than Python strings.
    units = np.unique(column(rows, "unit_id").astype(str), return_inverse=True)[1]
    try:
        sources = column(rows, "source").astype(str)
    except ValueError:
        sources = np.full(len(langs), "all")
    if hasattr(embeddings_or_model, "encode"):
        emb = encode(embeddings_or_model, list(column(rows, "text")), batch_size)
    else:
        emb = np.asarray(embeddings_or_model)
    if len(emb) != len(langs):
        raise ValueError(f"embeddings have {len(emb)} rows but rows has {len(langs)}; they must be aligned.")
    if pivot not in set(langs.tolist()):
        raise ValueError(f"pivot language {pivot!r} does not occur in rows['lang']; pick one that does.")
    emb = l2_normalize(emb).astype(np.float32)  # float32 halves the cost of the similarity matmuls
    per_lang = _language_scores(emb, langs, units, np.ones(len(langs), bool), pivot)
    per_source = {
        s: _language_scores(emb, langs, units, sources == s, pivot) for s in sorted(set(sources.tolist()))
    }
    out: dict[str, float] = {}
    for lang, scores in per_lang.items():
        out.update({f"lang={lang}/{m}": v for m, v in scores.items()})
    for src, by_lang in per_source.items():
        for lang, scores in by_lang.items():
            out.update({f"source={src}/lang={lang}/{m}": v for m, v in scores.items()})
    for metric in _BITEXT_METRICS:
        out[metric] = macro_mean(s[metric] for s in per_lang.values())
        for src, by_lang in per_source.items():
            out[f"source={src}/{metric}"] = macro_mean(s[metric] for s in by_lang.values())
        for group, members in (groups or {}).items():
            out[f"group={group}/{metric}"] = macro_mean(per_lang[m][metric] for m in members if m in per_lang)
            for src, by_lang in per_source.items():
                present = [by_lang[m][metric] for m in members if m in by_lang]
                if present:  # a source may hold none of the group's languages: no key rather than nan
                    out[f"group={group}/source={src}/{metric}"] = macro_mean(present)
    return out


class MultilingualRetrievalEvaluator(SentenceEvaluator):
    """:func:`evaluate_bitext_by_language` as an evaluator; primary metric ``mean_accuracy`` (macro over languages).

    Args:
        rows, pivot, groups: see :func:`evaluate_bitext_by_language`.
        name, batch_size: see :class:`~emmax_core.evaluation.base.SentenceEvaluator`.

    Taught in: notebooks/07_evaluation.ipynb
    """

    _primary = "mean_accuracy"

    def __init__(self, rows, pivot: str = "eng", groups=None, name: str = "", batch_size: int = 32):
        super().__init__(name=name, batch_size=batch_size)
        self.rows, self.pivot, self.groups = rows, pivot, groups

    def compute(self, model) -> dict[str, float]:
        return evaluate_bitext_by_language(model, self.rows, self.pivot, self.groups, self.batch_size)
