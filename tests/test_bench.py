"""The benchmarks run, write what RESULTS.md is generated from, and compare outputs that agree.

Each benchmark runs in its smoke mode (tiny sizes, seconds) into a temporary results file, exactly as `make bench`
runs it otherwise. Nothing here is timed: targets are recorded in the results file as met or missed, never
asserted; what is asserted is that the compared methods give the same numbers.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
SECTION_KEYS = {"command", "date", "machine", "versions", "figures"}


def _run(script: str, results: Path, *args: str) -> dict:
    cmd = [sys.executable, f"benchmarks/{script}", "--results", str(results), *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(results.read_text())


def _section(doc: dict, name: str, script: str) -> dict:
    sec = doc["sections"][name]
    assert SECTION_KEYS <= sec.keys(), sorted(sec)
    assert f"benchmarks/{script}" in sec["command"] and "--smoke" in sec["command"]
    assert sec["smoke"] is True
    for fig in sec["figures"]:
        assert {"name", "value", "unit"} <= fig.keys()
        assert ("target" in fig) == ("met" in fig)
    return sec


def test_gmm_smoke_ours_equals_naive(tmp_path):
    results = tmp_path / "results.json"
    sec = _section(_run("bench_gmm.py", results, "--smoke"), "gmm", "bench_gmm.py")
    naive_rows = [r for r in sec["sizes"] if "naive" in r["times"]]
    assert len(naive_rows) == len(sec["sizes"]) == 3  # the smoke sizes include a "paper" size small enough
    for row in naive_rows:
        assert row["max_abs_diff_posterior"] < 1e-5 and row["same_argmax_share"] > 0.99
        assert row["max_abs_diff_log_joint"] < 1e-4 * max(1.0, row["max_abs_log_joint"])
        assert {"ours", "ours_log_joint", "bound_matmul", "naive"} <= row["times"].keys()
        assert row["ours_peak_bytes"] >= row["output_bytes"]  # it must at least hold its output
        assert row["naive_peak_bytes"] > row["ours_peak_bytes"]
    limit = sec["naive_limit"]
    assert limit["found"] and limit["checks"][-1]["peak_bytes"] <= limit["limit_bytes"] < limit["next_Q_predicted_bytes"]
    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "GMM E-step" in markdown and sec["command"] in markdown


def test_em_step_smoke_runs_both_steps(tmp_path):
    results = tmp_path / "results.json"
    sec = _section(_run("bench_em_step.py", results, "--smoke"), "em_step", "bench_em_step.py")
    assert {"infonce", "em", "em_logged"} <= sec["times"].keys()
    assert sec["ratio"] > 0 and sec["amortised_ratio"] > 0 and sec["num_candidates"] > sec["batch_size"]
    # the InfoNCE baseline is ranking InfoNCE with two ranks on the same similarities (up to its +1e-7)
    assert sec["check"]["max_abs_diff"] < 1e-3
    assert any(row["function"].endswith("gmm.forward") and row["em_only"] for row in sec["profile"]["rows"])
    assert "One EM step vs one InfoNCE step" in (tmp_path / "RESULTS.md").read_text()


def test_encode_smoke_matches_sentence_transformers(tmp_path):
    pytest.importorskip("sentence_transformers", reason="the `bench` extra: pip install -e '.[bench]'")
    results = tmp_path / "results.json"
    sec = _section(_run("bench_encode.py", results, "--smoke"), "encode", "bench_encode.py")
    assert sec["max_abs_diff"] < 1e-5 and sec["shape"][0] == sec["num_sentences"] == 64
    assert sec["speed_ratio"] > 0 and {"emmax", "st"} == set(sec["times"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what a machine without CUDA records")
def test_cuda_sections_say_not_run_without_a_gpu(tmp_path):
    results = tmp_path / "results.json"
    _run("bench_gmm.py", results, "--device", "cuda")
    doc = _run("bench_em_step.py", results, "--device", "cuda")
    for name in ("gmm_cuda", "em_step_cuda"):
        assert doc["sections"][name]["status"].startswith("not run: no GPU")
    assert "not run: no GPU" in (tmp_path / "RESULTS.md").read_text()


def _fake_build(build: Path, via_pickle: bool) -> None:
    rows = {"notebooks/00_setup": 2.5, "notebooks/01_corpus": 4.25}
    if via_pickle:
        (build / ".doctrees").mkdir(parents=True)
        meta = {doc: {"exec_data": {"mtime": 1.7e9, "runtime": t, "method": "force", "succeeded": True}}
                for doc, t in rows.items()}
        meta["book/intro"] = {}
        with open(build / ".doctrees" / "environment.pickle", "wb") as fh:
            pickle.dump(types.SimpleNamespace(nb_metadata=meta), fh)
        return
    cells = "".join(f"<tr><td><p><a href='x'>{doc}</a></p></td><td>2026-01-01 10:00</td><td>force</td>"
                    f"<td>{t}</td><td>✅</td></tr>" for doc, t in rows.items())
    page = build / "html" / "book" / "execution.html"
    page.parent.mkdir(parents=True)
    page.write_text("<table><thead><tr><th>Document</th><th>Modified</th><th>Method</th><th>Run Time (s)</th>"
                    f"<th>Status</th></tr></thead><tbody>{cells}</tbody></table>")


@pytest.mark.parametrize("via_pickle", [True, False], ids=["environment-pickle", "execution-html"])
def test_book_times_records_chapters_and_total(tmp_path, via_pickle):
    build, results = tmp_path / "_build", tmp_path / "results.json"
    _fake_build(build, via_pickle)
    _run("book_times.py", results, "--state", "unknown", "--build-dir", str(build))
    doc = _run("book_times.py", results, "--state", "cold", "--build-dir", str(build),
               "--build-command", "EMMAX_CACHE=/tmp/empty make book")
    runs = doc["sections"]["book"]["runs"]
    assert set(runs) == {"cold"}  # a labelled build replaces the unlabelled record
    run = runs["cold"]
    assert [c["docname"] for c in run["chapters"]] == ["notebooks/00_setup", "notebooks/01_corpus"]
    assert run["total_s"] == pytest.approx(6.75) and run["all_succeeded"]
    assert run["build_command"] == "EMMAX_CACHE=/tmp/empty make book" and "book_times.py" in run["command"]
    assert ("environment.pickle" in run["source"]) == via_pickle
    assert "notebooks/01_corpus | 4.2" in (tmp_path / "RESULTS.md").read_text()


def test_committed_results_are_generated_from_the_json():
    doc = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    assert {"gmm", "em_step", "encode"} <= doc["sections"].keys()
    for sec in doc["sections"].values():
        assert "command" in sec and not sec.get("smoke")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from report import render
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert render(doc) == (ROOT / "benchmarks" / "RESULTS.md").read_text()
