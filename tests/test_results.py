"""The committed experiment results travel with the package; figures are drawn from them, not loaded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib
import pytest

from emmax_core import results

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def summary():
    return results.load()


def test_load_reads_the_package_data(summary):
    assert {"tables", "headline", "diagnostics", "fold_swap", "backbones", "results"} <= set(summary)
    assert {"em", "oracle", "warmup"} <= set(summary["tables"]["leak_free"])
    assert results.available()[0] == "results" and "before_rank_mean_fix" in results.available()


def test_the_results_before_the_rank_mean_fix_stay_loadable(summary):
    before = results.load("before_rank_mean_fix")
    assert set(before["tables"]) == {"leak_free", "transductive"} and "em" in before["tables"]["leak_free"]
    with pytest.raises(FileNotFoundError, match="before_rank_mean_fix"):
        results.load("no_such_snapshot")


def test_make_results_writes_where_the_loader_reads():
    recipe = re.search(r"^results:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    target = re.search(r"--results-json (\S+)", recipe).group(1)
    assert (ROOT / target).resolve() == (ROOT / "emmax_core" / "data" / "results" / "results.json").resolve()
    assert "results/*.json" in (ROOT / "pyproject.toml").read_text()  # package data, so it is in the wheel


def test_write_report_puts_results_json_where_told(summary, tmp_path):
    from emmax_core.experiment.report import write_report

    small = {**summary, "results": []}
    write_report(small, tmp_path / "report", tmp_path / "package" / "results.json")
    assert json.loads((tmp_path / "package" / "results.json").read_text())["headline"] == summary["headline"]
    assert not (tmp_path / "report" / "results.json").exists()
    assert {"README.md", "headline.png", "diagnostics.png"} <= {p.name for p in (tmp_path / "report").iterdir()}


def test_figures_are_drawn_from_the_data(summary):
    import matplotlib.pyplot as plt

    from emmax_core.viz import plot_experiment_diagnostics, plot_experiment_headline

    fig = plot_experiment_headline(summary)
    bars = [p for p in fig.axes[0].patches]
    assert len(fig.axes) == 2 and len(bars) == len(summary["tables"]["leak_free"]) - 1  # all runs but the warm-up
    ax = plot_experiment_diagnostics(summary)
    assert [t.get_text() for t in ax.get_xticklabels()] == [n for n in summary["diagnostics"] if summary["diagnostics"][n]]
    plt.close("all")


@pytest.mark.parametrize(("stem", "name"), [("07_evaluation", ""), ("09_ablations", '"levers"')])
def test_chapters_read_the_results_through_the_package(stem, name):
    code = "\n".join("".join(c["source"]) for c in json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
                     if c["cell_type"] == "code")
    assert re.search(r"^from emmax_core\.results import (.*, )?load\b", code, flags=re.M)
    assert f"summary = load({name})" in code
    assert "../" not in code and "Image(" not in code and "results.json" not in code


def test_headline_and_levers_are_separate_snapshots():
    from emmax_core import results
    from emmax_core.experiment import ExperimentConfig

    headline, levers = results.load(), results.load("levers")
    assert headline["suite"] == "headline" and levers["suite"] == "levers"
    ablations = set(ExperimentConfig.ablations)
    assert not ablations & set(headline["tables"]["leak_free"])
    assert ablations <= set(levers["tables"]["leak_free"]) and {"em", "ctl", "oracle"} <= set(levers["tables"]["leak_free"])
    # the runs both contain agree: one cache, one protocol
    for run in ("em", "oracle"):
        assert levers["tables"]["leak_free"][run]["headline"] == headline["tables"]["leak_free"][run]["headline"]


def test_the_sweep_is_committed_with_every_cell_measured_and_the_ladder():
    from emmax_core.experiment.registry import SWEEP_PRECISION, SWEEP_RECALL

    sweep = results.load("sweep")
    m = sweep["map"]
    assert sweep["suite"] == "sweep" and len(m["cells"]) == len(SWEEP_PRECISION) * len(SWEEP_RECALL) >= 16
    assert m["measured_cells"] == len(m["cells"]) and m["break_even"]
    for c in m["cells"]:
        assert c["seeds"] >= 2 and c["jobs"] >= 4 and c["spread"] == c["spread"], c["run"]
        # measured during training (the diagnostics of the cell's own runs), close to what was requested
        assert abs(c["realised_recall"] - c["recall"]) < 0.02 and abs(c["realised_precision"] / c["precision"] - 1) < 0.1
    assert {"em", "em_mnn", "em_topk", "em_curriculum", "oracle_nn"} <= set(m["labellers"])
    rungs = m["ladder"]
    assert len(rungs) >= 3 and max(r["steps"] for r in rungs) >= 8 * min(r["steps"] for r in rungs)
    for r in rungs:
        assert r["warmup_seconds"] > 0 and 0 < r["nn_precision"] < 1 and r["em"]["jobs"] >= 2 and r["oracle"]["jobs"] >= 2
        assert r["realised_precision"] == r["realised_precision"] and r["realised_recall"] == r["realised_recall"]
    # one cache, one protocol: the runs the sweep shares with the headline have the same scores
    head = {(r["run"], r["seed"], r["fold"]): r["scores"] for r in results.load()["results"]}
    shared = [r for r in sweep["results"] if (r["run"], r["seed"], r["fold"]) in head]
    assert len(shared) >= 8 and all(r["scores"] == head[(r["run"], r["seed"], r["fold"])] for r in shared)
    recipe = re.search(r"^sweep:.*\n\t(.+\n\t.+)$", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    assert re.search(r"--results-json (\S+)", recipe).group(1) == "emmax_core/data/results/sweep.json"
