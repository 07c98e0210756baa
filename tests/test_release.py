"""One version, single-sourced: emmax_core.__version__, every notebook's Colab badge and install tag, _config.yml,
CHANGELOG.md and CITATION.cff agree, and `make release VERSION=...` moves them all together.

The release is tested on a scratch copy of the files it touches (scripts/release.py works on the tree that
holds it), so the working tree is never changed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOUCHED = ["emmax_core/__init__.py", "_config.yml", "CHANGELOG.md", "CITATION.cff", "Makefile",
           "scripts/release.py", "scripts/sync_notebooks.py", "scripts/make_student.py", "notebooks",
           "student/notebooks"]


def _check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "scripts" / "release.py"), "--check"], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def scratch(tmp_path) -> Path:
    for rel in TOUCHED:
        src, dst = ROOT / rel, tmp_path / rel
        if not src.exists():  # the student notebooks and their generator are optional
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            shutil.copy2(src, dst)
    return tmp_path


def _version(root: Path) -> str:
    return re.search(r'__version__ = "([^"]+)"', (root / "emmax_core" / "__init__.py").read_text()).group(1)


def test_every_place_states_the_package_version():
    proc = _check(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_citation_cff_is_valid_cff_1_2_0():
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which(
        "check-jsonschema")
    if tool is None:
        pytest.fail("`check-jsonschema` is not installed: pip install -e '.[test]'")
    proc = subprocess.run([tool, "--builtin-schema", "vendor.citation-file-format", str(ROOT / "CITATION.cff")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    paper = [r for r in cff["references"] if "2310.17233" in r.get("url", "")]
    assert paper and paper[0]["authors"][0]["family-names"] == "Guo" and paper[0]["year"] == 2023


def test_the_intro_says_how_to_cite_the_book_and_the_paper():
    intro = (ROOT / "book" / "intro.md").read_text()
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    entries = re.findall(r"^```bibtex\n(.*?)^```$", intro, flags=re.M | re.S)
    assert entries, "book/intro.md has no BibTeX block"
    bibtex = "\n".join(entries)
    assert "@software{" in bibtex and cff["repository-code"] in bibtex, "no BibTeX entry for the book and code"
    paper = re.search(r"@inproceedings\{guo2023emmax,.*?\n\}", (ROOT / "book" / "references.bib").read_text(), re.S)
    assert paper and paper.group(0) in bibtex, "the paper's BibTeX in the intro must be book/references.bib's"


def test_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog") and "keepachangelog.com" in text
    assert re.search(r"^## \[Unreleased\]$", text, re.M)
    newest = re.search(r"^## \[([^\]]+)\] - \d{4}-\d{2}-\d{2}$", text, re.M)
    assert newest and newest.group(1) == _version(ROOT)
    assert re.search(r"^### (Added|Changed|Deprecated|Removed|Fixed|Security)$", text, re.M)


@pytest.mark.parametrize("place, old, new", [
    ("CITATION.cff", r'^version: "[^"]+"', 'version: "9.9.9"'),
    ("CHANGELOG.md", r"^## \[Unreleased\]\n", "## [Unreleased]\n\n## [9.9.9] - 2031-01-01\n"),
    ("_config.yml", r"^  branch: .*$", "  branch: v9.9.9"),
    ("_config.yml", r"release v[0-9.]+", "release v9.9.9"),
    ("notebooks/01_corpus.ipynb", r"blob/v[0-9.]+/", "blob/v9.9.9/"),
    ("emmax_core/__init__.py", r'^__version__ = "[^"]+"', '__version__ = "9.9.9"'),
])
def test_the_check_fails_when_one_place_disagrees(scratch, place, old, new):
    path = scratch / place
    text, n = re.subn(old, new, path.read_text(), count=1, flags=re.M)
    assert n == 1, f"{place}: the test's pattern {old!r} no longer matches"
    path.write_text(text)
    proc = _check(scratch)
    assert proc.returncode == 1 and "version disagreements" in proc.stdout, proc.stdout + proc.stderr


def test_make_release_moves_every_place_together(scratch):
    old = _version(ROOT)
    proc = subprocess.run(["make", "-s", "release", "VERSION=9.8.7", f"PY={sys.executable}"], cwd=scratch,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _version(scratch) == "9.8.7"
    assert _check(scratch).returncode == 0
    cfg = yaml.safe_load((scratch / "_config.yml").read_text())
    assert cfg["repository"]["branch"] == "v9.8.7" and "v9.8.7" in cfg["html"]["extra_footer"]
    cff = yaml.safe_load((scratch / "CITATION.cff").read_text())
    assert cff["version"] == "9.8.7" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))
    changelog = (scratch / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[Unreleased\]\n\n## \[9\.8\.7\] - {cff['date-released']}$", changelog, re.M)
    assert f"## [{old}]" in changelog, "the previous release's section must stay"
    assert re.search(rf"^\[9\.8\.7\]: \S+/compare/v{re.escape(old)}\.\.\.v9\.8\.7$", changelog, re.M)
    notebooks = sorted((scratch / "notebooks").glob("*.ipynb")) + sorted(scratch.glob("student/notebooks/*.ipynb"))
    for nb in notebooks:
        text = nb.read_text()
        assert "blob/v9.8.7/" in text and "@v9.8.7" in text, f"{nb.name} still pins the old tag"
        assert f"v{old}" not in text, f"{nb.name} still mentions v{old}"
    # The working tree was not touched.
    assert _version(ROOT) == old


def test_release_rejects_a_bad_or_repeated_version(scratch):
    bad = subprocess.run([sys.executable, str(scratch / "scripts" / "release.py"), "one.two"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "is not a version" in bad.stdout + bad.stderr
    again = subprocess.run([sys.executable, str(scratch / "scripts" / "release.py"), _version(ROOT)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "already has a section" in again.stdout + again.stderr
    assert _check(scratch).returncode == 0, "a rejected release must change nothing"
