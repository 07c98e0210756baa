"""Plots of the book: EM diagnostics over training, embedding maps, rank histograms, confusions, metric bars.

Each function draws on a matplotlib ``Axes`` (made when not given) and returns it, or a ``Figure`` for
multi-panel plots; notebooks call ``plt.show()``. Nothing is computed here beyond what a plot needs (the
diagnostics come from :mod:`emmax_core.diagnostics` via the history). Left out: styling options, widgets.

Taught in: notebooks/05_em_iterations.ipynb, 06_rank_visualizations.ipynb and 08_geometry.ipynb.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

RANK_COLORS = ("#9e9e9e", "#6baed6", "#2171b5", "#d7301f")  # rank 0 (grey) .. rank 3 (red, translation)


def _rank_color(rank: int, num_ranks: int) -> str:
    return RANK_COLORS[rank] if num_ranks == len(RANK_COLORS) else plt.cm.viridis(rank / max(num_ranks - 1, 1))


def _axes(ax):
    return ax if ax is not None else plt.subplots(figsize=(5, 3.5))[1]


def history_series(history: list[dict], key: str, stage: str = "em") -> tuple[np.ndarray, np.ndarray]:
    """One metric of a run's history over the steps of one stage.

    Args:
        history: records from :func:`emmax_core.run_cache.load_history`.
        key: a record key, e.g. ``"agreement"`` (scalar) or ``"rank_means"`` (a list per step).
        stage: ``"init-encoder"``, ``"init-gmm"`` or ``"em"``.

    Returns:
        ``(steps (T,), values (T,) or (T, N))`` as float arrays; a missing or ``None`` value is NaN.

    Taught in: notebooks/05_em_iterations.ipynb
    """
    recs = [r for r in history if r.get("stage") == stage and key in r]
    if not recs:
        raise ValueError(f"no {stage!r} records with key {key!r}; keys: {sorted({k for r in history for k in r})}")
    values = [np.nan if r[key] is None else r[key] for r in recs]
    return np.array([r["step"] for r in recs], dtype=float), np.array(values, dtype=float)


def plot_em_diagnostics(history: list[dict], oracle: list[dict] | None = None):
    """Six panels of the EM stage: rank means, label shares of both modules, agreement and partner accuracy,
    top-rank inflation, per-rank precision against true translations, and monolingual-row top-rank precision
    against the nearest-neighbour baseline (book: :ref:`experiment-diagnostics`).

    Args:
        history: records of the EM run (:func:`emmax_core.run_cache.load_history`).
        oracle: optional records of the ORACLE control, drawn dashed where comparable.

    Returns:
        ``matplotlib.figure.Figure`` with a 2 x 3 grid.

    Taught in: notebooks/05_em_iterations.ipynb
    """
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    _plot_modules(history, oracle, axes[0])
    _plot_label_quality(history, oracle, axes[1])
    return fig


def _plot_modules(history, oracle, axes) -> None:
    """Top row: what the two modules believe (rank means, label shares) and how they agree."""
    steps, means = history_series(history, "rank_means")
    n = means.shape[1]
    for r in range(n):
        axes[0].plot(steps, means[:, r], color=_rank_color(r, n), label=f"$m_{r}$")
    axes[0].set(xlabel="em step", ylabel="cosine", title="rank means")
    axes[0].legend(fontsize=8, ncol=2)
    gmm, rm = (history_series(history, key)[1] for key in ("gmm_counts", "rank_mean_counts"))
    axes[1].stackplot(steps, (gmm / gmm.sum(1, keepdims=True)).T, colors=[_rank_color(r, n) for r in range(n)],
                      labels=[f"rank {r}" for r in range(n)])
    axes[1].plot(steps, np.cumsum(rm / rm.sum(1, keepdims=True), 1)[:, :-1], color="k", lw=1)
    axes[1].set(xlabel="em step", ylabel="share of pairs", ylim=(0, 1),
                title="label shares: GMM (fill), rank means (lines)")
    axes[1].legend(fontsize=7, loc="lower left")
    for key, color in (("agreement", "C0"), ("partner_acc", "C1")):
        axes[2].plot(*history_series(history, key), color=color, label=key)
        if oracle:
            axes[2].plot(*history_series(oracle, key), color=color, ls="--", label=f"{key} (ORACLE)")
    axes[2].set(xlabel="em step", ylim=(0, 1), title="agreement and partner accuracy")
    axes[2].legend(fontsize=7)


def _plot_label_quality(history, oracle, axes) -> None:
    """Bottom row: top-rank inflation and the precision of the labels against the true translations."""
    axes[0].plot(*history_series(history, "top_share"), color="C3")
    axes[0].set(xlabel="em step", ylabel="share", title="top-rank share of non-translations")
    n = len(history_series(history, "rank_means")[1][0])
    for r in range(1, n):
        axes[1].plot(*history_series(history, f"precision_r{r}"), color=_rank_color(r, n), label=f"precision rank {r}")
    axes[1].plot(*history_series(history, f"recall_r{n - 1}"), color="k", ls=":", label=f"recall rank {n - 1}")
    axes[1].set_yscale("symlog", linthresh=1e-3)
    axes[1].set(xlabel="em step", ylim=(0, 1), title="GMM ranks vs true translations")
    axes[1].legend(fontsize=7)
    axes[2].plot(*history_series(history, "mono_top_precision"), color="C3", marker="o", label="GMM top rank")
    axes[2].plot(*history_series(history, "mono_nn_precision"), color="C2", marker="s", label="nearest neighbour")
    if oracle:  # the ORACLE's own labels are exact; what matters is whether its training sharpens neighbours
        axes[2].plot(*history_series(oracle, "mono_nn_precision"), color="C2", ls="--", label="nearest neighbour (ORACLE)")
    axes[2].set(xlabel="em step", ylim=(-0.02, 1.02), title="monolingual rows: precision")
    axes[2].legend(fontsize=7)


def plot_label_matrix(labels, truth=None, ax=None, num_ranks: int = 4, title: str = "encoder labels"):
    """A ``(B, Q)`` label matrix as an image (``-1`` white), true translations circled when ``truth`` is given.

    Args:
        labels: ``(B, Q)`` ranks, ``-1`` = left out. truth: optional ``(B, Q)`` bool.

    Taught in: notebooks/05_em_iterations.ipynb
    """
    ax = _axes(ax)
    labels = np.asarray(labels, dtype=float)
    cmap = ListedColormap([_rank_color(r, num_ranks) for r in range(num_ranks)]).with_extremes(bad="white")
    im = ax.imshow(np.where(labels < 0, np.nan, labels), cmap=cmap, vmin=-0.5, vmax=num_ranks - 0.5,
                   aspect="auto", interpolation="nearest")
    if truth is not None:
        rows, cols = np.nonzero(np.asarray(truth))
        ax.scatter(cols, rows, s=14, facecolors="none", edgecolors="k", lw=0.8, label="true translation")
        ax.legend(fontsize=7, loc="lower right")
    ax.figure.colorbar(im, ax=ax, ticks=range(num_ranks), label="rank")
    ax.set(xlabel="candidate j", ylabel="query i", title=title)
    return ax


def umap_coords(embeddings, n_neighbors: int = 15, min_dist: float = 0.1, random_state: int = 0) -> np.ndarray:
    """2-D UMAP of ``(n, dim)`` embeddings with cosine distance; ``(n, 2)``. Reproducible (fixed ``random_state``).

    umap-learn is imported here, not at module import: its first import JIT-compiles (tens of seconds).

    Taught in: notebooks/06_rank_visualizations.ipynb
    """
    import umap

    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or len(x) <= n_neighbors:
        raise ValueError(f"embeddings must be (n, dim) with n > n_neighbors={n_neighbors}, got {x.shape}.")
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=random_state,
                        n_jobs=1)
    with warnings.catch_warnings():  # "n_jobs overridden by random_state": the seed is the point here
        warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
        return reducer.fit_transform(x)


def plot_embedding_map(coords, groups, ax=None, title: str = "", legend: bool = True, cmap: str = "tab20"):
    """Scatter ``(n, 2)`` coordinates coloured by ``n`` group names (a language, a meaning, ...).

    Taught in: notebooks/06_rank_visualizations.ipynb
    """
    ax = _axes(ax)
    coords, groups = np.asarray(coords), np.asarray(groups, dtype=str)
    names = sorted(set(groups.tolist()))
    colors = plt.get_cmap(cmap, max(len(names), 1))
    for i, name in enumerate(names):
        pts = coords[groups == name]
        ax.scatter(pts[:, 0], pts[:, 1], s=10, color=colors(i), label=name, alpha=0.8)
    ax.set(title=title, xticks=[], yticks=[])
    if legend:  # outside, on the right: a map has no empty corner to spare
        ax.legend(fontsize=7, markerscale=1.5, ncol=1 + len(names) // 18, loc="center left",
                  bbox_to_anchor=(1.01, 0.5), frameon=False)
    return ax


def plot_rank_histograms(sims, ranks, rank_means=None, truth=None, ax=None, bins: int = 60,
                         title: str = "similarity by predicted rank"):
    """Histogram of cosine similarities ``s_ij`` per predicted rank, rank means as vertical lines.

    Args:
        sims: ``(n,)`` or ``(B, Q)`` similarities.
        ranks: same shape, the rank each pair was given (``-1`` = left out).
        rank_means: optional ``(N,)`` running rank means m_r.
        truth: optional bool mask of true translations, drawn as a black outline.

    Taught in: notebooks/06_rank_visualizations.ipynb
    """
    ax = _axes(ax)
    sims, ranks = np.asarray(sims, dtype=float).ravel(), np.asarray(ranks).ravel()
    n = int(max(ranks.max() + 1, len(rank_means) if rank_means is not None else 0))
    edges = np.linspace(min(sims.min(), 0.0), 1.0, bins + 1)
    for r in range(n):
        ax.hist(sims[ranks == r], bins=edges, color=_rank_color(r, n), alpha=0.6, label=f"rank {r}")
    if truth is not None:
        ax.hist(sims[np.asarray(truth).ravel()], bins=edges, histtype="step", color="k", lw=1.5,
                label="true translations")
    for r, m in enumerate(rank_means if rank_means is not None else []):
        ax.axvline(m, color=_rank_color(r, n), ls="--", lw=1.2)
    ax.set(xlabel="cosine similarity $s_{ij}$", ylabel="pairs", yscale="log", title=title)
    ax.legend(fontsize=7)
    return ax


def plot_confusion(matrix, ax=None, xlabel: str = "predicted rank", ylabel: str = "silver rank",
                   title: str = "", normalize: bool = True):
    """Confusion matrix ``(R, C)`` as an annotated image; rows normalised to 1 when ``normalize`` (counts shown).

    Taught in: notebooks/06_rank_visualizations.ipynb
    """
    ax = _axes(ax)
    counts = np.asarray(matrix, dtype=float)
    shown = counts / np.maximum(counts.sum(1, keepdims=True), 1) if normalize else counts
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    for (i, j), v in np.ndenumerate(counts):
        ax.text(j, i, f"{shown[i, j]:.2f}\n({int(v)})" if normalize else f"{int(v)}", ha="center", va="center",
                fontsize=7, color="white" if shown[i, j] > 0.6 * shown.max() else "black")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xticks=range(counts.shape[1]), yticks=range(counts.shape[0]))
    return ax


def plot_metric_bars(reports: dict[str, dict], metrics: list[str], better: dict[str, str] | None = None,
                     ncols: int = 4):
    """One bar chart per metric, one bar per model.

    Args:
        reports: ``{model name: {metric: value}}``, e.g. from
            :func:`emmax_core.evaluation.geometry.geometry_report`.
        metrics: metric names to draw, one panel each.
        better: optional ``{metric: "higher" | "lower" | text}`` shown in the panel title.
        ncols: panels per row.

    Returns:
        ``matplotlib.figure.Figure``.

    Taught in: notebooks/08_geometry.ipynb
    """
    better = better or {}
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), constrained_layout=True,
                             squeeze=False)
    names = list(reports)
    for ax, metric in zip(axes.flat, metrics):
        values = [reports[m][metric] for m in names]
        ax.bar(range(len(names)), values, color=[f"C{i}" for i in range(len(names))])
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        hint = better.get(metric, "")
        ax.set_title(f"{metric}\n" + (f"({hint} is better)" if hint in ("higher", "lower") else hint), fontsize=9)
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    return fig


def plot_experiment_headline(summary: dict, kinds=("leak_free", "transductive"), profile: str = "tiny"):
    """Bars of Δ NON-PARALLEL − Δ UNSEEN per run with its spread over seeds, one panel per evaluation kind.

    Args:
        summary: the experiment summary (:func:`emmax_core.results.load`).
        kinds: ``"leak_free"`` and/or ``"transductive"``.
        profile: the profile that produced the numbers, for the axis label.

    Returns:
        ``matplotlib.figure.Figure``; the ORACLE is green, named deviations from the paper orange.

    Taught in: notebooks/07_evaluation.ipynb
    """
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        rows = {k: v for k, v in summary["tables"][kind].items() if k != "warmup"}
        names = list(rows)
        ax.bar(names, [rows[n]["headline"] for n in names], yerr=[np.nan_to_num(rows[n]["spread"]) for n in names],
               color=["tab:green" if n == "oracle" else "tab:orange" if not rows[n]["paper_faithful"]
                      else "tab:blue" for n in names], capsize=3)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"{kind}: Δ NON-PARALLEL − Δ UNSEEN")
        ax.tick_params(axis="x", rotation=60)
    axes[0, 0].set_ylabel(f"acc@1 difference ({profile} profile)")
    fig.tight_layout()
    return fig


def plot_experiment_diagnostics(summary: dict, ax=None, profile: str = "tiny"):
    """Means over the EM steps of the pseudo-label diagnostics of each EM-like run, one bar group per run.

    Args:
        summary: the experiment summary (:func:`emmax_core.results.load`).
        ax: where to draw (a new wide figure when None).
        profile: the profile that produced the numbers, for the title.

    Returns:
        The matplotlib axes.

    Taught in: notebooks/07_evaluation.ipynb
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 4), constrained_layout=True)
    d = summary["diagnostics"]
    names = [n for n in d if d[n]]
    keys = ("top_precision", "top_recall", "mono_top_precision", "mono_top_recall", "mono_nn_precision", "top_share")
    width = 0.8 / len(keys)
    for i, k in enumerate(keys):
        ax.bar(np.arange(len(names)) + i * width, [d[n].get(k, np.nan) for n in names], width, label=k)
    ax.set_xticks(np.arange(len(names)) + 0.4, names, rotation=30)
    ax.set_ylabel("mean over EM steps")
    ax.legend(ncol=3, fontsize=8)
    ax.set_title(f"Pseudo-labels against the true translations ({profile} profile)")
    return ax


def plot_per_language(per_model: dict[str, dict], metric: str = "src2trg_accuracy", ax=None):
    """Grouped bars of one retrieval metric per language, one bar per model.

    Args:
        per_model: ``{model name: evaluate_bitext_by_language(...) output}``.
        metric: which metric of the ``lang={L}/{metric}`` keys to plot.

    Returns:
        The matplotlib axes.

    Taught in: notebooks/07_evaluation.ipynb
    """
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
