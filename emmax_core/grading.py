"""Grade submitted student notebooks with otter-grader, from the checkers of :mod:`emmax_core.exercises`.

Each checked exercise becomes one otter test (exception-based format, 1 point): it takes the function the
student defined in the notebook's global environment and runs ``check_<name>`` on it. A missing function, a
stub that still raises ``NotImplementedError`` or a wrong answer scores 0 for that exercise. A submission is
graded on the exercises of its chapter, read from its title (``# 03. ...``) or else from the start of its
file name (``03_``); the whole notebook runs first, with errors ignored, as otter does.

    pip install "emmax-core[grading]"                 # otter-grader, optional
    python -m emmax_core.grading SUBMISSIONS          # every .ipynb under SUBMISSIONS -> SUBMISSIONS/grades.csv
    python -m emmax_core.grading SUBMISSIONS --export autograder   # also keep the autograder zip per chapter

The autograder zips (``autograder-<chapter>.zip``: ``otter_config.json`` and ``tests/*.py``) can be uploaded to
Gradescope or used with ``otter grade``/``otter run`` like any otter autograder. Grading runs each submission
without containers (``otter.api.grade_submission``), in this environment: the package and its dependencies must
be installed, and the submissions are trusted code.

Taught in: book page "For instructors" (Grading).
"""

from __future__ import annotations

import csv
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path

from .exercises import EXERCISES

__all__ = ["autograder_zip", "chapter_of", "grade_folder", "grade_notebook", "test_source"]


def test_source(name: str) -> str:
    """The otter test file (exception-based format) of one checked exercise: 1 point, ``check_<name>``.

    Args:
        name: a key of :data:`emmax_core.exercises.EXERCISES`, e.g. ``"naive_log_joint"``.
    """
    label = EXERCISES[name][0]
    return (
        "from otter.test_files import test_case\n\n"
        "OK_FORMAT = False\n"
        f"name = {label!r}\n"
        "points = 1\n\n\n"
        f"@test_case(points=1, hidden=False)\n"
        f"def test_{name.replace('-', '_')}(env):\n"
        f"    from emmax_core.exercises import check_{name}\n\n"
        f"    fn = env.get({name!r})\n"
        f"    assert callable(fn), {label + ': define a function ' + name + '()'!r}\n"
        f"    check_{name}(fn)\n"
    )


def chapter_exercises(chapter: str) -> list[str]:
    """The checked exercises (function names) of a chapter notebook stem such as ``"03_ranks_and_gmm"``."""
    return [name for name, (_, chap) in EXERCISES.items() if chap == chapter]


def autograder_zip(chapter: str, path: Path) -> Path:
    """Write the otter autograder zip of one chapter (``otter_config.json`` and one test per exercise)."""
    names = chapter_exercises(chapter)
    if not names:
        raise ValueError(f"chapter {chapter!r} has no checked exercises; chapters with some: "
                         f"{sorted({c for _, c in EXERCISES.values()})}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("otter_config.json", json.dumps({"lang": "python", "pdf": False, "print_summary": False}))
        for name in names:
            zf.writestr(f"tests/{EXERCISES[name][0]}.py", test_source(name))
    return path


def chapter_of(notebook: Path) -> str:
    """The chapter a submission belongs to: its title ``# NN. ...`` or else the start ``NN_`` of its file name."""
    chapters = sorted({c for _, c in EXERCISES.values()})
    number = None
    try:
        cells = json.loads(Path(notebook).read_text())["cells"]
        head = next(("".join(c["source"]) for c in cells if c["cell_type"] == "markdown"), "")
        found = re.match(r"#\s*(\d\d)\.", head.strip())
        number = found.group(1) if found else None
    except (OSError, ValueError, KeyError):
        pass
    if number is None:
        found = re.match(r"(\d\d)_", Path(notebook).name)
        number = found.group(1) if found else None
    matches = [c for c in chapters if number is not None and c.startswith(number + "_")]
    if not matches:
        raise ValueError(f"{notebook}: cannot tell which chapter it is (title '# NN. ...' or file name 'NN_...'); "
                         f"chapters with checked exercises: {chapters}")
    return matches[0]


def grade_notebook(notebook: Path, workdir: Path | None = None) -> dict[str, float]:
    """Grade one submission: ``{exercise label: points}`` for every checked exercise of its chapter."""
    import otter.api

    chapter = chapter_of(notebook)
    with tempfile.TemporaryDirectory() as tmp:
        ag = autograder_zip(chapter, Path(workdir or tmp) / f"autograder-{chapter}.zip")
        results = otter.api.grade_submission(str(notebook), str(ag), quiet=True)
    return {EXERCISES[name][0]: float(results.get_score(EXERCISES[name][0])) for name in chapter_exercises(chapter)}


def grade_folder(folder: Path, output: Path | None = None, export: Path | None = None) -> list[dict]:
    """Grade every ``.ipynb`` under `folder`; write one CSV row per submission (default ``folder/grades.csv``)."""
    folder = Path(folder)
    rows = []
    for notebook in sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts):
        scores = grade_notebook(notebook, workdir=export)
        rows.append({"submission": notebook.relative_to(folder).as_posix(), "chapter": chapter_of(notebook),
                     "score": sum(scores.values()), "possible": len(scores), **scores})
    output = Path(output or folder / "grades.csv")
    columns = ["submission", "chapter", "score", "possible"] + [label for label, _ in EXERCISES.values()]
    with output.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return rows


if __name__ == "__main__":  # the command line lives in emmax_core.cli
    from emmax_core.cli import grade_main

    sys.exit(grade_main())
