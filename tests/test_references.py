"""The repository stands alone: every reference in it can be followed by a reader who has only the repository.

`test_every_reference_can_be_followed` reads every tracked text file (notebook cells included) and flags
references to documents that are not in the repository (team notes, "section N" of an unpublished text),
markdown links, images and figure files whose relative target does not exist (or, from a book page, lies
outside the book), `{doc}` targets that are not pages of the book, `{ref}` / `:ref:` labels that no page
defines, and `.md` / `.ipynb` names that no file has. This file lists the patterns, so it is the one file
left out of the scan.

`test_method_pages` checks the three pages that make the book stand alone: the algorithm, fidelity and
deviations, and the experiment's design, with their figures and section labels.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".yaml", ".yml", ".toml", ".cfg", ".txt", ".svg", ".bib"}
TEXT_NAMES = {"Makefile", "LICENSE", "run"}

# Documents that exist only outside the repository, and the tags of unpublished notes.
UNPUBLISHED = [
    (re.compile(r"\bspec(?:ification)? sections?\b", re.I), "a section of an unpublished spec"),
    (re.compile(r"\bspec \d", re.I), "a section of an unpublished spec"),
    (re.compile(r"\(spec\s", re.I), "an unpublished spec"),
    (re.compile(r"\bspec/", re.I), "an unpublished spec folder"),
    (re.compile(r"\bdesign\.md\b|\bdesign sections?\b|\bdesign \d", re.I), "an unpublished design note"),
    (re.compile(r"\b(?:measurements|ecosystem|feasibility)\.md\b", re.I), "an unpublished note"),
    (re.compile(r"emmax-algorithm", re.I), "an unpublished algorithm note"),
    (re.compile(r"\bprototypes?\b", re.I), "a prototype study that the repository does not contain"),
    (re.compile(r"UNCONFIRMED"), "a tag of unpublished notes"),
    (re.compile(r"§\s*\d"), "a numbered section of a document that is not cited"),
]
RESULTS_UP = re.compile(r"\.\./results/")
SECTION = re.compile(r"\bsections? \d+(?:\.\d+)*", re.I)
MD_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
DIRECTIVE_FILE = re.compile(r"^\s*(?:`{3,}|:{3,})\{(?:figure|image|include|literalinclude)\}\s+(\S+)")
MYST_ROLE = re.compile(r"\{(doc|ref|numref)\}`([^`]*)`")
RST_ROLE = re.compile(r":(doc|ref|numref):`([^`]*)`")
DOC_NAME = re.compile(r"(?<![\w./{}*-])((?:[\w.-]+/)*[\w-][\w.-]*\.(?:md|ipynb))\b")
LABEL_DEF = re.compile(r"^\(([^()\s]+)\)=\s*$")
LABEL_OPT = re.compile(r"^\s*:(?:name|label):\s*(\S+)\s*$")


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the scan reads the tracked files")
    files = [f for f in out.stdout.split("\0") if f and (ROOT / f).is_file()]
    return [f for f in files if Path(f).suffix in TEXT_SUFFIXES or Path(f).name in TEXT_NAMES]


def chunks(path: str) -> list[tuple[str, str, list[str]]]:
    """``(where, kind, lines)`` pieces of a file; kind is "markdown", "code" or "text"; notebooks per cell."""
    text = (ROOT / path).read_text(encoding="utf-8")
    if path.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        out = []
        for i, cell in enumerate(cells, 1):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            kind = "markdown" if cell["cell_type"] == "markdown" else "code"
            out.append((f"{path}:cell {i}", kind, source.splitlines()))
        return out
    return [(path, "markdown" if path.endswith(".md") else "text", text.splitlines())]


def toc_docs() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())

    def walk(entry) -> list[str]:
        found = [entry["file"]] if isinstance(entry, dict) and "file" in entry else []
        for key in ("parts", "chapters", "sections"):
            for child in (entry.get(key, []) if isinstance(entry, dict) else []):
                found += walk(child)
        return found

    return {toc["root"], *walk(toc)}


def book_excluded() -> list[str]:
    """Top-level paths the book build leaves out (``exclude_patterns`` of ``_config.yml``)."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    return [p for p in cfg.get("exclude_patterns", []) if "*" not in p]


def defined_labels(files: list[str]) -> set[str]:
    labels = set()
    for path in files:
        if not path.endswith((".md", ".ipynb")):
            continue
        for _, kind, lines in chunks(path):
            if kind != "markdown":
                continue
            for line in lines:
                match = LABEL_DEF.match(line.strip()) or LABEL_OPT.match(line)
                if match:
                    labels.add(match.group(1))
    return labels


def role_target(text: str) -> str:
    """``title <target>`` -> ``target``; ``~target`` -> ``target``."""
    match = re.search(r"<([^<>]+)>\s*$", text)
    return (match.group(1) if match else text).strip().lstrip("~")


def link_problem(path: str, target: str, in_book: bool, excluded: list[str]) -> str | None:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#") or "{" in target:
        return None  # a URL, an anchor on the same page, or a template
    target = target.split("#")[0].split("?")[0]
    if not target:
        return None
    resolved = (ROOT / path).parent / target if not target.startswith("/") else ROOT / target.lstrip("/")
    resolved = resolved.resolve()
    if not resolved.exists():
        return "relative link to a file that does not exist"
    try:
        rel = resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return "relative link that leaves the repository"
    if in_book and any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in excluded):
        return "link from a book page to a file the book build leaves out"
    return None


def doc_problem(path: str, target: str, docs: set[str]) -> str | None:
    base = ROOT / target.lstrip("/") if target.startswith("/") else (ROOT / path).parent / target
    try:
        rel = base.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return "{doc} target outside the repository"
    rel = re.sub(r"\.(md|ipynb)$", "", rel)
    return None if rel in docs else "{doc} target that is not a page of the book (_toc.yml)"


def name_problem(path: str, name: str, files: list[str]) -> str | None:
    if "/" in name:
        if (ROOT / name).exists() or ((ROOT / path).parent / name).exists():
            return None
        return None if any(f.endswith("/" + name) for f in files) else "a file name that no file in the repository has"
    return None if any(Path(f).name == name for f in files) else "a file name that no file in the repository has"


def unfollowable_references() -> list[str]:
    files = tracked_files()
    docs, labels, excluded = toc_docs(), defined_labels(files), book_excluded()
    problems = []
    for path in files:
        if path == SELF:
            continue
        in_book = re.sub(r"\.(md|ipynb)$", "", path) in docs
        for where, kind, lines in chunks(path):
            for number, line in enumerate(lines, 1):
                found = [(m.group(0), why) for pattern, why in UNPUBLISHED for m in pattern.finditer(line)]
                for m in SECTION.finditer(line):
                    context = line[max(0, m.start() - 40): m.end() + 40].lower()
                    if "paper" not in context and "{cite}" not in context:
                        found.append((m.group(0), '"section N" of a document that is not in the repository'))
                for m in RESULTS_UP.finditer(line):
                    path_match = re.match(r"[^\s\"')`]+", line[m.start():])
                    if kind != "code" or not (ROOT / path).parent.joinpath(path_match.group(0)).exists():
                        found.append((m.group(0), "a path outside the book that a reader cannot follow"))
                for name in DOC_NAME.findall(line):
                    why = name_problem(path, name, files)
                    if why:
                        found.append((name, why))
                if kind == "markdown":
                    targets = [m.group(1) for m in MD_LINK.finditer(line)]
                    targets += [m.group(1) for m in [DIRECTIVE_FILE.match(line)] if m]
                    for target in targets:
                        why = link_problem(path, target, in_book, excluded)
                        if why:
                            found.append((target, why))
                roles = MYST_ROLE.finditer(line) if kind == "markdown" else RST_ROLE.finditer(line)
                for m in roles:
                    role, target = m.group(1), role_target(m.group(2))
                    if role == "doc":
                        why = doc_problem(path, target, docs)
                    else:
                        why = None if target in labels else f"{{{role}}} label that no page defines"
                    if why:
                        found.append((m.group(0), why))
                first = {}
                for ref, why in found:  # one message per reference (a note's name is also a missing file)
                    first.setdefault(ref, why)
                problems += [f"{where}:{number}: {ref!r}: {why}" for ref, why in first.items()]
    return problems


def test_every_reference_can_be_followed():
    problems = unfollowable_references()
    assert not problems, (f"{len(problems)} references a reader of the repository cannot follow (write what the "
                          "reader needs into the book, e.g. book/algorithm.md, and point there):\n"
                          + "\n".join(problems))


def test_the_scan_finds_what_it_should():
    """The checker itself: each kind of unfollowable reference is caught, and fine ones are not."""
    lines = {
        "see spec section 3.6": True, "(design.md section 6)": True, "measured in the prototype": True,
        "Paper: UNCONFIRMED": True, "see section 4 of our notes": True, "section 3 of the paper": False,
        "RESULTS = Path('results.json')": False, "module_from_spec(spec)": False,
    }
    for line, bad in lines.items():
        hit = any(p.search(line) for p, _ in UNPUBLISHED) or (
            bool(SECTION.search(line)) and "paper" not in line)
        assert hit == bad, line
    files = tracked_files()
    assert name_problem("README.md", "notes.md", files)
    assert name_problem("README.md", "book/algorithm.md", files) is None
    assert link_problem("book/intro.md", "../results/README.md", True, book_excluded())
    assert link_problem("book/intro.md", "figures/nowhere.svg", True, [])
    assert link_problem("book/algorithm.md", "figures/em_loop.svg", True, book_excluded()) is None
    assert DIRECTIVE_FILE.match("```{figure} figures/em_loop.svg").group(1) == "figures/em_loop.svg"
    assert doc_problem("book/intro.md", "/notebooks/04_ranking_infonce", toc_docs()) is None
    assert doc_problem("book/intro.md", "../unpublished", toc_docs())
    assert role_target("the loss <algorithm-ranking-infonce>") == "algorithm-ranking-infonce"


PAGES = {
    "book/algorithm": ("algorithm", ["algorithm-notation", "algorithm-encoder", "algorithm-ranks", "algorithm-gmm",
                                     "algorithm-rank-means", "algorithm-gmm-labels", "algorithm-ranking-infonce",
                                     "algorithm-em", "algorithm-gmm-init", "algorithm-moco", "algorithm-stages",
                                     "algorithm-hyperparameters"], "figures/em_loop.svg"),
    "book/fidelity": ("fidelity", ["fidelity-data", "fidelity-stage1", "fidelity-key-encoder", "fidelity-n2",
                                   "fidelity-rank-means", "fidelity-queue", "fidelity-variance-floor",
                                   "fidelity-gmm-lr", "fidelity-pooling", "fidelity-tiny-profile",
                                   "fidelity-variants"], None),
    "book/experiment": ("experiment-design", ["experiment-groups", "experiment-folds", "experiment-scoring",
                                                     "experiment-runs", "experiment-metric",
                                                     "experiment-diagnostics"], "figures/folds.svg"),
}


@pytest.mark.parametrize("doc", list(PAGES))
def test_method_pages(doc):
    top, sections, figure = PAGES[doc]
    page = ROOT / f"{doc}.md"
    assert page.is_file(), f"{doc}.md is missing"
    assert doc in toc_docs(), f"{doc} is not in _toc.yml"
    text = page.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == f"({top})=" and lines[1].startswith("# "), f"{doc}.md must open with ({top})= and a title"
    for label in sections:  # each label sits right above its section heading
        assert f"({label})=" in lines, f"{doc}.md lacks the label ({label})="
        assert lines[lines.index(f"({label})=") + 1].startswith("## "), f"({label})= is not above a heading"
    assert "{cite}`guo2023emmax`" in text, f"{doc}.md does not cite the paper"
    if figure:
        block = re.search(r"```\{figure\} " + re.escape(figure) + r"\n(.*?)```", text, re.S)
        assert block, f"{doc}.md has no {{figure}} directive for {figure}"
        options = [ln for ln in block.group(1).splitlines() if ln.startswith(":")]
        caption = [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith(":")]
        assert any(o.startswith(":name:") for o in options) and caption, "the figure needs a :name: and a caption"
        svg = page.parent / figure
        root = ET.parse(svg).getroot()  # well-formed XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.find("{http://www.w3.org/2000/svg}title") is not None, f"{figure} has no <title>"
        source = svg.read_text(encoding="utf-8")
        assert not re.search(r"<script|<image|<foreignObject|@import|(?:href|src)\s*=\s*\"(?:https?:)?//", source), (
            f"{figure} must be self-contained (no scripts, external images, fonts or links)")
