"""Neighbourhood quality: how often a sentence's nearest other-language neighbour is its translation.

EM labels unaligned sentences from the encoder's own neighbourhoods, so the share of NON-PARALLEL
sentences whose nearest neighbour is a translation is an upper bound on what a top-1 pseudo-labeller can
get right (book: :ref:`experiment-diagnostics`). Unlike the
bitext evaluators there is no pivot and no given pairing: every query searches a mixed pool of all
languages of the same source, as the EM candidate pool does, with its own language masked out::

    nn_precision = #{queries whose nearest other-language neighbour shares their unit}
                   / #{queries with a translation in the pool}
    recall@k     = #{queries with a translation among their k nearest other-language neighbours} / same

Leaves out on purpose: the GMM (its per-rank precision and recall are logged during EM by
:func:`emmax_core.diagnostics.em_diagnostics`); this measures the backbone alone, before any EM step.

Taught in: notebooks/09_ablations.ipynb (lever (a): a better backbone).
"""

from __future__ import annotations

import numpy as np

from .base import SentenceEvaluator, column, l2_normalize, macro_mean

__all__ = ["NeighbourhoodEvaluator", "neighbour_precision"]


def neighbour_precision(embeddings, units, langs, query_mask, ks=(1, 10)) -> dict:
    """Nearest-neighbour precision and recall@k of the query rows in a multilingual pool.

    Args:
        embeddings: ``(n, dim)`` the pool.
        units: ``(n,)`` meaning ids (same id = translations).
        langs: ``(n,)`` language codes; a query never retrieves its own language.
        query_mask: ``(n,)`` bool, rows that are queries (e.g. the NON-PARALLEL languages).
        ks: the ``k`` of each ``recall@k`` (1 is the nearest-neighbour precision).

    Returns:
        ``{"nn_precision", "recall@k"..., "reachable", "num_queries", "lang=<g>/nn_precision"...}``;
        ``reachable`` is the share of queries that have a translation in the pool (the others are skipped).

    Taught in: notebooks/09_ablations.ipynb
    """
    x = l2_normalize(embeddings)
    units, langs = np.asarray(units, dtype=object), np.asarray(langs, dtype=object)
    query_mask = np.asarray(query_mask, dtype=bool)
    if not (len(x) == len(units) == len(langs) == len(query_mask)):
        raise ValueError("embeddings, units, langs and query_mask must have one entry per pool row.")
    queries = np.flatnonzero(query_mask)
    if len(queries) == 0:
        raise ValueError("query_mask selects no row: pass the languages whose neighbourhoods to score.")
    sims = x[queries] @ x.T  # (q, n)
    sims[langs[queries][:, None] == langs[None, :]] = -np.inf  # own language (and self) never counts
    truth = (units[queries][:, None] == units[None, :]) & (langs[queries][:, None] != langs[None, :])
    reach = truth.any(axis=1)
    kmax = min(max(ks), sims.shape[1])
    top = np.argpartition(-sims, kmax - 1, axis=1)[:, :kmax]  # the k nearest, then sorted by similarity
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(sims, top, 1), 1, kind="stable"), 1)
    hits = np.take_along_axis(truth, top, axis=1)  # (q, kmax)
    out = {"reachable": float(reach.mean()), "num_queries": float(reach.sum())}
    for k in (1, *ks):
        out[f"recall@{k}"] = float(hits[reach, :k].any(axis=1).mean()) if reach.any() else float("nan")
    out["nn_precision"] = out.pop("recall@1") if 1 not in ks else out["recall@1"]
    for g in sorted(set(langs[queries])):
        sel = reach & (langs[queries] == g)
        if sel.any():
            out[f"lang={g}/nn_precision"] = float(hits[sel, 0].mean())
    return out


class NeighbourhoodEvaluator(SentenceEvaluator):
    """Nearest-neighbour precision of ``query_langs`` sentences in a pool of every language, per source.

    Args:
        rows: pool rows with ``lang``, ``unit_id``, ``text`` and ``source`` (e.g. a corpus slice).
        query_langs: languages whose sentences are queries (the NON-PARALLEL languages).
        ks: recall cut-offs.
        name, batch_size: see :class:`~emmax_core.evaluation.base.SentenceEvaluator`.

    Returns (when called): ``source=<s>/<metric>`` for each source, and ``nn_precision`` /
    ``recall@k`` macro-averaged over sources (the primary metric is ``nn_precision``).

    Taught in: notebooks/09_ablations.ipynb
    """

    _primary = "nn_precision"

    def __init__(self, rows, query_langs, ks=(1, 10), name: str = "", batch_size: int = 64):
        super().__init__(name, batch_size)
        self.langs, self.units = column(rows, "lang"), column(rows, "unit_id")
        self.texts, self.sources = column(rows, "text"), column(rows, "source")
        self.query_langs, self.ks = set(query_langs), tuple(ks)
        if not self.query_langs & set(self.langs):
            raise ValueError(f"query_langs {sorted(self.query_langs)[:5]} have no row in the pool; "
                             "pass languages present in rows['lang'].")

    def compute(self, model) -> dict[str, float]:
        """Encode the pool once and score each source's neighbourhoods separately."""
        return self.score(self.encode(model, list(self.texts)))

    def score(self, emb: np.ndarray) -> dict[str, float]:
        """The metrics from precomputed ``(n, dim)`` embeddings of the pool rows (unprefixed)."""
        if len(emb) != len(self.texts):
            raise ValueError(f"emb has {len(emb)} rows; the pool has {len(self.texts)}: embed the rows in order.")
        out, per = {}, []
        for src in sorted(set(self.sources)):
            sel = self.sources == src
            q = sel & np.isin(self.langs, list(self.query_langs))
            if not q.any():
                continue
            m = neighbour_precision(emb[sel], self.units[sel], self.langs[sel], q[sel], self.ks)
            out.update({f"source={src}/{k}": v for k, v in m.items()})
            per.append(m)
        for key in ("nn_precision", *(f"recall@{k}" for k in self.ks)):
            out[key] = macro_mean(m[key] for m in per if m[key] == m[key])
        return out
