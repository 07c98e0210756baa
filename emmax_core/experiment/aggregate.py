"""Aggregate the experiment's per-run scores: group accuracies, deltas, the headline with its spread, the fold
swap, pseudo-label diagnostics and lever (a)'s backbones.

Every number in ``results/README.md`` is computed here (and worded by :mod:`emmax_core.experiment.report`);
nothing is typed by hand.

Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
"""

from __future__ import annotations

import numpy as np

from .registry import BACKBONES, EM_LIKE, RUNS, describe, run_label, split_label

SOURCES = ("udhr", "sphinx", "other")
KINDS = ("leak_free", "transductive")


def _fold_groups(fold: str) -> dict[str, list[str]]:
    """:func:`emmax_core.batches.fold_groups`, imported when first needed (batches imports torch; reading the
    registry or committed results does not need it)."""
    from ..batches import fold_groups

    return fold_groups(fold)


def _mean(values) -> float:
    """Mean of the defined values (nan where none is)."""
    from ..evaluation.base import macro_mean  # on first use: the evaluation package imports scikit-learn

    return macro_mean(v for v in values if v == v)


def _spread(values) -> float:
    vals = [v for v in values if v == v]
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")


def group_accuracy(scores: dict, langs, source: str) -> float:
    """Macro-mean xx->English acc@1 of ``langs`` on one source (nan where none is scored)."""
    return _mean(scores.get(f"source={source}/lang={g}/src2trg_accuracy", float("nan")) for g in langs)


def _cells(result: dict, fold: str, kind: str) -> dict:
    groups = _fold_groups(fold)
    return {f"{g}/{s}": group_accuracy(result["scores"][kind], langs, s) for g, langs in groups.items()
            for s in SOURCES}


def _delta(cells: dict, base: dict, group: str) -> float:
    return _mean(cells[f"{group}/{s}"] - base[f"{group}/{s}"] for s in SOURCES)


def _fold_swap(by_fold: dict, kind: str) -> tuple[float, int, int]:
    """Mean over languages x sources of (acc as NON-PARALLEL - acc as UNSEEN), and #better / #worse."""
    a, b = by_fold["A"]["scores"][kind], by_fold["B"]["scores"][kind]
    groups = _fold_groups("A")
    diffs = []
    for langs, as_np, as_uns in ((groups["NP"], a, b), (groups["UNS"], b, a)):
        for g in langs:
            for s in SOURCES:
                key = f"source={s}/lang={g}/src2trg_accuracy"
                if key in as_np and key in as_uns:
                    diffs.append(as_np[key] - as_uns[key])
    diffs = np.array(diffs)
    return (float(diffs.mean()) if len(diffs) else float("nan"), int((diffs > 0).sum()), int((diffs < 0).sum()))


def aggregate(results: list[dict], exp) -> dict:
    """Tables per run (group accuracies, deltas, headline with spread over seeds), fold swap, diagnostics."""
    idx = {(r["run"], r["seed"], r["fold"]): r for r in results}
    runs = [run_label(n, b) for b in ("tiny", *exp.lever_backbones) for n in RUNS
            if any(k[0] == run_label(n, b) for k in idx)]
    tables, swaps, diags = {}, {}, {}
    for kind in KINDS:
        tables[kind] = {}
        for name in runs:
            run, backbone = split_label(name)
            per_seed, per_job, cells_all, d_np, d_uns, fold_a = [], [], [], [], [], []
            for seed in exp.seeds:
                base_r = idx.get((run_label("warmup", backbone), seed, "A"))
                hs = []
                for fold in exp.folds:
                    r = idx.get((name, seed, fold)) or (idx.get((name, seed, "A")) if run not in EM_LIKE else None)
                    if r is None or base_r is None:
                        continue
                    cells, base = _cells(r, fold, kind), _cells(base_r, fold, kind)
                    cells_all.append(cells)
                    d_np.append(_delta(cells, base, "NP"))
                    d_uns.append(_delta(cells, base, "UNS"))
                    hs.append(d_np[-1] - d_uns[-1])
                    if fold == "A":
                        fold_a.append(hs[-1])
                if hs:
                    per_seed.append(_mean(hs))
                    per_job += hs
            tables[kind][name] = {
                "description": describe(name)[0], "paper_faithful": describe(name)[1], "backbone": backbone,
                "cells": {k: _mean(c[k] for c in cells_all) for k in (cells_all[0] if cells_all else {})},
                "delta_np": _mean(d_np), "delta_uns": _mean(d_uns),
                "headline": _mean(per_seed), "spread": _spread(per_seed), "per_seed": per_seed,
                "per_job": per_job, "job_spread": _spread(per_job),
                "fold_a": _mean(fold_a), "fold_a_spread": _spread(fold_a),
                "folds": sorted({k[2] for k in idx if k[0] == name}) if run in EM_LIKE else list(exp.folds),
            }
    for name in runs:
        if split_label(name)[0] in EM_LIKE and all((name, s, f) in idx for s in exp.seeds for f in ("A", "B")):
            swaps[name] = {kind: [_fold_swap({f: idx[(name, s, f)] for f in "AB"}, kind) for s in exp.seeds]
                           for kind in KINDS}
        if split_label(name)[0] in EM_LIKE:
            rows = [idx[k]["diagnostics"] for k in idx if k[0] == name and idx[k]["diagnostics"]]
            diags[name] = {k: _mean(r[k] for r in rows) for k in rows[0] if k != "final_rank_means"} if rows else {}
    summary = {"tables": tables, "fold_swap": swaps, "diagnostics": diags, "backbones": backbones(idx, exp),
               "headline": headline(tables["leak_free"]), "suite": exp.suite, "cost": cost(results),
               "results": results}
    if exp.suite == "sweep":
        from .label_map import label_map

        summary["map"] = label_map(summary)
    return summary


def cost(results: list[dict]) -> dict:
    """What the experiment cost when its jobs were computed, read from each job's recorded ``cost``.

    The latest invocation that computed jobs of this summary is reported: its wall time (first start to last
    finish), the CPU seconds its jobs used (each job runs one thread, so this does not grow when other work shares the
    cores), and per run its jobs and summed training and evaluation seconds (a job's training includes a
    warm-up it was the first to need). ``cold`` is true when that one invocation computed every job, i.e. it started from an
    empty cache.
    """
    timed = [r for r in results if r.get("cost")]
    if not timed:
        return {"measured": False, "jobs": len(results)}
    by_call: dict = {}
    for r in timed:
        by_call.setdefault(r["cost"]["invocation"], []).append(r)
    call = max(by_call)  # the latest invocation that computed jobs of this summary
    rows = by_call[call]
    ends = [r["cost"]["started"] + r["cost"]["train_seconds"] + r["cost"]["eval_seconds"] for r in rows]
    parts: dict = {}
    for r in rows:
        part = parts.setdefault(r["run"], {"jobs": 0, "train_seconds": 0.0, "eval_seconds": 0.0})
        part["jobs"] += 1
        part["train_seconds"] += r["cost"]["train_seconds"]
        part["eval_seconds"] += r["cost"]["eval_seconds"]
    cpu = sum(r["cost"].get("cpu_seconds", float("nan")) for r in rows)  # this process's CPU: contention-free
    return {"measured": True, "jobs": len(results), "computed": len(rows), "cold": len(rows) == len(results),
            "cpu_seconds": cpu,
            "wall_seconds": max(ends) - min(r["cost"]["started"] for r in rows), "parts": parts,
            "workers": rows[0]["cost"].get("workers"), "cpus": rows[0]["cost"].get("cpus")}


def backbones(idx: dict, exp) -> dict:
    """Lever (a) per backbone: its warm-up's scores, and the neighbourhood probe (mean and sd over seeds)."""
    from ..corpus import language_info

    a_and_b = _fold_groups("A")["NP"] + _fold_groups("A")["UNS"]  # a warm-up treats groups A and B alike
    latin = [g for g in a_and_b if language_info(g)["script"] == "Latn"]  # the MiniLM track's languages
    out = {}
    for b in ("tiny", *exp.lever_backbones):
        warm = [idx[k] for k in idx if k[0] == run_label("warmup", b)]
        if not warm:
            continue
        row = {"description": BACKBONES[b][0], "paper_faithful": BACKBONES[b][2], "latin_langs": latin}
        for group, langs in (("PAR", _fold_groups("A")["PAR"]), ("NP", a_and_b), ("NP_latin", latin)):
            vals = [_mean(group_accuracy(w["scores"]["leak_free"], langs, s) for s in SOURCES) for w in warm]
            row[f"leak_free_{group}"], row[f"leak_free_{group}_spread"] = _mean(vals), _spread(vals)
        for key in ("nn_precision", "recall@10", "reachable", "nn_precision_latin"):
            vals = [_probe_value(w.get("neighbourhood", {}), key, latin) for w in warm]
            row[key], row[f"{key}_spread"] = _mean(vals), _spread(vals)
        out[b] = row
    return out


def _probe_value(probe: dict, key: str, latin: list[str]) -> float:
    """One probe metric; ``nn_precision_latin`` macro-averages the per-language values over sources."""
    if key != "nn_precision_latin":
        return probe.get(key, float("nan"))
    return _mean(probe.get(f"source={s}/lang={g}/nn_precision", float("nan")) for s in SOURCES for g in latin)


def headline(table: dict) -> dict:
    """EMMA-X as specified, the best variant and the ORACLE: (delta NP - delta UNS) with its spread.

    Variants are the EM runs that deviate from the paper (labelling or backbone); a variant's goal is a
    gain above 2 spreads and at least half the ORACLE's on the same backbone.
    """
    pick = {k: table[k] for k in ("em", "oracle") if k in table}
    variants = {k: v for k, v in table.items() if split_label(k)[0] not in ("oracle", "ctl")
                and split_label(k)[0].startswith("em") and not v["paper_faithful"]}
    best = max(variants, key=lambda k: variants[k]["headline"], default=None)
    out = {k: {"mean": v["headline"], "spread": v["spread"]} for k, v in pick.items()}
    if best:
        v = variants[best]
        oracle_name = run_label("oracle", v.get("backbone", "tiny"))
        oracle = table.get(oracle_name, pick.get("oracle", {})).get("headline", float("nan"))
        out["best_variant"] = {"run": best, "mean": v["headline"], "spread": v["spread"],
                               "oracle": oracle_name, "oracle_mean": oracle}
        out["goal_reached"] = bool(v["headline"] > 2 * v["spread"] and v["headline"] >= 0.5 * oracle)
    return out
