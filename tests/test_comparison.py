"""The "What changed" comparison of two experiment summaries reads their numbers, and only theirs."""

import copy

from emmax_core.experiment.comparison import compare_summaries, comparison_text
from emmax_core.results import load


def test_comparison_reports_headline_and_diagnostic_changes():
    old = load("before_rank_mean_fix")
    new = copy.deepcopy(old)
    new["tables"]["leak_free"]["em"]["headline"] = 0.05
    for r in new["results"]:
        if r["run"] == "em":
            r["diagnostics"]["top_share"] = 0.5
            r["diagnostics"]["final_rank_means"] = [0.1, 0.2, 0.3, 0.4]
    cmp = compare_summaries(old, new)
    assert "warmup" not in cmp and "bag_of_subwords" not in cmp  # zero by definition: left out
    om, _, nm, _ = cmp["em"]["headline"]
    assert round(nm - om, 6) == round(0.05 - old["tables"]["leak_free"]["em"]["headline"], 6)
    assert cmp["em"]["new"]["top_share"] == 0.5 and cmp["em"]["old"]["top_share"] < 0.5
    assert [round(v, 6) for v in cmp["em"]["new"]["final_rank_means"]] == [0.1, 0.2, 0.3, 0.4]
    assert cmp["oracle"]["old"] == cmp["oracle"]["new"]
    text = "\n".join(comparison_text(cmp, "before_rank_mean_fix"))
    assert "| em | before |" in text and "0.100 < 0.200 < 0.300 < 0.400" in text and "+0.050 ±" in text
