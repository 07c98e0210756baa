"""Grading with otter-grader (the optional `grading` extra): a correct and an incorrect submission of chapter 03.

The submissions are made from the chapter's own cells: the correct one holds the reference solutions (cells
tagged `solution`), the incorrect one three of them, one with a wrong axis and two student stubs. Skipped when
otter-grader is not installed (`pip install -e ".[grading]"`).
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from emmax_core import grading
from emmax_core.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "03_ranks_and_gmm"


def _cells(folder: str, tag: str) -> list[str]:
    cells = json.loads((ROOT / folder / f"{CHAPTER}.ipynb").read_text())["cells"]
    text = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells
            if tag in c["metadata"].get("tags", [])]
    return [t for t in text if "\ndef " in "\n" + t]


def _submission(path: Path, sources: list[str]) -> None:
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("# 03. Semantic ranks (a submission)")]
    cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


def test_autograder_zip_has_one_test_per_exercise(tmp_path):
    path = grading.autograder_zip(CHAPTER, tmp_path / "ag.zip")
    names = zipfile.ZipFile(path).namelist()
    labels = [label for label, chap in EXERCISES.values() if chap == CHAPTER]
    assert sorted(names) == sorted(["otter_config.json"] + [f"tests/{label}.py" for label in labels])
    compile(grading.test_source("naive_log_joint"), "test", "exec")


def test_chapter_of_reads_title_then_file_name(tmp_path):
    titled, named = tmp_path / "anything", tmp_path / "08_mine"
    _submission(titled.with_suffix(".ipynb"), [])
    assert grading.chapter_of(titled.with_suffix(".ipynb")) == CHAPTER
    named.with_suffix(".ipynb").write_text(json.dumps({"cells": []}))
    assert grading.chapter_of(named.with_suffix(".ipynb")) == "08_geometry"


@pytest.mark.slow
def test_correct_submission_scores_full_and_incorrect_partial(tmp_path):
    pytest.importorskip("otter")
    solutions, stubs = _cells("notebooks", "solution"), _cells("student/notebooks", "stub")
    assert len(solutions) == len(stubs) == 6
    folder = tmp_path / "submissions"
    folder.mkdir()
    _submission((folder / "correct").with_suffix(".ipynb"), solutions)
    wrong_axis = solutions[3].replace("dim=-1", "dim=1")  # posteriors normalised over the candidates
    assert wrong_axis != solutions[3]
    _submission((folder / "incorrect").with_suffix(".ipynb"), solutions[:3] + [wrong_axis] + stubs[4:])
    rows = {Path(r["submission"]).stem: r for r in grading.grade_folder(folder)}
    assert (rows["correct"]["score"], rows["correct"]["possible"]) == (6, 6)
    assert rows["incorrect"]["score"] == 3
    assert rows["incorrect"]["ex-03-1"] == 1 and rows["incorrect"]["ex-03-posteriors"] == 0
    with (folder / "grades.csv").open() as f:
        assert [r["score"] for r in csv.DictReader(f)] == ["6.0", "3.0"]
