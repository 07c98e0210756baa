"""Aggregate the central experiment's per-run scores into tables, a headline and diagnostics plots.

Every number in ``results/README.md`` is computed here from ``results.json``; nothing is typed by hand.

Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SOURCES = ("udhr", "sphinx", "other")
KINDS = ("leak_free", "transductive")


def _groups(fold: str) -> dict[str, list[str]]:
    from ..corpus import default_language_split

    s = default_language_split()
    np_, uns = (s["group_a"], s["group_b"]) if fold == "A" else (s["group_b"], s["group_a"])
    return {"PAR": list(s["parallel"]), "NP": list(np_), "UNS": list(uns)}


def _mean(values) -> float:
    vals = [v for v in values if v == v]
    return float(np.mean(vals)) if vals else float("nan")


def _spread(values) -> float:
    vals = [v for v in values if v == v]
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")


def group_accuracy(scores: dict, langs, source: str) -> float:
    """Macro-mean xx->English acc@1 of ``langs`` on one source (nan where none is scored)."""
    return _mean(scores.get(f"source={source}/lang={g}/src2trg_accuracy", float("nan")) for g in langs)


def _cells(result: dict, fold: str, kind: str) -> dict:
    groups = _groups(fold)
    return {f"{g}/{s}": group_accuracy(result["scores"][kind], langs, s) for g, langs in groups.items()
            for s in SOURCES}


def _delta(cells: dict, base: dict, group: str) -> float:
    return _mean(cells[f"{group}/{s}"] - base[f"{group}/{s}"] for s in SOURCES)


def _fold_swap(by_fold: dict, kind: str) -> tuple[float, int, int]:
    """Mean over languages x sources of (acc as NON-PARALLEL - acc as UNSEEN), and #better / #worse."""
    a, b = by_fold["A"]["scores"][kind], by_fold["B"]["scores"][kind]
    groups = _groups("A")
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
    from ..experiment import EM_LIKE, RUNS, describe, run_label, split_label

    idx = {(r["run"], r["seed"], r["fold"]): r for r in results}
    runs = [run_label(n, b) for b in ("tiny", *exp.backbones) for n in RUNS
            if any(k[0] == run_label(n, b) for k in idx)]
    tables, swaps, diags = {}, {}, {}
    for kind in KINDS:
        tables[kind] = {}
        for name in runs:
            run, backbone = split_label(name)
            per_seed, cells_all, d_np, d_uns, fold_a = [], [], [], [], []
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
            tables[kind][name] = {
                "description": describe(name)[0], "paper_faithful": describe(name)[1], "backbone": backbone,
                "cells": {k: _mean(c[k] for c in cells_all) for k in (cells_all[0] if cells_all else {})},
                "delta_np": _mean(d_np), "delta_uns": _mean(d_uns),
                "headline": _mean(per_seed), "spread": _spread(per_seed), "per_seed": per_seed,
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
    return {"tables": tables, "fold_swap": swaps, "diagnostics": diags, "backbones": backbones(idx, exp),
            "headline": headline(tables["leak_free"]), "results": results}


def backbones(idx: dict, exp) -> dict:
    """Lever (a) per backbone: its warm-up's scores, and the neighbourhood probe (mean and sd over seeds)."""
    from ..corpus import language_info
    from ..experiment import BACKBONES, run_label

    a_and_b = _groups("A")["NP"] + _groups("A")["UNS"]  # a warm-up treats groups A and B alike
    latin = [g for g in a_and_b if language_info(g)["script"] == "Latn"]  # the MiniLM track's languages
    out = {}
    for b in ("tiny", *exp.backbones):
        warm = [idx[k] for k in idx if k[0] == run_label("warmup", b)]
        if not warm:
            continue
        row = {"description": BACKBONES[b][0], "paper_faithful": BACKBONES[b][2], "latin_langs": latin}
        for group, langs in (("PAR", _groups("A")["PAR"]), ("NP", a_and_b), ("NP_latin", latin)):
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
    from ..experiment import run_label, split_label

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


def _fmt(v, spread=None) -> str:
    if v != v:
        return "–"
    return f"{v:+.3f} ± {spread:.3f}" if spread is not None and spread == spread else f"{v:.3f}"


def _pm(v, spread) -> str:
    """``0.504 ± 0.010`` (no sign: for shares and precisions); ``–`` where undefined."""
    return "–" if v != v else f"{v:.3f}" if spread != spread else f"{v:.3f} ± {spread:.3f}"


def _table_md(table: dict) -> list[str]:
    cols = [f"{g}/{s}" for g in ("PAR", "NP", "UNS") for s in SOURCES]
    lines = ["| run | folds | " + " | ".join(cols) + " | Δ NP | Δ UNS | Δ NP − Δ UNS (mean ± sd over seeds) "
             "| fold A only |", "|---" * (len(cols) + 6) + "|"]
    for name, row in table.items():
        cells = " | ".join(_fmt(row["cells"].get(c, float("nan"))) for c in cols)
        lines.append(f"| {name} | {'+'.join(row['folds'])} | {cells} | {row['delta_np']:+.3f} | "
                     f"{row['delta_uns']:+.3f} | **{_fmt(row['headline'], row['spread'])}** | "
                     f"{_fmt(row['fold_a'], row['fold_a_spread'])} |")
    return lines


def plot_headline(summary: dict, path: Path) -> None:
    """Save :func:`emmax_core.viz.plot_experiment_headline` (both evaluation kinds) to ``path``."""
    import matplotlib.pyplot as plt

    from ..viz import plot_experiment_headline

    fig = plot_experiment_headline(summary, KINDS)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_diagnostics(summary: dict, path: Path) -> None:
    """Save :func:`emmax_core.viz.plot_experiment_diagnostics` to ``path``."""
    import matplotlib.pyplot as plt

    from ..viz import plot_experiment_diagnostics

    fig = plot_experiment_diagnostics(summary).figure
    fig.savefig(path, dpi=110)
    plt.close(fig)


def outcome_text(summary: dict) -> list[str]:
    """The outcome in words, generated from the numbers (so it can never disagree with them)."""
    from ..experiment import split_label

    h, d = summary["headline"], summary["diagnostics"]
    lines = []
    for key, label in (("em", "EMMA-X as specified"), ("oracle", "the ORACLE")):
        if key in h:
            lines.append(f"- {label}: Δ NP − Δ UNS = {_fmt(h[key]['mean'], h[key]['spread'])} (leak-free).")
    if "best_variant" in h:
        b = h["best_variant"]
        lines.append(f"- Best variant `{b['run']}`: {_fmt(b['mean'], b['spread'])}; goal (gain > 2 spreads and "
                     f">= half the ORACLE's, `{b['oracle']}` {_fmt(b['oracle_mean'])}) "
                     f"{'reached' if h.get('goal_reached') else 'not reached'}.")
    t = summary["tables"]["leak_free"]
    single = [k for k, v in t.items() if v["folds"] == ["A"]]
    if single and "em" in t:
        lines.append(f"- Runs on fold A only ({', '.join(single)}) carry the group effect that the fold swap "
                     f"cancels: compare their 'fold A only' column with EMMA-X's own fold-A value "
                     f"({_fmt(t['em']['fold_a'], t['em']['fold_a_spread'])}), not with the two-fold headlines.")
    for b, row in summary.get("backbones", {}).items():
        lines.append(f"- Backbone `{b}`: warm-up leak-free acc@1 PAR {_fmt(row['leak_free_PAR'])}, groups A+B "
                     f"{_fmt(row['leak_free_NP'])} (Latin script {_fmt(row['leak_free_NP_latin'])}); "
                     f"nearest-neighbour precision of A+B sentences in the EM pool "
                     f"{_pm(row['nn_precision'], row['nn_precision_spread'])} (Latin script "
                     f"{_pm(row['nn_precision_latin'], row['nn_precision_latin_spread'])}).")
    for name in [n for n in d if split_label(n)[0] in ("em", "em_mnn", "em_topk", "oracle")]:
        if d.get(name):
            x = d[name]
            lines.append(f"- `{name}`: the GMM's own top rank has precision {x['top_precision']:.3f} (chance "
                         f"{x.get('chance_precision', float('nan')):.4f}) / recall "
                         f"{x['top_recall']:.3f} on non-partner pairs; monolingual rows: encoder trained on "
                         f"{x['mono_top_labels']:.0f} top labels per batch "
                         f"at precision {x['mono_top_precision']:.3f}, recall {x['mono_top_recall']:.3f}; "
                         f"nearest-neighbour precision {x['mono_nn_precision']:.3f}; partner acc@1 "
                         f"{x['partner_acc']:.3f}; top-rank share of non-translations {x['top_share']:.3f}.")
    return lines


def why_text(summary: dict) -> list[str]:
    """The mechanism behind the outcome, in words generated from the diagnostics.

    Book: :ref:`experiment-diagnostics`.
    """
    d, t = summary["diagnostics"], summary["tables"]["leak_free"]
    em, ora = d.get("em") or {}, d.get("oracle") or {}
    if not em or not ora:
        return []
    chance = em.get("chance_precision", float("nan"))
    lines = [f"- Top-rank inflation: the GMM's top rank holds non-partner pairs at precision {em['top_precision']:.4f}"
             f", {em['top_precision'] / chance:.1f}x the {chance:.4f} of pairs drawn "
             f"at random, so EM as specified trains the encoder on {em['mono_top_labels']:.0f} top-rank labels per "
             f"batch of which a share {em['mono_top_precision']:.3f} are translations; its partner acc@1 during EM "
             f"is {em['partner_acc']:.3f} against {ora['partner_acc']:.3f} for the ORACLE on the same batches."]
    picks = [n for n in ("em_mnn", "em_topk", "em_curriculum") if d.get(n)]
    if picks:
        lines.append("- Labels checked against the encoder's neighbourhoods are more precise but few: " + "; ".join(
            f"`{n}` {d[n]['mono_top_labels']:.0f} per batch at precision {d[n]['mono_top_precision']:.3f}"
            for n in picks) + f", against the {ora['mono_top_labels']:.0f} true translations the ORACLE uses.")
    if "oracle_nn" in t and d.get("oracle_nn"):
        x = t["oracle_nn"]
        lines.append(f"- `oracle_nn`, a top-1 labeller that never errs ({d['oracle_nn']['mono_top_labels']:.0f} "
                     f"labels per batch), scores {_fmt(x['headline'], x['spread'])} against the full ORACLE's "
                     f"{_fmt(t['oracle']['headline'], t['oracle']['spread'])}: the ceiling of any labeller that "
                     f"takes one neighbour per sentence from this encoder.")
    bbs = summary.get("backbones", {})
    if "tiny" in bbs and len(bbs) > 1:
        best = max((b for b in bbs if b != "tiny"), key=lambda b: bbs[b]["nn_precision"])
        lines.append(f"- Lever (a): the best other backbone by nearest-neighbour precision of groups A+B is `{best}` "
                     f"({_pm(bbs[best]['nn_precision'], bbs[best]['nn_precision_spread'])} against "
                     f"{_pm(bbs['tiny']['nn_precision'], bbs['tiny']['nn_precision_spread'])} for the tiny warm-up).")
    return lines


def write_report(summary: dict, out: Path, results_json: Path | None = None, before=None) -> None:
    """Write ``README.md`` and the two diagnostics plots into ``out``, and ``results.json``.

    ``before``: optional ``(name, summary)`` of an earlier snapshot; README.md then gets a "What changed" section.

    ``results.json`` goes to ``results_json`` (``make results``: ``emmax_core/data/results/results.json``,
    read by :func:`emmax_core.results.load`), else into ``out``.
    """
    out.mkdir(parents=True, exist_ok=True)
    target = Path(results_json) if results_json is not None else out / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(summary, indent=1, default=float))
    plot_headline(summary, out / "headline.png")
    plot_diagnostics(summary, out / "diagnostics.png")
    md = ["# Results: the central experiment (tiny profile)", "",
          "Generated by `python -m emmax_core.experiment --output-dir results` (`make results`); every number",
          "below is computed from `results.json`. Protocol: the book page \"The experiment's design\" and",
          "`emmax_core/experiment.py`.",
          "Scores: xx→English acc@1 per language, macro-averaged per group (PAR = PARALLEL, NP = NON-PARALLEL,",
          "UNS = UNSEEN) and source (udhr, sphinx, other catalogs); averaged over folds and seeds.", "",
          "## Outcome", ""] + outcome_text(summary) + ["", "## Why (from the diagnostics)", ""] + why_text(summary)
    for kind in KINDS:
        md += ["", f"## {kind.replace('_', '-')} evaluation", ""] + _table_md(summary["tables"][kind])
    md += ["", "## Fold swap (same language as NON-PARALLEL minus as UNSEEN; per seed: mean, #better/#worse)", "",
           "| run | leak-free | transductive |", "|---|---|---|"]
    for name, v in summary["fold_swap"].items():
        cells = [", ".join(f"{m:+.3f} ({b}/{w})" for m, b, w in v[k]) for k in KINDS]
        md.append(f"| {name} | {cells[0]} | {cells[1]} |")
    md += ["", "## Lever (a): backbones (warm-up scores and neighbourhood probe, mean ± sd over seeds)", "",
           "Warm-up: leak-free xx→English acc@1. NN precision: share of group A+B sentences (UDHR + Sphinx EM pool)",
           "whose nearest other-language neighbour is a translation; 'Latin' = the Latin-script A+B languages only.",
           "", "| backbone | warm-up PAR | warm-up A+B | warm-up Latin A+B | NN precision A+B | recall@10 | "
           "NN precision Latin | description |", "|---|---|---|---|---|---|---|---|"]
    if set(summary.get("backbones", {})) <= {"tiny"}:
        md.append("| — | not run: this results run skipped lever (a) (`--backbones` with no names) | | | | | | |")
    if set(summary.get("backbones", {})) <= {"tiny"}:
        md.append("| — | not run: this results run skipped lever (a) (`--backbones` with no names) | | | | | | |")
    for b, row in summary.get("backbones", {}).items():
        md.append(f"| {b} | {_fmt(row['leak_free_PAR'])} | {_fmt(row['leak_free_NP'])} | "
                  f"{_fmt(row['leak_free_NP_latin'])} | {_pm(row['nn_precision'], row['nn_precision_spread'])} | "
                  f"{_fmt(row['recall@10'])} | {_pm(row['nn_precision_latin'], row['nn_precision_latin_spread'])} "
                  f"| {row['description']} |")
    if before is not None:
        from .comparison import compare_summaries, comparison_text

        md += ["", "## What changed", ""] + comparison_text(compare_summaries(before[1], summary), before[0])
    md += ["", "## Runs", ""] + [f"- `{k}`: {v['description']}" for k, v in summary["tables"]["leak_free"].items()]
    md += ["", "![headline](headline.png)", "", "![diagnostics](diagnostics.png)", ""]
    (out / "README.md").write_text("\n".join(md))


def plot_per_language(per_model: dict[str, dict], metric: str = "src2trg_accuracy", ax=None):
    """Grouped bars of one retrieval metric per language, one bar per model.

    Args:
        per_model: ``{model name: evaluate_bitext_by_language(...) output}``.
        metric: which metric of the ``lang={L}/{metric}`` keys to plot.

    Returns:
        The matplotlib axes.
    """
    import matplotlib.pyplot as plt

    langs = sorted({k.split("/")[0][5:] for m in per_model.values() for k in m
                    if k.startswith("lang=") and k.endswith(metric) and not k.startswith("lang=eng")})
    if ax is None:
        _, ax = plt.subplots(figsize=(max(8, 0.28 * len(langs)), 3.5))
    width = 0.8 / max(len(per_model), 1)
    for i, (name, scores) in enumerate(per_model.items()):
        ax.bar(np.arange(len(langs)) + i * width, [scores.get(f"lang={g}/{metric}", np.nan) for g in langs],
               width, label=name)
    ax.set_xticks(np.arange(len(langs)) + 0.4, langs, rotation=90, fontsize=7)
    ax.set_ylabel(f"{metric} (tiny profile)")
    ax.legend(fontsize=8)
    return ax
