"""Interactive explorers of the book: a sentence's cross-lingual neighbours and the ranks both modules give them.

The explorer uses core ipywidgets only (``Dropdown`` and ``HTML``), so a built book embeds its state: the
page shows the table of the selected sentence, but without a kernel the dropdown cannot recompute it (run
the notebook, e.g. on Colab, to explore). Every chapter therefore prints a static table first, made by the
same :func:`neighbour_table` the widget calls.

:func:`figure_explorer` redraws a matplotlib figure from sliders into a core ``Image`` widget (a PNG),
instead of ``ipywidgets.interact``: interact captures output through an ``Output`` widget, which sometimes
deadlocks notebook execution in nbclient (the book build, the stand-alone test), and whose plots do not embed.

Left out on purpose: any logic of the method itself: ranks come from the trained
:class:`~emmax_core.gmm.GaussianMixtureRankClassifier` and :class:`~emmax_core.ranks.RankMeans`.

Taught in: notebooks/04_ranking_infonce.ipynb and notebooks/06_rank_visualizations.ipynb
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .corpus import silver_ranks


def load_rank_modules(run, device: str | torch.device = "cpu"):
    """The rank classifier and the rank means a run saved next to its encoder (``rank_classifier.pt``).

    Args:
        run: a run folder from :func:`emmax_core.run_cache.train_or_load` (its ``final/`` is used, else
            ``encoder-init/``), or a ``save_pretrained`` folder holding ``rank_classifier.pt``.
        device: where to put the modules.

    Returns:
        ``(gmm, rank_means)``: a :class:`~emmax_core.gmm.GaussianMixtureRankClassifier` (or the FC ablation,
        recognised by its parameter names) and a :class:`~emmax_core.ranks.RankMeans`, both in eval mode.

    Taught in: notebooks/06_rank_visualizations.ipynb
    """
    from .fc_classifier import FullyConnectedRankClassifier
    from .gmm import GaussianMixtureRankClassifier
    from .ranks import RankMeans

    run = Path(run)
    folder = next((f for f in (run / "final", run / "encoder-init", run) if (f / "rank_classifier.pt").exists()),
                  None)
    if folder is None:
        raise FileNotFoundError(f"no rank_classifier.pt under {run}; train the init-gmm and em stages first.")
    state = torch.load(folder / "rank_classifier.pt", map_location=device, weights_only=True)
    num_ranks = int(state["rank_means"]["rank_means"].shape[0])
    if "means" in state["gmm"]:
        gmm = GaussianMixtureRankClassifier(num_ranks, int(state["gmm"]["means"].shape[1]))
    else:
        first = state["gmm"]["mlp.0.weight"]  # (hidden, 2 D), or (N, 2 D) for the linear variant
        hidden = int(first.shape[0]) if "mlp.2.weight" in state["gmm"] else 0
        gmm = FullyConnectedRankClassifier(num_ranks, int(first.shape[1]) // 2, hidden=hidden)
    gmm.load_state_dict(state["gmm"])
    rank_means = RankMeans(num_ranks)
    rank_means.load_state_dict(state["rank_means"])
    return gmm.to(device).eval(), rank_means.to(device)


def neighbour_table(index: int, embeddings, texts, langs, units, gmm, rank_means, k: int = 8,
                    other_languages: bool = True):
    """The ``k`` nearest neighbours of sentence ``index`` with the ranks of both modules and the silver rank.

    Args:
        index: row of the query sentence.
        embeddings: ``(n, dim)`` unit-norm sentence embeddings (numpy or torch).
        texts, langs, units: ``n`` sentences, language codes and unit_ids.
        gmm: the rank classifier (its :meth:`predict` gives the E-step rank).
        rank_means: :class:`~emmax_core.ranks.RankMeans` (its :meth:`assign` gives the encoder's rank).
        k: neighbours to list.
        other_languages: list only sentences in other languages than the query's.

    Returns:
        ``pandas.DataFrame`` with columns ``lang, text, cosine, gmm_rank, rank_mean_rank, silver_rank,
        translation`` (``translation``: same unit, other language), sorted by cosine.

    Taught in: notebooks/06_rank_visualizations.ipynb
    """
    import pandas as pd

    x = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    langs, units = np.asarray(langs, dtype=str), np.asarray(units, dtype=str)
    if not 0 <= index < len(x):
        raise ValueError(f"index={index} is out of range for {len(x)} sentences.")
    sims = x @ x[index]
    keep = np.arange(len(x)) != index
    if other_languages:
        keep &= langs != langs[index]
    cols = np.flatnonzero(keep)
    top = cols[torch.argsort(sims[cols], descending=True)[:k].numpy()]
    device = next(gmm.parameters()).device
    with torch.no_grad():
        gmm_rank = gmm.predict(x[index:index + 1].to(device), x[top].to(device))[0].cpu().numpy()
        rm_rank = rank_means.assign(sims[top].to(rank_means.rank_means.device)).cpu().numpy()
    silver = silver_ranks([units[index]], units[top].tolist())[0]
    return pd.DataFrame({
        "lang": langs[top], "text": [texts[i] for i in top], "cosine": sims[top].numpy().round(3),
        "gmm_rank": gmm_rank, "rank_mean_rank": rm_rank, "silver_rank": silver,
        "translation": (units[top] == units[index]) & (langs[top] != langs[index]),
    })


def _label(text: str, lang: str, width: int = 70) -> str:
    text = " ".join(str(text).split())
    return f"[{lang}] {text[:width]}{'...' if len(text) > width else ''}"


def rank_explorer(embeddings, texts, langs, units, gmm, rank_means, choices=None, k: int = 8, value=None):
    """A dropdown of query sentences and the :func:`neighbour_table` of the selected one.

    Args:
        embeddings, texts, langs, units, gmm, rank_means, k: as in :func:`neighbour_table`.
        choices: rows offered in the dropdown (default: the first 30).
        value: the row selected at first (default: the first choice; added to ``choices`` if missing).

    Returns:
        ``ipywidgets.VBox`` of a ``Dropdown`` and an ``HTML`` table (core widgets: their state embeds in
        the built book).

    Taught in: notebooks/06_rank_visualizations.ipynb
    """
    import ipywidgets as w

    choices = list(range(min(30, len(texts)))) if choices is None else [int(c) for c in choices]
    if not choices:
        raise ValueError("choices is empty; pass the rows to offer in the dropdown.")
    if value is not None and int(value) not in choices:
        choices.insert(0, int(value))
    dropdown = w.Dropdown(options=[(_label(texts[i], langs[i]), i) for i in choices],
                          value=choices[0] if value is None else int(value), description="sentence",
                          layout=w.Layout(width="95%"))
    table = w.HTML()

    def show(change=None):
        frame = neighbour_table(dropdown.value, embeddings, texts, langs, units, gmm, rank_means, k)
        table.value = frame.to_html(index=False, escape=True)

    dropdown.observe(show, names="value")
    show()
    return w.VBox([dropdown, table])


def figure_explorer(draw, **controls):
    """Sliders (or any value widgets) that redraw ``draw(**values)`` into a PNG ``Image`` widget.

    Args:
        draw: callable taking the controls' values as keyword arguments and returning a matplotlib
            ``Figure`` (closed here after rendering, so it is not shown twice).
        controls: name -> ipywidgets value widget (``FloatSlider``, ``IntSlider``, ``Dropdown``, ...).

    Returns:
        ``ipywidgets.VBox`` of the controls and the image (core widgets: their state, the PNG of the current
        values included, embeds in the built book).

    Taught in: notebooks/04_ranking_infonce.ipynb
    """
    import io

    import ipywidgets as w
    import matplotlib.pyplot as plt

    if not controls:
        raise ValueError("figure_explorer needs at least one control, e.g. tau=FloatSlider(...).")
    image = w.Image(format="png")

    def redraw(change=None):
        fig = draw(**{name: control.value for name, control in controls.items()})
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        image.value = buffer.getvalue()

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([*controls.values(), image])
