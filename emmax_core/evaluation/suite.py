"""XRETE-mini, the whole suite on one model, and the evaluation rows the suite and the experiment score.

:func:`suite` runs XRETE-mini on the shipped corpus's held-out units (none of them is seen in training by any stage):

* bitext retrieval: xx->English / English->xx acc@1 per language, per source, per language group;
* bitext mining: BUCC-style margin scoring with distractors, F1 per language group;
* zero-shot classification: a logistic-regression probe trained on English sentences (label = which
  catalog the string comes from), tested on every other language;
* semantic rank correlation: Spearman between cosine and silver semantic ranks of cross-lingual pairs,
  sampled in equal shares per silver rank (uniform pairs would be almost all "unrelated");
* geometry: invariance, canonical form, isotropy (standard measures; see notebooks/08_geometry.ipynb).

Command line: ``python -m emmax_core.evaluate --model DIR`` (:func:`emmax_core.cli.evaluate_main`).

Taught in: notebooks/07_evaluation.ipynb.
"""

from __future__ import annotations

import numpy as np

MINING_LANGS_PER_GROUP = 4


def eval_rows(kind: str, catalog_units: int, seed: int = 7):
    """Evaluation rows (``source`` relabelled ``udhr`` / ``sphinx`` / ``other``) of every experiment language.

    ``kind="leak_free"``: held-out units only. ``kind="transductive"``: units of the EM pools (UDHR + Sphinx
    training units), whose NON-PARALLEL sentences the EM stage saw unaligned. Catalogs other than UDHR are
    sampled down to ``catalog_units`` units each (with ``seed``).

    Returns:
        ``pandas.DataFrame`` with the corpus columns (``lang``, ``text``, ``unit_id``, ``source``, ...), sorted
        by source, unit and language.
    """
    import pandas as pd

    from .. import corpus

    split = corpus.default_language_split()
    langs = set(split["parallel"]) | set(split["group_a"]) | set(split["group_b"]) | {"eng"}
    df = corpus.load_corpus().to_pandas()
    df = df[df.lang.isin(langs)].copy()
    held = corpus.held_out_units()
    df = df[df.unit_id.isin(held)] if kind == "leak_free" else df[~df.unit_id.isin(held)]
    df["source"] = np.where(df.source.isin(["udhr", "sphinx"]), df.source, "other")
    if kind == "transductive":
        df = df[df.source != "other"]
    rng = np.random.default_rng(seed)
    keep = []
    for src, g in df.groupby("source", sort=True):
        units = np.array(sorted(g.unit_id.unique()))
        if src != "udhr" and len(units) > catalog_units:
            units = rng.choice(units, size=catalog_units, replace=False)
        keep.append(g[g.unit_id.isin(set(units))])
    return pd.concat(keep).sort_values(["source", "unit_id", "lang"]).reset_index(drop=True)


def _groups() -> dict[str, list[str]]:
    from ..corpus import default_language_split

    s = default_language_split()
    return {"PAR": list(s["parallel"]), "A": list(s["group_a"]), "B": list(s["group_b"])}


def suite(model, catalog_units: int = 150, seed: int = 0) -> dict:
    """All XRETE-mini tasks for one model; returns ``{task: {metric: value}}``."""
    from . import (
        MiningEvaluator,
        ZeroShotClassificationEvaluator,
        evaluate_bitext_by_language,
        geometry_report,
        make_mining_task,
        rank_correlation,
    )
    from .base import encode

    groups = _groups()
    rows = eval_rows("leak_free", catalog_units)
    emb = encode(model, list(rows.text), 128)
    out = {"retrieval": {k: v for k, v in evaluate_bitext_by_language(emb, rows, groups=groups).items()
                         if k.startswith("group=") or "/" not in k}}
    mining = {}
    for g, langs in groups.items():
        f1 = []
        for lang in [x for x in langs if x in set(rows.lang)][:MINING_LANGS_PER_GROUP]:
            task = make_mining_task(rows[rows.source != "udhr"], lang, seed=seed)
            f1.append(MiningEvaluator(task.source_sentences, task.target_sentences, task.gold_pairs)(model)["f1"])
        mining[f"group={g}/f1"] = float(np.mean(f1)) if f1 else float("nan")
    out["mining"] = mining
    cat = rows[rows.source != "udhr"]
    eng = cat[cat.lang == "eng"]
    tests = {g: (list(d.text), list(d.source_label)) for g, d in
             cat.assign(source_label=cat.unit_id.str.split(":").str[0]).groupby("lang") if g != "eng" and len(d) >= 20}
    out["classification"] = ZeroShotClassificationEvaluator(
        list(eng.text), list(eng.unit_id.str.split(":").str[0]), tests)(model)
    out["rank_correlation"] = _rank_correlation(rows, emb, groups, seed, rank_correlation)
    udhr = rows[(rows.source == "udhr")].index.to_numpy()
    out["geometry"] = geometry_report(emb[udhr], list(rows.lang[udhr]), list(rows.unit_id[udhr]), seed=seed)
    return out


def _rank_correlation(rows, emb, groups, seed, rank_correlation, per_rank: int = 500) -> dict:
    """Spearman per group on (xx, English) pairs stratified by silver rank: up to ``per_rank`` of each rank.

    Uniform pairs would be ~all rank 0 (unrelated), leaving the correlation to noise; equal shares of each
    rank make it measure whether cosine orders translations > same article > same theme > unrelated.
    """
    from ..corpus import silver_ranks

    rng = np.random.default_rng(seed)
    units = rows.unit_id.to_numpy()
    eng_idx = rows.index[rows.lang == "eng"].to_numpy()
    out = {}
    for g, langs in groups.items():
        idx = rows.index[rows.lang.isin(langs)].to_numpy()
        ranks_ab = silver_ranks(list(units[idx]), list(units[eng_idx]))  # (len(idx), len(eng_idx))
        a, b, ranks = [], [], []
        for r in np.unique(ranks_ab):
            ii, jj = np.nonzero(ranks_ab == r)
            k = rng.choice(len(ii), size=min(per_rank, len(ii)), replace=False)
            a += list(idx[ii[k]])
            b += list(eng_idx[jj[k]])
            ranks += [int(r)] * len(k)
        out[f"group={g}/cosine_spearman"] = rank_correlation(emb[a], emb[b], ranks)["cosine_spearman"]
    return out
