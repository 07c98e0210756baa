"""Command line: ``python -m emmax_core.evaluate --model DIR [--baseline DIR ...] --output results.json``.

Runs XRETE-mini on the shipped corpus's held-out units (none of them is seen in training by any stage):

* bitext retrieval: xx->English / English->xx acc@1 per language, per source, per language group;
* bitext mining: BUCC-style margin scoring with distractors, F1 per language group;
* zero-shot classification: a logistic-regression probe trained on English sentences (label = which
  catalog the string comes from), tested on every other language;
* semantic rank correlation: Spearman between cosine and silver semantic ranks of cross-lingual pairs,
  sampled in equal shares per silver rank (uniform pairs would be almost all "unrelated");
* geometry: invariance, canonical form, isotropy (standard measures; see notebooks/08_geometry.ipynb).

``DIR`` is a ``save_pretrained`` folder or a training run folder (its ``final/`` is used), or
``bag-of-subwords`` for the training-free reference.

Taught in: notebooks/07_evaluation.ipynb.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

MINING_LANGS_PER_GROUP = 4


def load_model(spec: str):
    """A model for ``spec``: ``bag-of-subwords``, a run folder (uses ``final/`` or ``encoder-init/``) or a model folder."""
    if spec == "bag-of-subwords":
        from .evaluation import BagOfSubwordsEncoder
        from .tokenizer import get_tokenizer

        return BagOfSubwordsEncoder(get_tokenizer("tiny"))
    from .encoder import SentenceEncoder

    path = Path(spec)
    for sub in ("final", "encoder-init"):
        if (path / sub).is_dir():
            return SentenceEncoder.from_pretrained(path / sub)
    try:
        return SentenceEncoder.from_pretrained(path)
    except FileNotFoundError as error:  # the cause (kept in the traceback) says what was searched
        raise FileNotFoundError(f"--model {spec!r} could not be loaded: pass a training run folder (holding final/ "
                                "or encoder-init/), a save_pretrained folder, a cached hub id or 'bag-of-subwords'"
                                ) from error


def _groups() -> dict[str, list[str]]:
    from .corpus import default_language_split

    s = default_language_split()
    return {"PAR": list(s["parallel"]), "A": list(s["group_a"]), "B": list(s["group_b"])}


def suite(model, catalog_units: int = 150, seed: int = 0) -> dict:
    """All XRETE-mini tasks for one model; returns ``{task: {metric: value}}``."""
    from .evaluation import (
        MiningEvaluator,
        ZeroShotClassificationEvaluator,
        evaluate_bitext_by_language,
        geometry_report,
        make_mining_task,
        rank_correlation,
    )
    from .evaluation.base import encode
    from .experiment import eval_rows

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
    from .corpus import silver_ranks

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


def main(argv=None) -> int:
    """Evaluate ``--model`` (and each ``--baseline``) and write one JSON with per-model metrics and differences."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    p = argparse.ArgumentParser(prog="python -m emmax_core.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--baseline", action="append", default=[])
    p.add_argument("--output", default="results.json")
    p.add_argument("--catalog-units", type=int, default=150)
    args = p.parse_args(argv)
    report = {spec: suite(load_model(spec), args.catalog_units) for spec in [args.model] + args.baseline}
    for base in args.baseline:
        report[f"{args.model} - {base}"] = {
            task: {k: report[args.model][task][k] - v for k, v in metrics.items() if isinstance(v, float)}
            for task, metrics in report[base].items()}
    Path(args.output).write_text(json.dumps(report, indent=1, default=float))
    head = {s: report[s]["retrieval"].get("src2trg_accuracy") for s in [args.model] + args.baseline}
    print(json.dumps({"src2trg_accuracy": head}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
