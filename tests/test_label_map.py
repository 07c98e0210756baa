"""The sweep's analysis (emmax_core.experiment.label_map) on a summary whose gain surface is known exactly.

The gain is linear in (log10 precision, log10 recall), so bilinear interpolation reproduces it and the
break-even precision of every recall has a closed form.
"""

import math

import matplotlib
import pytest

from emmax_core.experiment.label_map import break_even, label_map, plot_gain_map, plot_warmup_ladder
from emmax_core.experiment.registry import LADDER, SWEEP_PRECISION, SWEEP_RECALL, ExperimentConfig, sweep_run

matplotlib.use("Agg")
A, B, C = 0.01, 0.01, 0.008  # gain = A log10 p + B log10 r + C


def _gain(p, r):
    return A * math.log10(p) + B * math.log10(r) + C


def _row(gain, sd=0.003):
    return {"headline": gain, "spread": sd, "job_spread": sd, "per_seed": [gain, gain], "per_job": [gain] * 4}


def _summary():
    tables, diags = {}, {}
    for p in SWEEP_PRECISION:
        for r in SWEEP_RECALL:
            tables[sweep_run(p, r)] = _row(_gain(p, r))
            diags[sweep_run(p, r)] = {"mono_top_precision": p, "mono_top_recall": r, "mono_top_labels": 10.0}
    real = {"em": (0.003, 0.1), "em_mnn": (0.25, 0.06), "oracle_nn": (1.0, 0.1), "em_curriculum": (0.03, 0.017)}
    for name, (p, r) in real.items():
        tables[name] = _row(_gain(p, r) + 0.001)
        diags[name] = {"mono_top_precision": p, "mono_top_recall": r, "mono_top_labels": 5.0}
    backbones, results = {}, []
    for i, b in enumerate(("tiny", *LADDER)):
        label = "" if b == "tiny" else f"@{b}"
        tables[f"em{label}"] = tables.get(f"em{label}", _row(-0.01 + 0.01 * i))
        tables[f"oracle{label}"] = tables.get(f"oracle{label}", _row(0.02 + 0.005 * i))
        diags[f"em{label}"] = diags.get(f"em{label}", {"mono_top_precision": 0.003 * (i + 1), "mono_top_recall": 0.1})
        backbones[b] = {"nn_precision": 0.5 + 0.1 * i, "nn_precision_spread": float("nan"), "leak_free_NP": 0.1,
                        "leak_free_PAR": 0.2}
        results.append({"run": f"warmup{label}", "cost": {"train_seconds": 100.0 * (i + 1)},
                        "warmup_timing": {"wall_seconds": 300.0 * (i + 1)} if i else None})
    return {"tables": {"leak_free": tables}, "diagnostics": diags, "backbones": backbones, "results": results}


def test_break_even_has_the_closed_form():
    m = label_map(_summary())
    rows = {row["recall"]: row for row in m["break_even"]}
    for r, row in rows.items():
        exact = 10 ** (-(B * math.log10(r) + C) / A)
        if exact > 1:
            assert row["precision"] is None and not row["pays_at_best"]
        elif exact < min(SWEEP_PRECISION):
            assert row["below_grid"]
        else:
            assert row["precision"] == pytest.approx(exact, rel=1e-6)
    assert rows[1.0]["precision"] == pytest.approx(10 ** -0.8, rel=1e-6)  # between the grid points 0.3 and 0.03


def test_labellers_are_placed_with_the_surface_gain_and_nearest_paying_point():
    m = label_map(_summary())
    em = m["labellers"]["em"]
    assert em["map_gain"] == pytest.approx(_gain(0.003, 0.1))
    near = em["nearest_paying"]
    reliable = m["reliable_gain"]  # two standard errors: 2 * 0.003 / sqrt(2 seeds)
    assert reliable == pytest.approx(2 * 0.003 / 2 ** 0.5)
    # on the line where the map pays beyond noise, up to the resolution of the search
    assert reliable < _gain(near["precision"], near["recall"]) < reliable + 0.001
    assert near["precision_factor"] == pytest.approx(near["precision"] / 0.003)
    assert m["labellers"]["em_curriculum"]["outside_grid"] and not em["outside_grid"]
    # every placed labeller is at least as far from the paying region as the nearest one
    d = {k: v["nearest_paying"]["distance"] for k, v in m["labellers"].items()}
    assert d[m["nearest_labeller"]] == min(d.values())
    assert m["nearest_labeller"] == "oracle_nn"


def test_ladder_rungs_report_steps_time_and_gains():
    m = label_map(_summary())
    assert [r["steps"] for r in m["ladder"]] == [400, 1600, 3200]
    assert [r["warmup_seconds"] for r in m["ladder"]] == [100.0, 600.0, 900.0]  # timing.json over the job's time
    assert m["ladder"][2]["em"]["gain"] == pytest.approx(0.01)
    assert m["ladder"][1]["realised_precision"] == pytest.approx(0.006)


def test_significance_and_paying_cells():
    m = label_map(_summary())
    grid = [(p, r) for p in SWEEP_PRECISION for r in SWEEP_RECALL]
    assert set(m["paying_cells"]) == {sweep_run(p, r) for p, r in grid if _gain(p, r) > 0}
    # sd 0.003 over 2 seeds: significant above 2 standard errors of the mean, 2 * 0.003 / sqrt(2)
    assert set(m["significant_cells"]) == {sweep_run(p, r) for p, r in grid if _gain(p, r) > 2 * 0.003 / 2 ** 0.5}
    assert m["significant_cells"] and set(m["significant_cells"]) < set(m["paying_cells"])


def test_an_unmeasured_cell_leaves_no_break_even_and_the_figures_draw():
    s = _summary()
    del s["tables"]["leak_free"][sweep_run(0.3, 0.3)]
    assert label_map(s)["break_even"] == [] and label_map(s)["measured_cells"] == 15
    m = label_map(_summary())
    assert plot_gain_map(m).collections and plot_warmup_ladder(m).lines
    assert break_even(m["cells"]) == m["break_even"]


def test_the_sweep_suite_lists_every_cell_once_and_the_ladder_for_its_seeds():
    from emmax_core.experiment.runner import jobs

    todo = jobs(ExperimentConfig(suite="sweep", seeds=(0, 1), ladder_seeds=(0,)), "/tmp/unused")
    keys = [(j["run"], j["seed"], j["fold"], j.get("backbone", "tiny")) for j in todo]
    assert len(keys) == len(set(keys))
    cells = {sweep_run(p, r) for p in SWEEP_PRECISION for r in SWEEP_RECALL}
    assert {k[0] for k in keys if k[3] == "tiny"} >= cells | {"em", "warmup"}
    assert {(k[0], k[1]) for k in keys if k[3] == LADDER[-1]} == {("warmup", 0), ("em", 0), ("oracle", 0)}
    assert "oracle" in cells and not any(k[0] in ("bag_of_subwords", "infonce") for k in keys)


@pytest.mark.slow
def test_quick_sweep_writes_the_map_with_realised_label_quality(tmp_path, monkeypatch):
    import json

    from emmax_core.experiment import run_all

    monkeypatch.setenv("EMMAX_CACHE", str(tmp_path / "cache"))
    exp = ExperimentConfig(suite="sweep", seeds=(0,), main_runs=("em", "oracle"), grid=((1.0, 0.3), (0.03, 0.1)),
                           ladder=("steps1600",), catalog_units=4, workers=1, quick=True)
    run_all(exp, tmp_path / "sweep", tmp_path / "sweep.json")
    m = json.loads((tmp_path / "sweep.json").read_text())["map"]
    cells = {c["run"]: c for c in m["cells"]}
    assert m["measured_cells"] == 3  # the two cells and the ORACLE corner; the rest of the grid is not run here
    p1 = cells[sweep_run(1.0, 0.3)]
    assert p1["realised_precision"] == 1.0 and abs(p1["realised_recall"] - 0.3) < 0.05 and p1["jobs"] == 2
    noisy = cells[sweep_run(0.03, 0.1)]
    assert abs(noisy["realised_precision"] - 0.03) < 0.01 and abs(noisy["realised_recall"] - 0.1) < 0.05
    assert cells["oracle"]["realised_recall"] == 1.0 and "em" in m["labellers"]
    assert [r["backbone"] for r in m["ladder"]] == ["tiny", "steps1600"] and m["ladder"][1]["em"]["jobs"] == 2
    readme = (tmp_path / "sweep" / "README.md").read_text()
    assert "## Verdict" in readme and "## The warm-up ladder" in readme and "What it cost" in readme
    assert (tmp_path / "sweep" / "gain_map.png").exists() and (tmp_path / "sweep" / "warmup_ladder.png").exists()


def test_sweep_cost_counts_only_the_sweeps_own_jobs():
    from emmax_core.experiment.label_map import sweep_cost

    def job(run, invocation, start, train):
        return {"run": run, "cost": {"invocation": invocation, "started": start, "train_seconds": train,
                                     "eval_seconds": 10.0, "cpu_seconds": train}}

    results = [job("noisy_p1_r0.3", 1.0, 100.0, 90.0), job("noisy_p0.3_r1", 2.0, 150.0, 80.0),
               job("em@steps3200", 2.0, 400.0, 100.0), job("em", 0.5, 0.0, 70.0),  # from make results' cache
               job("warmup@steps3200", 2.0, 300.0, 5.0), {"run": "oracle"}]
    c = sweep_cost({"results": results})
    assert c["jobs"] == 3 and c["invocations"] == 2
    assert c["wall_seconds"] == 410.0 and c["cpu_seconds"] == 270.0 and c["eval_seconds"] == 30.0
    assert sweep_cost({"results": [job("em", 1.0, 0.0, 1.0)]}) == {"jobs": 0}


def test_a_labeller_inside_the_paying_region_that_does_not_gain_is_named():
    from emmax_core.experiment.label_map import verdict_text

    s = _summary()
    s["tables"]["leak_free"]["em_topk"] = _row(-0.004)
    s["diagnostics"]["em_topk"] = {"mono_top_precision": 1.0, "mono_top_recall": 1.0, "mono_top_labels": 90.0}
    m = label_map(s)
    assert "em_topk" in m["inside"] and m["mismatch"] == ["em_topk"] and m["nearest_labeller"] != "em_topk"
    text = "\n".join(verdict_text(m))
    assert "`em_topk` +0.008 (it scored -0.004)" in text and "do not decide whether EM pays" in text

