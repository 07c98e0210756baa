"""When does EM earn its keep? The map of EM's gain over pseudo-label precision and recall, and the warm-up ladder.

``make sweep`` (``python -m emmax_core.experiment --suite sweep``) trains EM with the noisy ORACLE
(:func:`emmax_core.labelling.noisy_oracle_labels`) over the grid ``SWEEP_PRECISION x SWEEP_RECALL`` and EM as
specified and the ORACLE on warm-ups trained longer (the ladder). :func:`label_map` reads the aggregated summary:
the gain (leak-free Δ NP − Δ UNS) of every cell with its spread and the precision and recall its labels really
had on unaligned rows (measured during training), the break-even line, every real labeller placed on the map,
and the ladder. :func:`plot_gain_map` and :func:`plot_warmup_ladder` draw them. Book: :ref:`sweep-noisy-oracle`.

Taught in: notebooks/09_ablations.ipynb.
"""

from __future__ import annotations

import numpy as np

from .registry import BACKBONES, LADDER, SWEEP_PRECISION, SWEEP_RECALL, run_label, sweep_run

#: The real labellers placed on the map: EM as specified, the named variants and the top-1 ORACLE.
LABELLERS = ("em", "em_mnn", "em_topk", "em_curriculum", "oracle_nn")
NAN = float("nan")


def _gain(row: dict, pooled: float = NAN) -> dict:
    """Mean gain, sd over seeds (fold-averaged, as the headline) and over seed x fold jobs, how many of each, and
    the standard error of the mean, ``pooled / sqrt(seeds)``.

    Folds are averaged first: a fold's languages can gain more than the other fold's, which the fold swap
    cancels. With two seeds a run's own spread has one degree of freedom, so the standard error uses the seed
    spread pooled over the grid's cells (:func:`pooled_spread`), the same protocol everywhere.
    """
    seeds = len(row.get("per_seed", []))
    return {"gain": row.get("headline", NAN), "spread": row.get("spread", NAN),
            "job_spread": row.get("job_spread", NAN), "seeds": seeds, "jobs": len(row.get("per_job", [])),
            "stderr": pooled / np.sqrt(seeds) if seeds > 1 else NAN}


def pooled_spread(summary: dict) -> float:
    """Root mean square of the grid cells' spreads over seeds: the noise of one seed's fold-averaged gain."""
    table = summary["tables"]["leak_free"]
    var = [table[n]["spread"] ** 2 for n in (sweep_run(p, r) for p in SWEEP_PRECISION for r in SWEEP_RECALL)
           if n in table and table[n]["spread"] == table[n]["spread"]]
    return float(np.sqrt(np.mean(var))) if var else NAN


def _realised(diag: dict) -> dict:
    """Precision, recall and count per batch of the top-rank labels on unaligned rows, measured in training."""
    return {"realised_precision": diag.get("mono_top_precision", NAN),
            "realised_recall": diag.get("mono_top_recall", NAN), "labels_per_batch": diag.get("mono_top_labels", NAN)}


def grid_cells(summary: dict) -> list[dict]:
    """One dict per (requested precision, recall) cell: its run, gain with spread, realised label quality."""
    table, diag, pooled = summary["tables"]["leak_free"], summary["diagnostics"], pooled_spread(summary)
    return [{"run": sweep_run(p, r), "precision": p, "recall": r, **_gain(table.get(sweep_run(p, r), {}), pooled),
             **_realised(diag.get(sweep_run(p, r), {}))} for p in SWEEP_PRECISION for r in SWEEP_RECALL]


def surface(cells: list[dict], key: str = "gain") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(log10 precisions, log10 recalls, values)``: ascending axes and the ``(P, R)`` matrix of ``key``."""
    lp, lr = np.log10(sorted(SWEEP_PRECISION)), np.log10(sorted(SWEEP_RECALL))
    g = np.full((len(lp), len(lr)), NAN)
    for c in cells:
        g[np.argmin(abs(lp - np.log10(c["precision"]))), np.argmin(abs(lr - np.log10(c["recall"])))] = c[key]
    return lp, lr, g


def interpolate(cells: list[dict], precision, recall, key: str = "gain") -> np.ndarray:
    """The surface of ``key`` (the gain), bilinear in (log precision, log recall), at points clipped into the grid."""
    from scipy.interpolate import RegularGridInterpolator

    lp, lr, g = surface(cells, key)
    pts = np.stack(np.broadcast_arrays(np.clip(np.log10(precision), lp[0], lp[-1]),
                                       np.clip(np.log10(recall), lr[0], lr[-1])), -1)
    return RegularGridInterpolator((lp, lr), g)(pts)


def break_even(cells: list[dict]) -> list[dict]:
    """Per recall level (high to low): the precision below which the gain turns negative.

    ``precision`` is interpolated in log precision between the two cells around the first sign change from
    precision 1 down; ``None`` with ``pays_at_best`` False when even precision 1 does not gain, and ``None``
    with ``below_grid`` True when every cell of that recall gains.
    """
    lp, lr, g = surface(cells)
    out = []
    for j in range(len(lr) - 1, -1, -1):
        col = g[::-1, j]  # precision 1 first
        row = {"recall": float(10 ** lr[j]), "precision": None, "pays_at_best": bool(col[0] > 0),
               "below_grid": False}
        if col[0] > 0:
            cross = [i for i in range(len(col) - 1) if col[i] > 0 >= col[i + 1]]
            if cross:
                i, lps = cross[0], lp[::-1]
                t = col[i] / (col[i] - col[i + 1])
                row["precision"] = float(10 ** (lps[i] + t * (lps[i + 1] - lps[i])))
            else:
                row["below_grid"] = True
        out.append(row)
    return out


def nearest_paying_point(cells: list[dict], precision: float, recall: float, threshold: float = 0.0,
                         resolution: int = 121) -> dict | None:
    """The point of the grid where the interpolated gain is above ``threshold`` nearest to (precision, recall),
    in log10 units. :func:`label_map` passes two standard errors of a cell's mean: where the map pays beyond noise.

    Returns ``None`` when no point pays, else the point, its distance and the factors of precision and recall
    the labeller would need (``point / labeller``).
    """
    lp, lr, _ = surface(cells)
    gp, gr = np.meshgrid(np.linspace(lp[0], lp[-1], resolution), np.linspace(lr[0], lr[-1], resolution),
                         indexing="ij")
    pays = interpolate(cells, 10 ** gp, 10 ** gr) > threshold
    if not pays.any():
        return None
    d = np.hypot(gp - np.log10(precision), gr - np.log10(recall))
    i = np.unravel_index(np.where(pays, d, np.inf).argmin(), d.shape)
    p, r = float(10 ** gp[i]), float(10 ** gr[i])
    return {"precision": p, "recall": r, "distance": float(d[i]), "precision_factor": p / precision,
            "recall_factor": r / recall}


def reliable_gain(cells: list[dict]) -> float:
    """Two standard errors of a cell's mean gain: the map pays beyond noise where it gains more (0 if unknown)."""
    se = [c["stderr"] for c in cells if c["stderr"] == c["stderr"]]
    return 2 * max(se) if se else 0.0


def place_labellers(summary: dict, cells: list[dict]) -> dict:
    """Every real labeller (and EM on each ladder rung) at its measured precision and recall, with its gain."""
    table, diag = summary["tables"]["leak_free"], summary["diagnostics"]
    lp, lr, _ = surface(cells)
    pooled, reliable, out = pooled_spread(summary), reliable_gain(cells), {}
    for name in (*LABELLERS, *(run_label("em", b) for b in LADDER)):
        if name not in table or name not in diag:
            continue
        row = {**_gain(table[name], pooled), **_realised(diag[name])}
        p, r = row["realised_precision"], row["realised_recall"]
        if not (p == p and r == r and p > 0 and r > 0):
            continue
        row["outside_grid"] = bool(not (lp[0] <= np.log10(p) <= lp[-1] and lr[0] <= np.log10(r) <= lr[-1]))
        row["map_gain"] = float(np.ravel(interpolate(cells, p, r))[0])
        row["map_stderr"] = float(np.ravel(interpolate(cells, p, r, "stderr"))[0])
        # the map and the labeller disagree beyond two standard errors of their difference
        row["differs_from_map"] = bool(abs(row["map_gain"] - row["gain"])
                                       > 2 * np.hypot(row["map_stderr"], row["stderr"]))
        row["nearest_paying"] = nearest_paying_point(cells, p, r, reliable)
        out[name] = row
    return out


def ladder(summary: dict) -> list[dict]:
    """Per warm-up rung: steps, warm-up time, NN precision, realised labels of EM, EM and ORACLE gains.

    The warm-up's wall time (mean over seeds) is the run cache's record of its training (``timing.json``) where
    there is one, else the time of the job that trained it; its CPU time (one thread: what it costs on idle
    cores) is averaged over the seeds whose record has it (``warmup_cpu_measured``).
    """
    from ..config import TrainConfig

    table, diag, bbs = summary["tables"]["leak_free"], summary["diagnostics"], summary.get("backbones", {})
    rungs = []
    for b in ("tiny", *LADDER):
        if b not in bbs or run_label("em", b) not in table:
            continue
        warm = [r for r in summary["results"] if r["run"] == run_label("warmup", b)]
        timing = [(r.get("warmup_timing") or {}).get("wall_seconds", r.get("cost", {}).get("train_seconds", NAN))
                  for r in warm]
        cpu = [t["cpu_seconds"] for r in warm if "cpu_seconds" in (t := r.get("warmup_timing") or {})]
        em, oracle = table[run_label("em", b)], table.get(run_label("oracle", b), {})
        rungs.append({"backbone": b, "steps": BACKBONES[b][1].get("train", {}).get("init_steps", TrainConfig.init_steps),
                      "warmup_seconds": float(np.mean(timing)) if timing else NAN, "warmup_seeds": len(warm),
                      "warmup_cpu_seconds": float(np.mean(cpu)) if cpu else NAN, "warmup_cpu_measured": len(cpu),
                      "nn_precision": bbs[b]["nn_precision"], "nn_precision_spread": bbs[b]["nn_precision_spread"],
                      "warmup_np": bbs[b]["leak_free_NP"], "warmup_par": bbs[b]["leak_free_PAR"],
                      **_realised(diag.get(run_label("em", b), {})),
                      "em": _gain(em), "oracle": _gain(oracle)})
    return rungs


def sweep_cost(summary: dict) -> dict:
    """What the sweep's own jobs (the noisy-ORACLE cells and the ladder's runs) cost, over every invocation.

    Runs the sweep shares with ``make results`` (EM, the controls, the ORACLE) come from its cache and are not
    counted; the ladder's warm-ups are counted by their recorded training time (``warmup_seconds`` per rung).
    ``wall_seconds`` spans the first start to the last finish of these jobs, whichever invocation ran them.
    """
    own = [r for r in summary["results"] if "started" in r.get("cost", {}) and (r["run"].startswith("noisy_") or (
        not r["run"].startswith("warmup") and any(r["run"].endswith(f"@{b}") for b in LADDER)))]
    if not own:
        return {"jobs": 0}
    ends = [r["cost"]["started"] + r["cost"]["train_seconds"] + r["cost"]["eval_seconds"] for r in own]
    return {"jobs": len(own), "invocations": len({r["cost"]["invocation"] for r in own}),
            "wall_seconds": max(ends) - min(r["cost"]["started"] for r in own),
            "cpu_seconds": float(sum(r["cost"].get("cpu_seconds", NAN) for r in own)),
            "train_seconds": float(sum(r["cost"]["train_seconds"] for r in own)),
            "eval_seconds": float(sum(r["cost"]["eval_seconds"] for r in own))}


def label_map(summary: dict) -> dict:
    """Everything the chapter and ``results/sweep/README.md`` say about the sweep, computed from the summary."""
    cells = grid_cells(summary)
    placed = place_labellers(summary, cells)
    measured = [c for c in cells if c["gain"] == c["gain"]]
    significant = [c["run"] for c in measured if c["gain"] > 2 * c["stderr"]]  # nan stderr: never
    inside = [k for k, v in placed.items() if v["map_gain"] > reliable_gain(cells)]  # the map pays beyond noise
    # the labeller nearest to the paying region, among those outside it
    reachable = {k: v for k, v in placed.items() if v["nearest_paying"] is not None and k not in inside}
    nearest = min(reachable, key=lambda k: reachable[k]["nearest_paying"]["distance"], default=None)
    return {"cells": cells, "pooled_spread": pooled_spread(summary), "reliable_gain": reliable_gain(cells),
            "break_even": break_even(cells) if len(measured) == len(cells) else [],
            "labellers": placed, "inside": inside, "mismatch": [k for k in inside
                                                     if not placed[k]["gain"] > 0 and placed[k]["differs_from_map"]],
            "ladder": ladder(summary), "paying_cells": [c["run"] for c in measured if c["gain"] > 0],
            "significant_cells": significant, "nearest_labeller": nearest, "measured_cells": len(measured),
            "cost": sweep_cost(summary)}


def plot_gain_map(summary_map: dict, ax=None):
    """The gain over (precision, recall) with its zero contour, and the real labellers placed on it."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    cells = summary_map["cells"]
    lp, lr, g = surface(cells)
    if ax is None:
        ax = plt.subplots(figsize=(7.5, 5.6))[1]
    lim = float(np.nanmax(abs(g))) or 1.0
    edges = [10 ** np.concatenate([[a[0] - (a[1] - a[0]) / 2], (a[1:] + a[:-1]) / 2, [a[-1] + (a[-1] - a[-2]) / 2]])
             for a in (lp, lr)]
    mesh = ax.pcolormesh(edges[0], edges[1], g.T, cmap="RdBu", norm=TwoSlopeNorm(0.0, -lim, lim))
    plt.colorbar(mesh, ax=ax, label="gain: leak-free Δ NP − Δ UNS")
    for c in cells:
        if c["gain"] == c["gain"]:
            ax.text(c["precision"], c["recall"], f"{c['gain']:+.3f}" + "*" * (c["run"] in summary_map.get(
                "significant_cells", [])), ha="center", va="center", fontsize=8, color="0.25")
    gp, gr = np.meshgrid(np.linspace(lp[0], lp[-1], 121), np.linspace(lr[0], lr[-1], 121), indexing="ij")
    fine = interpolate(cells, 10 ** gp, 10 ** gr)
    for level, style in ((0.0, "solid"), (summary_map.get("reliable_gain", 0.0), "dashed")):
        if np.isfinite(fine).any() and np.nanmin(fine) < level < np.nanmax(fine):
            ax.contour(10 ** gp, 10 ** gr, fine, levels=[level], colors="k", linewidths=2, linestyles=style)
    lo_p, lo_r = edges[0][0], edges[1][0]
    for name, row in summary_map["labellers"].items():
        p, r = max(row["realised_precision"], lo_p * 1.1), max(row["realised_recall"], lo_r * 1.1)
        ax.plot(p, r, marker="v" if row["outside_grid"] else "o", ms=8, mfc="gold", mec="k")
        above = name in ("em", "em_mnn", "oracle_nn")  # neighbours on the map get their names on either side
        ax.annotate(f"{name} ({row['gain']:+.3f})", (p, r), textcoords="offset points",
                    xytext=(6, 6) if above else (6, -14), fontsize=8,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.8, "lw": 0})
    ax.set(xscale="log", yscale="log", xlabel="precision of top-rank labels (unaligned rows)",
           ylabel="recall of true translations",
           title="EM's gain by pseudo-label quality\n(solid: zero gain; dashed and *: gain above two standard "
                 f"errors, {summary_map.get('reliable_gain', NAN):.3f})")
    return ax


def plot_warmup_ladder(summary_map: dict, ax=None):
    """EM's and the ORACLE's gain against warm-up steps, with the warm-up's nearest-neighbour precision."""
    import matplotlib.pyplot as plt

    rungs = summary_map["ladder"]
    if ax is None:
        ax = plt.subplots(figsize=(7, 4))[1]
    steps = [r["steps"] for r in rungs]
    for key, color in (("em", "C0"), ("oracle", "C3")):
        ax.errorbar(steps, [r[key]["gain"] for r in rungs], yerr=[r[key]["spread"] for r in rungs],
                    marker="o", capsize=3, color=color, label=f"{key} gain (sd over seeds)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xscale="log", xlabel="warm-up (stage 1) steps, and its wall time on one CPU thread",
           ylabel="gain: leak-free Δ NP − Δ UNS", title="How strong must the backbone be?")
    ax.set_xticks(steps, [f"{r['steps']}\n{r['warmup_seconds'] / 60:.0f} min" for r in rungs])
    ax.minorticks_off()
    twin = ax.twinx()
    twin.plot(steps, [r["nn_precision"] for r in rungs], "s--", color="C2", label="NN precision (A+B)")
    twin.set_ylabel("nearest-neighbour precision")
    lines = ax.get_legend_handles_labels(), twin.get_legend_handles_labels()
    ax.legend(lines[0][0] + lines[1][0], lines[0][1] + lines[1][1], fontsize=8, loc="upper left")
    return ax


def _pct(x: float) -> str:
    return f"{x:.3g}"


def verdict_text(summary_map: dict) -> list[str]:
    """The sweep's reading in words (markdown bullets), generated from :func:`label_map`'s numbers."""
    m, lines = summary_map, []
    if m["break_even"]:
        parts = []
        for row in m["break_even"]:
            at = f"recall {_pct(row['recall'])}"
            if not row["pays_at_best"]:
                parts.append(f"at {at} not even error-free labels gain")
            elif row["below_grid"]:
                parts.append(f"at {at} every precision of the grid gains, down to {_pct(min(SWEEP_PRECISION))}")
            else:
                parts.append(f"at {at} labels gain above a precision of about {_pct(row['precision'])}")
        lines.append("- Break-even at this scale (the zero-gain line of the map): " + "; ".join(parts) + ".")
    else:
        lines.append(f"- Only {m['measured_cells']} of {len(m['cells'])} cells are measured: no break-even line yet.")
    seeds = max((c["seeds"] for c in m["cells"]), default=0)
    se = m.get("pooled_spread", NAN) / np.sqrt(seeds) if seeds > 1 else NAN
    lines.append(f"- Noise: one seed's fold-averaged gain varies by {m.get('pooled_spread', NAN):.3f} (sd over seeds, "
                 f"pooled over the cells), so two standard errors of a cell's mean over {seeds} seeds are "
                 f"{2 * se:.3f}. {len(m['paying_cells'])} of {m['measured_cells']} cells gain on average and "
                 f"{len(m['significant_cells'])} by more than that: "
                 + (", ".join(f"`{c}`" for c in m["significant_cells"]) or "none")
                 + ". The zero line is drawn through the means; where the gains are within noise, so is the line.")
    placed = m["labellers"]
    if "em" in placed:
        em = placed["em"]
        lines.append(f"- EM as specified labels unaligned rows at precision {em['realised_precision']:.4f} and "
                     f"recall {em['realised_recall']:.3f} ({em['labels_per_batch']:.0f} top-rank labels per batch) "
                     f"and scored {em['gain']:+.3f}" + (f"; the map predicts {em['map_gain']:+.3f} there."
                                                        if em["map_gain"] == em["map_gain"] else "."))
    inside = m.get("inside", [])
    lines.append("- At the precision and recall measured on their own runs the map reads: " + "; ".join(
        f"`{k}` {v['map_gain']:+.3f} (it scored {v['gain']:+.3f})" for k, v in placed.items())
        + f". It predicts a gain beyond noise (above {m.get('reliable_gain', NAN):.3f}) for {len(inside)} of them"
        + (": " + ", ".join(f"`{k}`" for k in inside) if inside else "")
        + f"; {len(m['mismatch'])} score below the map by more than two standard errors of the difference.")
    if m.get("mismatch"):
        lines.append("- So at this scale the precision and recall of the top rank do not decide whether EM pays: a "
                     "noisy ORACLE with the same top-rank quality gains where " + ", ".join(
                         f"`{k}`" for k in m["mismatch"]) + " do not. Beyond the top rank the two differ by "
                     "construction: the noisy ORACLE leaves every other pair at rank 0, keeps a random share of the "
                     "translations and takes its errors from the most similar pairs of the batch, while a labeller "
                     "that reads the encoder also fills the middle ranks and finds the translations its encoder "
                     "already ranks high.")
    name = m["nearest_labeller"]
    if name is not None:
        near, row = placed[name]["nearest_paying"], placed[name]
        lines.append(f"- Of the labellers outside the region where the map pays beyond noise, the nearest to it is "
                     f"`{name}` (precision "
                     f"{row['realised_precision']:.3f}, recall {row['realised_recall']:.3f}): the nearest point of "
                     f"the map that gains beyond noise is precision {_pct(near['precision'])}, recall {_pct(near['recall'])}, i.e. {near['precision_factor']:.2g}x "
                     f"its precision and {near['recall_factor']:.2g}x its recall.")
    rungs = m["ladder"]
    if len(rungs) > 1:
        first, last = rungs[0], rungs[-1]
        lines.append(f"- Warm-up ladder: from {first['steps']} to {last['steps']} stage-1 steps the nearest-neighbour "
                     f"precision of groups A+B goes from {first['nn_precision']:.3f} to {last['nn_precision']:.3f}, "
                     f"EM's labels from precision {first['realised_precision']:.4f} / recall "
                     f"{first['realised_recall']:.3f} to {last['realised_precision']:.4f} / "
                     f"{last['realised_recall']:.3f}, and EM's gain from {first['em']['gain']:+.3f} to "
                     f"{last['em']['gain']:+.3f} (ORACLE: {first['oracle']['gain']:+.3f} to "
                     f"{last['oracle']['gain']:+.3f}).")
    return lines
