"""The experiment's report: ``README.md`` (outcome and mechanism in words, tables) and its two figures.

Every sentence that states a number is generated from the summary of
:func:`emmax_core.experiment.aggregate.aggregate`, so the text can never disagree with the numbers.

Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..viz import plot_experiment_diagnostics, plot_experiment_headline
from .aggregate import KINDS, SOURCES
from .registry import split_label


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(v, spread=None) -> str:
    if v != v:
        return "–"
    return f"{v:+.3f} ± {spread:.3f}" if spread is not None and spread == spread else f"{v:.3f}"


def _signed(v, spread) -> str:
    """``+0.012 ± 0.004``, ``+0.012`` where the spread is undefined, ``–`` where the value is."""
    return "–" if v != v else f"{v:+.3f}" if spread != spread else f"{v:+.3f} ± {spread:.3f}"


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


def outcome_text(summary: dict) -> list[str]:
    """The outcome in words, generated from the numbers (so it can never disagree with them)."""
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


#: suite -> (page title, make target, command) of its README.
SUITE_PAGES = {
    "headline": ("the central experiment", "make results",
                 "python -m emmax_core.experiment --output-dir results "
                 "--results-json emmax_core/data/results/results.json"),
    "levers": ("ablations and lever (a)", "make results-levers",
               "python -m emmax_core.experiment --suite levers --output-dir results/levers --cache-dir results/cache "
               "--results-json emmax_core/data/results/levers.json"),
    "all": ("the central experiment with its ablations and levers", "python -m emmax_core.experiment --suite all",
            "python -m emmax_core.experiment --suite all"),
    "sweep": ("EM's gain by pseudo-label quality, and the warm-up ladder", "make sweep",
              "python -m emmax_core.experiment --suite sweep --seeds 0 1 --output-dir results/sweep "
              "--cache-dir results/cache --results-json emmax_core/data/results/sweep.json"),
}


def sweep_cost_text(summary_map: dict) -> list[str]:
    """The sweep's own jobs and the ladder's warm-ups, in words (:func:`~.label_map.sweep_cost`)."""
    c = summary_map.get("cost", {})
    if not c.get("jobs"):
        return []
    warm = [r for r in summary_map["ladder"] if r["backbone"] != "tiny"]
    lines = [f"- The sweep's own {c['jobs']} jobs (noisy-ORACLE cells, EM and the ORACLE on the ladder's rungs) "
            f"ran in {c['invocations']} invocation(s) over {c['wall_seconds'] / 60:.1f} min of wall time and used "
            f"{c['cpu_seconds'] / 60:.1f} min of CPU (one thread each): {c['train_seconds'] / 60:.1f} min of "
            f"training and {c['eval_seconds'] / 60:.1f} min of evaluation summed over jobs. The runs it shares with "
            "`make results` came from that command's cache."]
    if warm:
        lines.append("- The ladder's warm-ups: " + "; ".join(f"{r['steps']} steps {r['warmup_seconds'] / 60:.1f} min"
                                                           for r in warm) + " (one thread each, trained once, cached).")
    return lines + ["", "The latest invocation:", ""]


def sweep_lines(summary: dict) -> list[str]:
    """README.md of the sweep suite: verdict, grid, labellers and ladder tables, cost (book: sweep-noisy-oracle)."""
    from .label_map import verdict_text

    m = summary["map"]
    md = ["## Verdict", ""] + verdict_text(m)
    md += ["", "## The grid: EM with noisy-ORACLE labels", "",
           "Requested precision and recall of the top-rank labels, the values realised on unaligned rows during "
           "training (means over logged EM steps and runs), and the gain (leak-free Δ NP − Δ UNS, mean ± sd over "
           "seeds of the fold-averaged gain, as in the headline; beside it the sd over the single seed x fold runs, "
           "larger because a fold's languages can gain more than the other fold's).", "",
           "| run | requested P | requested R | realised P | realised R | labels/batch | gain | sd (runs) |",
           "|---|---|---|---|---|---|---|---|"]
    for c in m["cells"]:
        md.append(f"| {c['run']} | {c['precision']:g} | {c['recall']:g} | {_fmt(c['realised_precision'])} | "
                  f"{_fmt(c['realised_recall'])} | {c['labels_per_batch']:.1f} | **{_signed(c['gain'], c['spread'])}** | "
                  f"{_fmt(c['job_spread'])} ({c['jobs']}) |")
    md += ["", "## The real labellers on the map", "",
           "| labeller | precision | recall | labels/batch | gain | map at its point | nearest paying point (P, R) |",
           "|---|---|---|---|---|---|---|"]
    for name, row in m["labellers"].items():
        near = row["nearest_paying"]
        where = f"({near['precision']:.3g}, {near['recall']:.3g})" if near else "none"
        md.append(f"| {name} | {row['realised_precision']:.4f} | {row['realised_recall']:.3f} | "
                  f"{row['labels_per_batch']:.1f} | {_signed(row['gain'], row['spread'])} | {row['map_gain']:+.3f}"
                  f"{' (outside the grid: clipped)' if row['outside_grid'] else ''} | {where} |")
    md += ["", "## The warm-up ladder", "",
           "| warm-up steps | warm-up wall time (min) | warm-up CPU (min, seeds measured) | seeds | NN precision A+B | EM labels P | EM labels R | "
           "EM gain (± sd over seeds; runs) | ORACLE gain (± sd over seeds; runs) |", "|---" * 9 + "|"]
    for r in m["ladder"]:
        md.append(f"| {r['steps']} | {r['warmup_seconds'] / 60:.1f} | {r['warmup_cpu_seconds'] / 60:.1f} "
                  f"({r['warmup_cpu_measured']}) | {r['warmup_seeds']} | "
                  f"{_pm(r['nn_precision'], r['nn_precision_spread'])} | {_fmt(r['realised_precision'])} | "
                  f"{_fmt(r['realised_recall'])} | {_signed(r['em']['gain'], r['em']['spread'])} ({r['em']['jobs']}) | "
                  f"{_signed(r['oracle']['gain'], r['oracle']['spread'])} ({r['oracle']['jobs']}) |")
    md += ["", "Warm-up times: one torch thread, as recorded when each warm-up was trained; the wall time "
           "grows when other work shares the cores, the CPU time does not (nan: not recorded for that run)."]
    return md


def target_json_name(results_json, out: Path) -> str:
    """The results file's name as the README cites it."""
    return Path(results_json).name if results_json is not None else str(out / "results.json")


def cost_text(cost: dict, command: str) -> list[str]:
    """What the run cost, in words and a table per run, from :func:`~emmax_core.experiment.aggregate.cost`."""
    if not cost.get("measured"):
        return [f"- Not measured: the {cost.get('jobs', 0)} jobs' scores were computed before jobs recorded "
                "their cost."]
    where = f"{cost.get('workers')} workers on {cost.get('cpus')} CPU cores"
    kind = ("from an empty cache (cold): every job trained its models and computed its scores" if cost["cold"] else
            f"{cost['computed']} of {cost['jobs']} jobs computed in one invocation; the others came from the cache")
    cpu = cost.get("cpu_seconds", float("nan"))
    lines = [f"- `{command}`: {cost['wall_seconds'] / 60:.1f} min wall, {kind}; {where}."]
    if cpu == cpu:  # recorded (jobs computed by older code did not)
        lines.append(f"- CPU time of the jobs: {cpu / 60:.1f} min (one thread each), so {cpu / 60 / cost['workers']:.1f}"
                     f" min of wall time at the least with {cost['workers']} workers on otherwise idle cores; the "
                     f"wall time above is {cost['wall_seconds'] / (cpu / cost['workers']):.2f}x that.")
    lines += ["",
             "| run | jobs | training (s, summed) | evaluation (s, summed) | share of job time |",
             "|---|---|---|---|---|"]
    total = sum(p["train_seconds"] + p["eval_seconds"] for p in cost["parts"].values()) or float("nan")
    for run, p in sorted(cost["parts"].items(), key=lambda kv: -(kv[1]["train_seconds"] + kv[1]["eval_seconds"])):
        lines.append(f"| {run} | {p['jobs']} | {p['train_seconds']:.0f} | {p['eval_seconds']:.0f} | "
                     f"{(p['train_seconds'] + p['eval_seconds']) / total:.1%} |")
    lines += ["", "A job's training includes the warm-up it was the first to need; summed job time over the wall "
              "time is the parallelism the workers achieved."]
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
    if summary.get("suite") == "sweep":
        from .label_map import plot_gain_map, plot_warmup_ladder

        _save(plot_gain_map(summary["map"]).figure, out / "gain_map.png")
        _save(plot_warmup_ladder(summary["map"]).figure, out / "warmup_ladder.png")
        title, _, command = SUITE_PAGES["sweep"]
        md = [f"# Results: {title} (tiny profile)", "", f"Generated by `{command}` (`make sweep`); every number "
              f"below is computed from `{target_json_name(results_json, out)}`. Protocol: the book page \"The "
              "experiment's design\", section \"When does EM earn its keep?\".", ""] + sweep_lines(summary)
        md += ["", "## What it cost", ""] + sweep_cost_text(summary["map"]) + cost_text(summary["cost"], command)
        md += ["", "![gain map](gain_map.png)", "", "![warm-up ladder](warmup_ladder.png)", ""]
        (out / "README.md").write_text("\n".join(md))
        return
    _save(plot_experiment_headline(summary, KINDS), out / "headline.png")
    _save(plot_experiment_diagnostics(summary).figure, out / "diagnostics.png")
    suite = summary.get("suite", "all")
    title, target, command = SUITE_PAGES[suite]
    if suite != "headline" and set(summary.get("backbones", {})) <= {"tiny"}:
        command, target = command + " --backbones", target + " without lever (a)"  # run with no backbone names
    md = [f"# Results: {title} (tiny profile)", "",
          f"Generated by `{command}` (`{target}`); every number",
          f"below is computed from `{target_json_name(results_json, out)}`. Protocol: the book page \"The experiment's design\" and",
          "`emmax_core/experiment/`.",
          "Scores: xx→English acc@1 per language, macro-averaged per group (PAR = PARALLEL, NP = NON-PARALLEL,",
          "UNS = UNSEEN) and source (udhr, sphinx, other catalogs); averaged over folds and seeds.", "",
          "## Outcome", ""] + outcome_text(summary) + ["", "## Why (from the diagnostics)", ""] + why_text(summary)
    md += ["", "## What it cost", ""] + cost_text(summary.get("cost", {}), command)
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
