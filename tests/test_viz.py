"""Plot helpers (emmax_core.viz) and explorers (emmax_core.widgets) on tiny synthetic inputs."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from emmax_core import viz, widgets  # noqa: E402
from emmax_core.fc_classifier import FullyConnectedRankClassifier  # noqa: E402
from emmax_core.gmm import GaussianMixtureRankClassifier  # noqa: E402
from emmax_core.ranks import RankMeans  # noqa: E402


def _history(steps=(1, 10, 20), n=4):
    recs = [{"stage": "init-gmm", "step": 1, "loss_gmm": 1.0}]
    for s in steps:
        rec = {"stage": "em", "step": s, "rank_means": [0.1, 0.4, 0.6, 0.9], "gmm_counts": [70, 20, 8, 2],
               "rank_mean_counts": [60, 30, 9, 1], "agreement": 0.8, "partner_acc": 0.5, "top_share": 0.01,
               "mono_top_precision": None if s == 1 else 0.01, "mono_nn_precision": 0.3}
        rec.update({f"precision_r{r}": 0.01 * r for r in range(n)})
        rec.update({f"recall_r{r}": 0.25 for r in range(n)})
        recs.append(rec)
    return recs


def test_history_series_selects_the_stage_and_keeps_list_values():
    steps, means = viz.history_series(_history(), "rank_means")
    assert steps.tolist() == [1, 10, 20] and means.shape == (3, 4)
    _, prec = viz.history_series(_history(), "mono_top_precision")
    assert math.isnan(prec[0]) and prec[1] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="agreement"):
        viz.history_series(_history(), "agreement", stage="init-encoder")


def test_em_diagnostics_draws_six_panels_with_data():
    fig = viz.plot_em_diagnostics(_history(), oracle=_history())
    assert len(fig.axes) == 6
    assert all(ax.has_data() for ax in fig.axes)
    plt.close(fig)


def test_label_shares_stack_to_one():
    fig = viz.plot_em_diagnostics(_history())
    top = fig.axes[1].collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(1.0)
    plt.close(fig)


def test_confusion_annotates_counts_and_row_shares():
    ax = viz.plot_confusion(np.array([[3, 1], [0, 4]]))
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0.75\n(3)", "0.25\n(1)", "0.00\n(0)", "1.00\n(4)"]
    plt.close(ax.figure)


def test_rank_histograms_one_patch_set_per_rank_and_mean_lines():
    rng = np.random.default_rng(0)
    sims, ranks = rng.uniform(-0.2, 1, 200), rng.integers(0, 4, 200)
    ax = viz.plot_rank_histograms(sims, ranks, rank_means=[0.1, 0.4, 0.6, 0.9], truth=sims > 0.95)
    assert len(ax.lines) == 4  # the rank-mean lines
    assert [t.get_text() for t in ax.get_legend().get_texts()][:4] == [f"rank {r}" for r in range(4)]
    plt.close(ax.figure)


def test_label_matrix_and_embedding_map():
    labels = np.array([[-1, 3, 0], [0, -1, 1]])
    ax = viz.plot_label_matrix(labels, truth=labels == 3)
    assert np.ma.is_masked(ax.images[0].get_array()[0, 0])
    plt.close(ax.figure)
    ax = viz.plot_embedding_map(np.zeros((6, 2)), ["a", "b", "a", "c", "b", "a"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    plt.close(ax.figure)


def test_metric_bars_one_panel_per_metric():
    reports = {"random": {"isotropy": 0.2, "cosine_gap": 0.0}, "em": {"isotropy": 0.5, "cosine_gap": 0.3}}
    fig = viz.plot_metric_bars(reports, ["isotropy", "cosine_gap"], {"isotropy": "higher"}, ncols=3)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 2 and "higher" in visible[0].get_title()
    assert [p.get_height() for p in visible[1].patches] == [0.0, 0.3]
    plt.close(fig)


@pytest.mark.parametrize("kind", ["gmm", "fc", "linear"])
def test_load_rank_modules_round_trip(tmp_path, kind):
    gmm = {"gmm": GaussianMixtureRankClassifier(4, 8), "fc": FullyConnectedRankClassifier(4, 8),
           "linear": FullyConnectedRankClassifier(4, 8, hidden=0)}[kind]
    rm = RankMeans(4).init_from(torch.tensor([[0.1, 0.4, 0.6, 0.9]]), torch.tensor([[0, 1, 2, 3]]))
    (tmp_path / "final").mkdir()
    torch.save({"gmm": gmm.state_dict(), "rank_means": rm.state_dict()}, tmp_path / "final" / "rank_classifier.pt")
    gmm2, rm2 = widgets.load_rank_modules(tmp_path)
    q, c = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1), torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    torch.testing.assert_close(gmm2.log_joint(q, c), gmm.log_joint(q, c))
    torch.testing.assert_close(rm2.rank_means, rm.rank_means)
    with pytest.raises(FileNotFoundError):
        widgets.load_rank_modules(tmp_path / "missing")


def _pool():
    torch.manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    x[1] = torch.nn.functional.normalize(x[0] + 0.1 * x[1], dim=0)  # a close translation of row 0
    texts = [f"s{i}" for i in range(6)]
    langs = ["eng", "deu", "eng", "fra", "deu", "fra"]
    units = ["udhr:a01.1", "udhr:a01.1", "udhr:a02.1", "udhr:a03.1", "udhr:a01.1", "sphinx:x/abc"]
    rm = RankMeans(4).init_from(torch.tensor([[0.0, 0.3, 0.6, 0.9]]), torch.tensor([[0, 1, 2, 3]]))
    return x.numpy(), texts, langs, units, GaussianMixtureRankClassifier(4, 8), rm


def test_neighbour_table_matches_explicit_loop():
    x, texts, langs, units, gmm, rm = _pool()
    frame = widgets.neighbour_table(0, x, texts, langs, units, gmm, rm, k=3)
    others = [j for j in range(6) if langs[j] != "eng"]
    expected = sorted(others, key=lambda j: -float(x[0] @ x[j]))[:3]
    assert frame["text"].tolist() == [texts[j] for j in expected]
    assert frame["cosine"].tolist() == pytest.approx([round(float(x[0] @ x[j]), 3) for j in expected], abs=1e-3)
    assert frame["translation"].tolist() == [units[j] == units[0] for j in expected]
    assert frame["rank_mean_rank"].tolist() == [int(np.abs(float(x[0] @ x[j]) - np.array([0, 0.3, 0.6, 0.9])).argmin())
                                                for j in expected]
    assert frame.loc[frame["translation"], "silver_rank"].eq(3).all()
    with pytest.raises(ValueError, match="index"):
        widgets.neighbour_table(9, x, texts, langs, units, gmm, rm)


def test_rank_explorer_updates_its_table():
    x, texts, langs, units, gmm, rm = _pool()
    box = widgets.rank_explorer(x, texts, langs, units, gmm, rm, choices=[0, 3], k=2)
    dropdown, table = box.children
    first = table.value
    assert "<table" in first and "s1" in first
    dropdown.value = 3
    assert table.value != first
    box = widgets.rank_explorer(x, texts, langs, units, gmm, rm, choices=[0, 3], value=5)
    assert box.children[0].value == 5 and [v for _, v in box.children[0].options] == [5, 0, 3]


@pytest.mark.slow
def test_umap_coords_shape_and_determinism():
    x = np.random.default_rng(0).normal(size=(40, 8))
    a, b = viz.umap_coords(x, n_neighbors=5), viz.umap_coords(x, n_neighbors=5)
    assert a.shape == (40, 2) and np.allclose(a, b)


def test_figure_explorer_redraws_into_a_png_when_a_control_changes():
    import ipywidgets as w
    import matplotlib.pyplot as plt
    import pytest

    from emmax_core.widgets import figure_explorer

    calls = []

    def draw(slope):
        calls.append(slope)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, slope])
        return fig

    slider = w.FloatSlider(value=1.0, min=0.0, max=2.0)
    box = figure_explorer(draw, slope=slider)
    image = box.children[-1]
    first = image.value
    assert calls == [1.0] and first[:8] == b"\x89PNG\r\n\x1a\n"
    slider.value = 2.0
    assert calls == [1.0, 2.0] and image.value != first
    assert not plt.get_fignums()  # every drawn figure is closed
    with pytest.raises(ValueError, match="at least one control"):
        figure_explorer(draw)
