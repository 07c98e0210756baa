"""What changed between two summaries of the central experiment (e.g. before and after a trainer fix).

Both summaries are what ``make results`` writes (``emmax_core.results.load(name)``). The comparison reads only
their numbers: the leak-free headline (Δ NON-PARALLEL − Δ UNSEEN, mean ± sd over seeds) of every run present
in both, and, for the EM-like runs, the means over seeds and folds of the pseudo-label diagnostics and of the
final rank means. :func:`comparison_text` turns it into the "What changed" section of ``results/README.md``.

Taught in: notebooks/09_ablations.ipynb (book: :ref:`experiment-diagnostics`).
"""

from __future__ import annotations

import numpy as np

#: Diagnostics compared, in the order they are reported.
DIAGNOSTICS = ("top_share", "top_precision", "mono_top_labels", "mono_top_precision", "partner_acc", "agreement")


def _diagnostic_means(summary: dict, run: str) -> dict:
    rows = [r["diagnostics"] for r in summary.get("results", []) if r["run"] == run and r.get("diagnostics")]
    out = {}
    for key in DIAGNOSTICS:
        vals = [d[key] for d in rows if key in d and d[key] == d[key]]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    means = [d["final_rank_means"] for d in rows if d.get("final_rank_means")]
    out["final_rank_means"] = np.mean(means, axis=0).tolist() if means else []
    return out


def compare_summaries(old: dict, new: dict) -> dict:
    """Per run present in both: old and new leak-free headline (mean, spread) and diagnostics (EM-like runs).

    Returns:
        ``{run: {"headline": (old_mean, old_spread, new_mean, new_spread), "old": {...}, "new": {...}}}``;
        ``old``/``new`` hold the diagnostics of :data:`DIAGNOSTICS` and ``final_rank_means`` (``(N,)`` list).
    """
    t_old, t_new = old["tables"]["leak_free"], new["tables"]["leak_free"]
    out = {}
    for run in t_new:
        if run not in t_old:
            continue
        a, b = t_old[run], t_new[run]
        if not any((a["headline"], a["spread"], b["headline"], b["spread"])):
            continue  # a reference run (warm-up, bag of subwords): zero by definition
        entry = {"headline": (a["headline"], a["spread"], b["headline"], b["spread"])}
        if run in new.get("diagnostics", {}):
            entry["old"], entry["new"] = _diagnostic_means(old, run), _diagnostic_means(new, run)
        out[run] = entry
    return out


def _means(values) -> str:
    return " < ".join(f"{v:.3f}" for v in values) if values else "n/a"


def comparison_text(cmp: dict, old_name: str) -> list[str]:
    """Markdown lines: a headline table (old, new, change) and a diagnostics table of the EM-like runs."""
    lines = [f"Old: the committed snapshot `{old_name}` (`emmax_core.results.load({old_name!r})`); new: this run.",
             ""] + _lead(cmp) + ["", "| run | Δ NP − Δ UNS before | after | change |", "|---|---|---|---|"]
    for run, c in cmp.items():
        om, osd, nm, nsd = c["headline"]
        lines.append(f"| {run} | {om:+.3f} ± {osd:.3f} | {nm:+.3f} ± {nsd:.3f} | {nm - om:+.3f} |")
    lines += ["", "Pseudo-label diagnostics of the EM-like runs (means over the EM steps, seeds and folds) and the "
              "final rank means:", "",
              "| run | | " + " | ".join(DIAGNOSTICS) + " | final rank means |",
              "|---|---|" + "---|" * (len(DIAGNOSTICS) + 1)]
    for run, c in cmp.items():
        if "old" not in c:
            continue
        for tag in ("old", "new"):
            d = c[tag]
            cells = " | ".join(f"{d[k]:.3f}" if k != "mono_top_labels" else f"{d[k]:.0f}" for k in DIAGNOSTICS)
            lines.append(f"| {run} | {'before' if tag == 'old' else 'after'} | {cells} | "
                         f"{_means(d['final_rank_means'])} |")
    return lines


def _lead(cmp: dict) -> list[str]:
    """One generated paragraph: EM as specified and the ORACLE, before and after, with the mechanism's numbers."""
    if "em" not in cmp or "old" not in cmp["em"]:
        return []
    (om, osd, nm, nsd), old, new = cmp["em"]["headline"], cmp["em"]["old"], cmp["em"]["new"]
    text = (f"EMMA-X as specified moved from {om:+.3f} ± {osd:.3f} to {nm:+.3f} ± {nsd:.3f} "
            f"({'more' if abs(nm - om) > max(osd, nsd) else 'less'} than one seed spread). Its final rank means "
            f"went from {_means(old['final_rank_means'])} to {_means(new['final_rank_means'])}; its top-rank share "
            f"of non-translations from {old['top_share']:.3f} to {new['top_share']:.3f}, the precision of its top "
            f"labels on unaligned rows from {old['mono_top_precision']:.3f} to {new['mono_top_precision']:.3f} "
            f"({old['mono_top_labels']:.0f} and {new['mono_top_labels']:.0f} labels per batch), and the "
            f"encoder's partner acc@1 from {old['partner_acc']:.3f} to {new['partner_acc']:.3f}.")
    if "oracle" in cmp:
        om, osd, nm, nsd = cmp["oracle"]["headline"]
        text += f" The ORACLE moved from {om:+.3f} ± {osd:.3f} to {nm:+.3f} ± {nsd:.3f}."
    return [text]
