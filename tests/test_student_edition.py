"""The two editions on their builds: the student edition holds no solution text, the instructor edition does.

Uses the builds that `make book` (`_build/html`) and `make book-student` (`_build/student/_build/html`) made;
each check skips when its build is missing (these tests never build the book). For every chapter the
distinctive solution lines (`scripts/make_student.py: solution_lines`) must be absent from the student
edition's page, from the notebook it executed and from the `.ipynb` it offers for download, and at least one
must be present in the instructor edition's page.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_student  # noqa: E402

pytestmark = pytest.mark.book
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STUDENT = ROOT / "_build" / "student" / "_build"
INSTRUCTOR = ROOT / "_build" / "html"


def _page_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(errors="replace")))


def _lines(path: Path) -> list[str]:
    return make_student.solution_lines(json.loads(path.read_text()))


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_student_edition_has_no_solution_text(path):
    page = STUDENT / "html" / "notebooks" / f"{path.stem}.html"
    if not page.is_file():
        pytest.skip("no student edition build: run `make book-student`")
    lines = _lines(path)
    sources = [page, STUDENT / "html" / "_sources" / "notebooks" / f"{path.stem}.ipynb",
               STUDENT / "jupyter_execute" / "notebooks" / f"{path.stem}.ipynb"]
    for source in [s for s in sources if s.is_file()]:
        text = _page_text(source) if source.suffix == ".html" else source.read_text()
        leaked = [ln for ln in lines if ln in text or json.dumps(ln)[1:-1] in text]
        assert not leaked, f"{source.relative_to(ROOT)}: solution text {leaked[:3]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_instructor_edition_has_the_solutions(path):
    page = INSTRUCTOR / "notebooks" / f"{path.stem}.html"
    if not page.is_file():
        pytest.skip("no instructor edition build: run `make book`")
    lines = _lines(path)
    if not lines:
        pytest.skip(f"{path.stem} has no solution text")
    text = _page_text(page)
    assert any(ln in text for ln in lines), f"{page}: no solution line found"
