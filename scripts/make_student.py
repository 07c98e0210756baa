"""Write the student notebooks, `student/notebooks/*.ipynb`, from the chapter notebooks (the one source).

In a chapter notebook every code solution is a code cell tagged `solution` between the sphinx-exercise markers
`:::{solution-start} <label>` and `:::{solution-end}`; checked exercises are followed by a visible cell tagged
`checker` that calls `emmax_core.exercises.check_<name>(<name>)`. A student notebook is the same notebook with

- every solution's text removed (gated solutions and `:::{solution}` blocks alike: markers, prose and code);
- every solution code cell replaced by a stub: the solution's imports, then each function it defines with its
  signature and a body that raises `NotImplementedError("<label>: ...")`; a solution that defines no function
  becomes `raise NotImplementedError("<label>: ...")`, tagged `raises-exception`;
- the checker cells kept, tagged `raises-exception` (they fail until the student writes the function; the
  student edition of the book executes the student notebooks and shows that error);
- cells tagged `instructor` (the box "For instructors" at the top of each chapter) removed;
- the Colab badge pointing at the student notebook's own path.

    python scripts/make_student.py                 # write student/notebooks/
    python scripts/make_student.py --check         # exit 1 when student/notebooks/ is out of date
    python scripts/make_student.py --book DIR      # also write the student edition's source tree to DIR

`--book DIR` (used by `make book-student`) writes a Jupyter Book source tree: `notebooks/` holds the student
notebooks, `_config.yml` is this repository's with `hide_solutions: true` and `repository.path_to_book:
student` (launch buttons open the student notebooks), and every other top-level entry is a symbolic link to
this repository's, so the pages, the table of contents and the bibliography are the same files.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import sync_notebooks  # noqa: E402  (the badge of a notebook path)

SOURCE = ROOT / "notebooks"
TARGET = ROOT / "student" / "notebooks"
SOLUTION_TAG, CHECKER_TAG, INSTRUCTOR_TAG, RAISES_TAG = "solution", "checker", "instructor", "raises-exception"

_START = re.compile(r"^:::\{solution-start\}\s*(\S+)")
_END = re.compile(r"^:::\{solution-end\}")
_BLOCK = re.compile(r"^:::\{solution\}\s*(\S+)")
_FENCE_END = re.compile(r"^:::\s*$")
_RELATIVE_DOC = re.compile(r"(\{doc\}`(?:[^`<]*<)?)\.\./")


def _text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def stub_source(solution: str, label: str) -> tuple[str, bool]:
    """The stub of a solution cell: (source, raises when run)."""
    tree = ast.parse(solution)
    imports = [ast.get_source_segment(solution, node) for node in tree.body
               if isinstance(node, ast.Import | ast.ImportFrom)]
    funcs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    lines = [f"# Exercise {label}: replace the NotImplementedError with your code."]
    if imports:
        lines += imports + [""]
    if not funcs:
        lines.append(f'raise NotImplementedError("{label}: write your code here")')
        return "\n".join(lines), True
    for fn in funcs:
        args = ast.unparse(fn.args)
        lines += ["", f"def {fn.name}({args}):",
                  f'    raise NotImplementedError("{label}: write {fn.name}() (see the exercise above)")']
        doc = ast.get_docstring(fn)
        if doc:
            lines.insert(len(lines) - 1, f'    """{doc}"""')
    return "\n".join(lines).replace("\n\n\n", "\n\n"), False


def _strip_solutions(text: str, state: dict) -> str:
    """Drop solution markers and solution prose from a markdown cell; `state["label"]` tracks open solutions."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        start, block = _START.match(line), _BLOCK.match(line)
        if start or block:
            state["label"] = (start or block).group(1)
            i += 1
            if start:  # header options up to the closing ':::'
                while i < len(lines) and not _FENCE_END.match(lines[i]):
                    i += 1
                i += 1
            else:  # a whole {solution} block, up to its closing ':::'
                while i < len(lines) and not _FENCE_END.match(lines[i]):
                    i += 1
                i += 1
                state["label"] = None
            continue
        if _END.match(line):
            state["label"] = None
            i += 2 if i + 1 < len(lines) and _FENCE_END.match(lines[i + 1]) else 1
            continue
        if state["label"] is None:
            out.append(line)
        i += 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def student_notebook(nb: dict, rel: str) -> dict:
    """The student version of one chapter notebook (`rel`: the student notebook's path in the repository)."""
    nb = copy.deepcopy(nb)
    cells, state, stubbed = [], {"label": None}, set()
    for cell in nb["cells"]:
        tags = _tags(cell)
        if INSTRUCTOR_TAG in tags:
            continue
        if cell["cell_type"] == "markdown":
            # {doc}`../book/x` from notebooks/ would point at student/book/x: use the book's absolute names
            text = _RELATIVE_DOC.sub(r"\1/", _strip_solutions(_text(cell), state))
            if text.strip():
                cell["source"] = text
                cells.append(cell)
            continue
        if cell["cell_type"] != "code":
            cells.append(cell)
            continue
        if state["label"] is not None or SOLUTION_TAG in tags:
            if state["label"] is None:
                raise SystemExit(f"{rel}: a cell tagged {SOLUTION_TAG!r} outside a solution-start/solution-end pair")
            source, raises = stub_source(_text(cell), state["label"])
            stubbed.update(n.name for n in ast.parse(_text(cell)).body if isinstance(n, ast.FunctionDef))
            cell["source"] = source
            cell["metadata"]["tags"] = ["stub"] + ([RAISES_TAG] if raises else [])
        elif CHECKER_TAG in tags and RAISES_TAG not in tags:
            cell["metadata"]["tags"] = tags + [RAISES_TAG]
        cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    if state["label"] is not None:
        raise SystemExit(f"{rel}: solution {state['label']} is never closed")
    head = _text(cells[0]).split("\n")
    cells[0]["source"] = "\n".join(sync_notebooks.badge(rel) if "colab-badge.svg" in ln else ln for ln in head)
    nb["cells"] = cells
    return nb


def solution_lines(nb: dict) -> list[str]:
    """The distinctive lines of a chapter's solutions (code cells tagged `solution` and solution prose) that the
    chapter shows nowhere else: what must not appear in a student notebook or in the student edition."""
    lines, shown, mode = [], [], None
    for cell in nb["cells"]:
        text = _text(cell)
        if cell["cell_type"] == "code":
            if SOLUTION_TAG in _tags(cell):
                lines += [ln.strip() for ln in text.splitlines()
                          if len(ln.strip()) > 25 and not ln.strip().startswith(("def ", "import ", "from "))]
            else:
                shown.append(text)
            continue
        for ln in text.splitlines():
            if _START.match(ln):
                mode = "header"
            elif _BLOCK.match(ln):
                mode = "block"
            elif _END.match(ln):
                mode = None
            elif _FENCE_END.match(ln) and mode in ("header", "block"):
                mode = "gated" if mode == "header" else None
            elif mode in ("gated", "block") and len(ln.strip()) > 25 and not ln.startswith(":"):
                lines.append(ln.strip())
            elif mode is None:
                shown.append(ln)
    shown_text = "\n".join(shown)
    return [ln for ln in dict.fromkeys(lines) if ln not in shown_text]


def render(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def generate() -> dict[Path, str]:
    """Student notebook path -> its JSON text, for every chapter notebook."""
    out = {}
    for path in sorted(SOURCE.glob("*.ipynb")):
        target = TARGET / path.name
        nb = json.loads(path.read_text())
        out[target] = render(student_notebook(nb, target.relative_to(ROOT).as_posix()))
    return out


def write_book_tree(dest: Path) -> None:
    """The student edition's source tree: student notebooks, a student _config.yml, links to everything else."""
    dest.mkdir(parents=True, exist_ok=True)
    skip = {"notebooks", "_config.yml", ".git", "student"}
    for entry in ROOT.iterdir():
        link = dest / entry.name
        if entry.name in skip or link.exists() or link.is_symlink():
            continue
        link.symlink_to(entry)
    notebooks = dest / "notebooks"
    notebooks.mkdir(exist_ok=True)
    for path, text in generate().items():
        (notebooks / path.name).write_text(text)
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    cfg.setdefault("repository", {})["path_to_book"] = "student"
    (dest / "_config.yml").write_text("# Generated by scripts/make_student.py --book from _config.yml\n"
                                      + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when student/notebooks/ is out of date")
    parser.add_argument("--book", type=Path, help="also write the student edition's source tree here")
    args = parser.parse_args(argv)
    notebooks = generate()
    if args.check:
        stale = [p for p, text in notebooks.items() if not p.exists() or p.read_text() != text]
        extra = [p for p in TARGET.glob("*.ipynb") if p not in notebooks]
        for p in stale + extra:
            print(f"out of date: {p.relative_to(ROOT)} (run: python scripts/make_student.py)")
        return 1 if stale or extra else 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for path, text in notebooks.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if args.book:
        write_book_tree(args.book.resolve())
        print(f"student edition source: {args.book}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
