"""The central experiment's cost (``make results`` from an empty cache) against its 45-minute target.

Reads the ``cost`` that ``make results`` records in the package's committed results
(:func:`emmax_core.results.load`; each job records its wall and CPU seconds when it is computed) and merges an
``experiment`` section into benchmarks/results.json: the measured wall time of the cold run, and the least wall
time its jobs' CPU time allows with the same workers on idle cores.

Usage:
    python benchmarks/experiment_cost.py

Taught in: notebooks/07_evaluation.ipynb (the experiment) and results/README.md ("What it cost")
"""

from __future__ import annotations

from common import RESULTS, figure, merge_section

TARGET_S = 45 * 60


def main() -> None:
    """Merge the ``experiment`` section (see the module docstring)."""
    from emmax_core.results import load

    cost = load()["cost"]
    if not cost.get("measured"):
        merge_section("experiment", {"status": "not measured: the committed results record no cost"}, RESULTS)
        return
    bound = cost["cpu_seconds"] / cost["workers"]
    kind = "cold" if cost["cold"] else "partly cached"
    figures = [figure(f"make results wall time ({kind}, {cost['workers']} workers, {cost['cpus']} cores)",
                      cost["wall_seconds"], "s", target=f"<= {TARGET_S} s", met=cost["wall_seconds"] <= TARGET_S),
               figure("make results job CPU time / workers (its wall time on idle cores, at the least)", bound, "s",
                      target=f"<= {TARGET_S} s", met=bound <= TARGET_S)]
    merge_section("experiment", {"figures": figures, "cost": cost}, RESULTS)


if __name__ == "__main__":
    main()
