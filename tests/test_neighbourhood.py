"""Neighbourhood precision (lever (a)'s measure) against an explicit loop and hand-made cases."""

import numpy as np
import pytest

from emmax_core.evaluation import NeighbourhoodEvaluator, neighbour_precision


def _brute(emb, units, langs, queries, k):
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    hits, reach = [], []
    for i in queries:
        cands = [j for j in range(len(x)) if langs[j] != langs[i]]
        has = any(units[j] == units[i] for j in cands)
        reach.append(has)
        if has:
            order = sorted(cands, key=lambda j: (-float(x[i] @ x[j]), j))[:k]
            hits.append(any(units[j] == units[i] for j in order))
    return float(np.mean(hits)), float(np.mean(reach))


def test_matches_explicit_loop():
    rng = np.random.default_rng(0)
    n = 60
    emb = rng.normal(size=(n, 8))
    units = rng.integers(0, 15, size=n).astype(str)
    langs = rng.choice(["a", "b", "c"], size=n)
    q = langs == "a"
    m = neighbour_precision(emb, units, langs, q, ks=(1, 5))
    p1, reach = _brute(emb, units, langs, np.flatnonzero(q), 1)
    p5, _ = _brute(emb, units, langs, np.flatnonzero(q), 5)
    assert m["nn_precision"] == pytest.approx(p1) and m["recall@1"] == pytest.approx(p1)
    assert m["recall@5"] == pytest.approx(p5) and m["reachable"] == pytest.approx(reach)
    assert m["recall@5"] >= m["nn_precision"]


def test_hand_case_own_language_is_masked():
    # Query "x" (lang a, unit 1): its nearest row overall is a same-language look-alike (unit 2),
    # then a translation (unit 1, lang b), then an unrelated sentence of lang b.
    emb = np.array([[1.0, 0.0], [0.99, 0.1], [0.9, 0.4], [0.0, 1.0]])
    units, langs = ["1", "2", "1", "3"], ["a", "a", "b", "b"]
    m = neighbour_precision(emb, units, langs, [True, False, False, False], ks=(1,))
    assert m["nn_precision"] == 1.0 and m["lang=a/nn_precision"] == 1.0
    units[2] = "9"  # no translation left: the query is unreachable, precision undefined
    m = neighbour_precision(emb, units, langs, [True, False, False, False], ks=(1,))
    assert m["reachable"] == 0.0 and np.isnan(m["nn_precision"])


class _Lookup:
    def __init__(self, table):
        self.table = table

    def encode(self, texts, batch_size=32, convert_to_numpy=True):
        return np.array([self.table[t] for t in texts])


def test_evaluator_scores_each_source_and_rejects_missing_queries():
    rows = [{"lang": g, "unit_id": u, "text": f"{g}{u}{s}", "source": s}
            for s in ("udhr", "sphinx") for u in ("1", "2") for g in ("a", "b")]
    table = {r["text"]: np.eye(4)[int(r["unit_id"]) - 1 + (2 if r["source"] == "sphinx" else 0)] for r in rows}
    ev = NeighbourhoodEvaluator(rows, ["a"], ks=(1,), name="nb")
    m = ev(_Lookup(table))
    assert ev.primary_metric == "nb_nn_precision" and m["nb_nn_precision"] == 1.0
    assert m["nb_source=udhr/nn_precision"] == 1.0 and m["nb_source=sphinx/nn_precision"] == 1.0
    with pytest.raises(ValueError, match="query_langs"):
        NeighbourhoodEvaluator(rows, ["zzz"])
