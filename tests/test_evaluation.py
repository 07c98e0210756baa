"""Evaluation tasks (retrieval, mining, classification, rank correlation) against explicit oracles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from emmax_core.evaluation import (
    MiningEvaluator,
    MultilingualRetrievalEvaluator,
    RankCorrelationEvaluator,
    RetrievalEvaluator,
    ZeroShotClassificationEvaluator,
    evaluate_bitext_by_language,
    make_mining_task,
    margin_scores,
    mine_pairs,
    mining_f1,
    pair_features,
    rank_correlation,
    retrieval_accuracy,
    translation_accuracy,
    zero_shot_classification,
)


class LookupModel:
    """Stand-in for SentenceEncoder: a fixed vector per sentence, same ``encode`` signature."""

    def __init__(self, table):
        self.table = table
        self.batch_sizes = []

    def encode(self, sentences, batch_size=32, convert_to_numpy=True):
        assert convert_to_numpy and isinstance(sentences, list)
        self.batch_sizes.append(batch_size)
        return np.stack([self.table[s] for s in sentences])


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _noisy_pairs(n=30, dim=16, noise=0.9, seed=0):
    rng = np.random.default_rng(seed)
    src = rng.normal(size=(n, dim))
    return src, src + noise * rng.normal(size=(n, dim))


def test_translation_accuracy_matches_explicit_argmax_loop():
    src, trg = _noisy_pairs()
    expected_s2t = np.mean([np.argmax([_cos(s, t) for t in trg]) == i for i, s in enumerate(src)])
    expected_t2s = np.mean([np.argmax([_cos(t, s) for s in src]) == i for i, t in enumerate(trg)])
    got = translation_accuracy(src, trg)
    assert 0 < got["src2trg_accuracy"] < 1  # the case must be neither trivial nor hopeless
    assert got["src2trg_accuracy"] == pytest.approx(expected_s2t)
    assert got["trg2src_accuracy"] == pytest.approx(expected_t2s)
    assert got["mean_accuracy"] == pytest.approx((expected_s2t + expected_t2s) / 2)


def test_retrieval_accuracy_with_distractors_matches_loop():
    src, trg = _noisy_pairs(n=20)
    rng = np.random.default_rng(1)
    candidates = np.vstack([trg, rng.normal(size=(15, 16))])
    cand_ids = list(range(20)) + [-1] * 15
    expected = np.mean(
        [cand_ids[int(np.argmax([_cos(q, c) for c in candidates]))] == i for i, q in enumerate(src)]
    )
    assert retrieval_accuracy(src, candidates, list(range(20)), cand_ids) == pytest.approx(expected)


def test_retrieval_evaluator_keys_prefix_and_output(tmp_path):
    src, trg = _noisy_pairs(n=10, noise=0.01)
    table = {f"s{i}": v for i, v in enumerate(src)} | {f"t{i}": v for i, v in enumerate(trg)}
    model = LookupModel(table)
    evaluator = RetrievalEvaluator(
        [f"s{i}" for i in range(10)], [f"t{i}" for i in range(10)], name="tatoeba", batch_size=7
    )
    metrics = evaluator(model, output_path=str(tmp_path))
    assert set(metrics) == {"tatoeba_src2trg_accuracy", "tatoeba_trg2src_accuracy", "tatoeba_mean_accuracy"}
    assert evaluator.primary_metric == "tatoeba_mean_accuracy" and evaluator.greater_is_better
    assert metrics["tatoeba_mean_accuracy"] == 1.0
    assert model.batch_sizes == [7, 7]
    assert json.loads((tmp_path / "tatoeba_results.json").read_text()) == metrics
    assert RetrievalEvaluator(["a"], ["b"]).primary_metric == "mean_accuracy"
    with pytest.raises(ValueError, match="equal length"):
        RetrievalEvaluator(["a", "b"], ["c"])


def _bitext_rows(seed=0):
    """Two sources; 'deu' sits near its pivot sentence, 'fra' is noisy, 'swh' is random."""
    rng = np.random.default_rng(seed)
    rows, emb = [], []
    for source, n_units in (("udhr", 12), ("django", 10)):
        for u in range(n_units):
            unit, base = f"{source}:{u}", rng.normal(size=16)
            for lang, noise in (("eng", 0.0), ("deu", 0.1), ("fra", 1.0), ("swh", None)):
                if lang == "swh" and u % 3 == 0:
                    continue  # swh lacks some units: those pivot sentences become "many" distractors
                rows.append({"source": source, "unit_id": unit, "lang": lang, "text": f"{lang}|{unit}"})
                emb.append(rng.normal(size=16) if noise is None else base + noise * rng.normal(size=16))
    return rows, np.array(emb)


def test_bitext_by_language_matches_explicit_loop_and_aggregates():
    rows, emb = _bitext_rows()
    out = evaluate_bitext_by_language(emb, rows, groups={"A": ["deu", "fra"], "B": ["swh"]})

    def loop(lang, source, many=False):
        idx = [i for i, r in enumerate(rows) if (source is None or r["source"] == source)]
        queries = [i for i in idx if rows[i]["lang"] == lang]
        units = {rows[i]["unit_id"] for i in queries}
        cands = [i for i in idx if rows[i]["lang"] == "eng" and (many or rows[i]["unit_id"] in units)]
        best = [cands[int(np.argmax([_cos(emb[q], emb[c]) for c in cands]))] for q in queries]
        return np.mean([rows[b]["unit_id"] == rows[q]["unit_id"] for q, b in zip(queries, best)])

    for lang in ("deu", "fra", "swh"):
        assert out[f"lang={lang}/src2trg_accuracy"] == pytest.approx(loop(lang, None))
        assert out[f"lang={lang}/many_src2trg_accuracy"] == pytest.approx(loop(lang, None, many=True))
        assert out[f"source=udhr/lang={lang}/src2trg_accuracy"] == pytest.approx(loop(lang, "udhr"))
    assert out["lang=deu/mean_accuracy"] == 1.0 and out["lang=swh/mean_accuracy"] < 0.7
    assert out["group=A/mean_accuracy"] == pytest.approx(
        (out["lang=deu/mean_accuracy"] + out["lang=fra/mean_accuracy"]) / 2
    )
    assert out["source=django/mean_accuracy"] == pytest.approx(
        np.mean([out[f"source=django/lang={g}/mean_accuracy"] for g in ("deu", "fra", "swh")])
    )
    assert out["mean_accuracy"] == pytest.approx(
        np.mean([out[f"lang={g}/mean_accuracy"] for g in ("deu", "fra", "swh")])
    )
    model = LookupModel({r["text"]: e for r, e in zip(rows, emb)})
    assert evaluate_bitext_by_language(model, rows) == {k: v for k, v in out.items() if "group=" not in k}
    evaluator = MultilingualRetrievalEvaluator(rows, groups={"A": ["deu", "fra"]}, name="bitext")
    assert evaluator.primary_metric == "bitext_mean_accuracy"
    assert evaluator(model)["bitext_group=A/mean_accuracy"] == out["group=A/mean_accuracy"]
    with pytest.raises(ValueError, match="pivot"):
        evaluate_bitext_by_language(emb, rows, pivot="xxx")


def test_margin_scores_match_brute_force_loop():
    rng = np.random.default_rng(0)
    x, y, k = rng.normal(size=(7, 5)), rng.normal(size=(9, 5)), 3
    cos = np.array([[_cos(a, b) for b in y] for a in x])
    expected = np.zeros_like(cos)
    for i in range(len(x)):
        for j in range(len(y)):
            nn_x = sorted(cos[i, :], reverse=True)[:k]
            nn_y = sorted(cos[:, j], reverse=True)[:k]
            expected[i, j] = cos[i, j] / (sum(nn_x) / (2 * k) + sum(nn_y) / (2 * k))
    np.testing.assert_allclose(margin_scores(x, y, k=k), expected, rtol=1e-10)
    np.testing.assert_allclose(
        margin_scores(x, y, k=k, margin="distance"), cos - (cos / expected), rtol=1e-10, atol=1e-12
    )


def test_mine_pairs_modes():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 8)), rng.normal(size=(4, 8))
    scores = margin_scores(x, y)
    forward = mine_pairs(x, y, mode="forward")
    assert len(forward) == 6 and all(j == int(np.argmax(scores[i])) for i, j, _ in forward)
    assert [s for *_, s in forward] == sorted((s for *_, s in forward), reverse=True)
    assert {(i, j) for i, j, _ in mine_pairs(x, y, mode="intersection")} <= {(i, j) for i, j, _ in forward}
    kept = mine_pairs(x, y, mode="max")
    assert len({i for i, _, _ in kept}) == len(kept) == len({j for _, j, _ in kept})


def test_mining_f1_hand_made_case():
    candidates = [(0, 0, 0.9), (1, 2, 0.8), (2, 1, 0.7), (3, 3, 0.6)]
    gold = [(0, 0), (2, 1), (4, 4)]
    best = mining_f1(candidates, gold)  # cuts: F1 = 1/2, 2/5, 2/3, 4/7 -> 2/3 at threshold 0.7
    assert best == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "threshold": 0.7})
    fixed = mining_f1(candidates, gold, threshold=0.85)
    assert fixed == pytest.approx({"precision": 1.0, "recall": 1 / 3, "f1": 0.5, "threshold": 0.85})
    # A threshold cannot split the tie at 0.5, so the unrealisable cut after (1, 1) must not win.
    tied = mining_f1([(0, 0, 0.9), (1, 1, 0.5), (2, 2, 0.5)], [(0, 0), (1, 1)])
    assert tied["f1"] == pytest.approx(0.8) and tied["threshold"] == 0.5


def test_mining_evaluator_finds_hidden_pairs():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(10, 32))
    src = [f"s{i}" for i in range(8)]  # s0..s5 have partners, s6, s7 are distractors
    trg = [f"t{j}" for j in range(9)]  # t_j is the translation of s_{5-j} for j <= 5
    table = {f"s{i}": base[i] + 0.05 * rng.normal(size=32) for i in range(8)}
    table |= {f"t{j}": base[5 - j] + 0.05 * rng.normal(size=32) for j in range(6)}
    table |= {f"t{j}": rng.normal(size=32) for j in range(6, 9)}
    evaluator = MiningEvaluator(src, trg, [(5 - j, j) for j in range(6)], k=3)
    metrics = evaluator(LookupModel(table))
    assert set(metrics) == {"precision", "recall", "f1", "threshold"} and evaluator.primary_metric == "f1"
    assert metrics["f1"] == 1.0


def test_make_mining_task_structure():
    rows, _ = _bitext_rows()
    task = make_mining_task(rows, "deu", gold_fraction=0.5, seed=1)
    unit = [r["unit_id"] for r in rows]
    assert len(task.gold_pairs) == 11
    assert len(task.source_sentences) + len(task.target_sentences) == 2 * 11 + 11
    for i, j in task.gold_pairs:
        assert unit[task.source_rows[i]] == unit[task.target_rows[j]]
    gold_src = {i for i, _ in task.gold_pairs}
    trg_units = {unit[r] for r in task.target_rows}
    assert all(
        unit[task.source_rows[i]] not in trg_units for i in range(len(task.source_rows)) if i not in gold_src
    )
    assert all(rows[r]["lang"] == "eng" for r in task.target_rows)


def test_rank_correlation_matches_scipy_and_evaluator():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 6)), rng.normal(size=(12, 6))
    ranks = rng.integers(0, 4, size=12)
    cosines = [_cos(u, v) for u, v in zip(a, b)]
    got = rank_correlation(a, b, ranks)
    assert got["cosine_spearman"] == pytest.approx(spearmanr(cosines, ranks).statistic)
    assert got["cosine_pearson"] == pytest.approx(np.corrcoef(cosines, ranks)[0, 1])
    # Pairs built at decreasing angles: cosine order equals rank order, Spearman is exactly 1.
    angles = np.array([1.4, 1.0, 0.6, 0.2])
    u, v = np.tile([1.0, 0.0], (4, 1)), np.stack([np.cos(angles), np.sin(angles)], axis=1)
    table = {f"u{i}": u[i] for i in range(4)} | {f"v{i}": v[i] for i in range(4)}
    evaluator = RankCorrelationEvaluator(
        [f"u{i}" for i in range(4)], [f"v{i}" for i in range(4)], [0, 1, 2, 3]
    )
    metrics = evaluator(LookupModel(table))
    assert evaluator.primary_metric == "cosine_spearman" and metrics["cosine_spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="different values"):
        rank_correlation(a[:3], b[:3], [1, 1, 1])


def _clusters(n_per_class, noise, seed):
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 8) * 3
    labels = np.repeat(np.arange(3), n_per_class)
    return centres[labels] + noise * rng.normal(size=(len(labels), 8)), labels


def test_zero_shot_classification_on_separable_data():
    train_x, train_y = _clusters(20, 0.3, seed=0)
    near_x, near_y = _clusters(10, 0.3, seed=1)
    far_x, far_y = _clusters(10, 0.3, seed=2)
    far_x = np.roll(far_x, 3, axis=1)  # a "language" living elsewhere in the space
    out = zero_shot_classification(train_x, train_y, {"deu": (near_x, near_y), "swh": (far_x, far_y)})
    assert out["lang=deu/accuracy"] == 1.0 and out["lang=deu/macro_f1"] == 1.0
    assert out["lang=swh/accuracy"] < 0.7
    assert out["mean_accuracy"] == pytest.approx((1.0 + out["lang=swh/accuracy"]) / 2)


def test_zero_shot_evaluator_sentences_and_pairs():
    train_x, train_y = _clusters(10, 0.3, seed=0)
    test_x, test_y = _clusters(5, 0.3, seed=1)
    table = {f"tr{i}": v for i, v in enumerate(train_x)} | {f"te{i}": v for i, v in enumerate(test_x)}
    evaluator = ZeroShotClassificationEvaluator(
        [f"tr{i}" for i in range(30)], train_y, {"deu": ([f"te{i}" for i in range(15)], test_y)}, name="x"
    )
    metrics = evaluator(LookupModel(table))
    assert evaluator.primary_metric == "x_mean_accuracy" and metrics["x_mean_accuracy"] == 1.0
    assert set(metrics) == {
        "x_lang=deu/accuracy",
        "x_lang=deu/macro_f1",
        "x_mean_accuracy",
        "x_mean_macro_f1",
    }
    pairs = ZeroShotClassificationEvaluator(
        [(f"tr{i}", f"tr{i}") for i in range(30)],
        train_y,
        {"deu": ([(f"te{i}", f"te{i}") for i in range(15)], test_y)},
    )
    assert pairs(LookupModel(table))["mean_accuracy"] == 1.0
    u, v = np.ones((2, 3)), np.zeros((2, 3))
    np.testing.assert_array_equal(pair_features(u, v), np.hstack([u, v, u, v]))


def test_suite_rank_correlation_samples_every_silver_rank_equally():
    import pandas as pd

    from emmax_core.corpus import silver_ranks
    from emmax_core.evaluation.suite import _rank_correlation

    units = ["django:admin/a1", "django:admin/a2", "django:auth/b1", "sphinx:html/c1", "sphinx:html/c2"]
    rows = pd.DataFrame([{"unit_id": u, "lang": g} for g in ("eng", "fra", "deu") for u in units])
    seen = []

    def spy(e1, e2, ranks):
        seen.append(list(ranks))
        return rank_correlation(e1, e2, ranks)

    # embeddings whose cosine grows with the silver rank: one direction per unit, shared per article
    base = {u: np.eye(8)[i] + 0.8 * np.eye(8)[5 + (i > 2)] + 2.0 * np.eye(8)[7] * (i < 3)
            for i, u in enumerate(units)}
    emb = np.stack([base[u] for u in rows.unit_id])
    out = _rank_correlation(rows, emb, {"X": ["fra", "deu"]}, seed=0, rank_correlation=spy, per_rank=4)
    counts = np.bincount(seen[0])
    assert len(counts) == 4 and counts.min() == counts.max() == 4  # stratified: 4 pairs of every rank
    assert set(np.unique(silver_ranks(units, units))) == {0, 1, 2, 3}
    assert out["group=X/cosine_spearman"] > 0.8
