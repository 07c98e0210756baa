"""The built book: a strict build, notebooks that ran cleanly and fast, and pages that work in a browser.

The `book` fixture builds the book once per session exactly as `make book` does (`jupyter-book build .
-W -n --keep-going`, offline environment) into `_build/html`, or, with `EMMAX_BOOK_BUILT=1`, uses the build
the caller already made (`make book-check`). Tests that need the build are marked `book`; deselect them
with `-m "not book"` (`make test-fast` does). The browser tests open every page of `_toc.yml` in headless
Chromium (tests/browser.py) and save screenshots to `_build/screenshots/`, with the network unreachable:
every page's math must be typeset by the MathJax that ships with the build (no raw `\\(` or `$$` left), the
search box on a chapter page must find a chapter, and the download button must offer the page's `.ipynb` or
`.md`. Without Chromium they skip, except under `CI=true`, where they fail.

Environment: `EMMAX_BOOK_BUILT=1` (reuse the build), `EMMAX_NOTEBOOK_LIMIT_S` (per-notebook guard against
runaway notebooks, default 900 s; the 3-minute reading budget is a target read off book/execution.html, not a
timed test: a cold model cache on a loaded machine takes longer), `EMMAX_BOOK_TIMEOUT_S` (whole build,
default 3600 s).

The fast tests at the end keep book/api.md in step with the package and its docstrings valid reST.
"""

from __future__ import annotations

import html
import importlib
import inspect
import io
import json
import os
import pkgutil
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag

import browser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
BUILD_LOG = ROOT / "_build" / "book-build.log"
SCREENSHOTS = ROOT / "_build" / "screenshots"
MATHJAX = ROOT / "_build" / "mathjax" / "mathjax" / "tex-mml-chtml.js"  # `make mathjax` unpacks it here
NOTEBOOK_LIMIT_S = float(os.environ.get("EMMAX_NOTEBOOK_LIMIT_S", "900"))
BUILD_TIMEOUT_S = float(os.environ.get("EMMAX_BOOK_TIMEOUT_S", "3600"))
# Headless, but not MPLBACKEND=Agg: a kernel started under Agg never displays a figure (plt.show() is a
# no-op), so the book would have no plots. The inline backend renders with Agg and shows the figures.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
BUILD_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
             "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": INLINE_BACKEND, "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
PLOTTING = re.compile(r"plt\.|matplotlib|\.plot\(|\bplot_\w*\(|imshow\(|scatter\(|\bviz\.|glue\([^)]*fig")
WIDGETS = re.compile(r"ipywidgets|\binteract(ive)?\(|emmax_core\.widgets|import widgets\b|\bwidgets\.")
ERROR_HTML = re.compile(r"Traceback \(most recent call last\)|class=\"[^\"]*\boutput (traceback|error)\b"
                        r"|highlight-ipythontb")


def _toc_files(entry: dict) -> list[str]:
    files = [entry["file"]] if "file" in entry else []
    for key in ("parts", "chapters", "sections"):
        for child in entry.get(key, []):
            files += _toc_files(child)
    return files


def toc_pages() -> list[str]:
    """Docnames of `_toc.yml` in reading order, root first (e.g. "book/intro", "notebooks/01_corpus")."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + _toc_files(toc)


def notebook_source(docname: str) -> str | None:
    """All code of a page's notebook (None when the page is not a notebook)."""
    path = (ROOT / docname).with_suffix(".ipynb")
    if not path.exists():
        return None
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


NOTEBOOKS = [d for d in toc_pages() if notebook_source(d) is not None]


@dataclass
class BookBuild:
    returncode: int
    log: str
    seconds: float | None  # None: built by the caller

    def require_html(self) -> None:
        if not (HTML / "index.html").exists():
            pytest.fail(f"no built book at {HTML / 'index.html'} (build exit code {self.returncode})")


@pytest.fixture(scope="session")
def book(model_cache) -> BookBuild:
    """Build the book once (as `make book` does) or reuse the caller's build with EMMAX_BOOK_BUILT=1.

    The build's model cache is the session's `model_cache` (conftest.py): the models that
    tests/test_standalone.py trained earlier in the session, else empty, never the user's home cache.
    """
    if os.environ.get("EMMAX_BOOK_BUILT") == "1":
        log = BUILD_LOG.read_text(errors="replace") if BUILD_LOG.exists() else ""
        build = BookBuild(0, log, None)
        build.require_html()
        return build
    if not MATHJAX.exists():  # _config.yml's html_static_path: MathJax ships with the build (make mathjax)
        subprocess.run(["make", "-s", "mathjax"], cwd=ROOT, check=True, timeout=600)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    # --all: Sphinx re-reads (and so re-executes) only changed pages otherwise, and a change in emmax_core
    # changes no page.
    cmd = [str(jupyter_book), "build", ".", "--all", "-W", "-n", "--keep-going"]
    start = time.perf_counter()
    env = {**os.environ, **BUILD_ENV, "EMMAX_CACHE": str(model_cache)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    log = proc.stdout + proc.stderr
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    BUILD_LOG.write_text(log)
    return BookBuild(proc.returncode, log, time.perf_counter() - start)


def _problems(log: str) -> str:
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # Sphinx's colours
    lines = [ln for ln in log.splitlines() if re.search(r"WARNING|ERROR|Error|Traceback", ln)]
    return "\n".join(lines[:40]) or log[-3000:]


@pytest.mark.book
def test_book_builds_strictly(book):
    assert book.returncode == 0, f"jupyter-book build -W -n failed; see {BUILD_LOG}:\n{_problems(book.log)}"
    assert (HTML / "index.html").exists()
    assert "Traceback" not in book.log, _problems(book.log)


@pytest.mark.book
def test_no_failed_execution_reports(book):
    book.require_html()
    reports = sorted(p.name for p in (HTML / "reports").rglob("*") if p.is_file())
    assert not reports, f"notebooks failed to execute, logs in {HTML / 'reports'}: {reports}"


@pytest.mark.book
def test_executed_notebooks_have_no_error_outputs(book):
    book.require_html()
    executed = {p.relative_to(ROOT / "_build" / "jupyter_execute").with_suffix("").as_posix(): p
                for p in (ROOT / "_build" / "jupyter_execute").rglob("*.ipynb")}
    missing = [d for d in NOTEBOOKS if d not in executed]
    assert not missing, f"notebooks in _toc.yml that the build did not execute: {missing}"
    bad = []
    for name in NOTEBOOKS:  # not every file there: notebooks dropped from _toc.yml leave stale copies
        path = executed[name]
        for cell in json.loads(path.read_text())["cells"]:
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", "")) if out.get("output_type") == "stream" else ""
                if out.get("output_type") == "error" or (
                        out.get("name") == "stderr" and re.search(r"\w*Error\b|Traceback", text)):
                    bad.append(f"{name}: {out.get('ename') or text[:200]}")
    assert not bad, "error outputs in executed notebooks:\n" + "\n".join(bad)


@pytest.mark.book
def test_html_pages_show_no_errors(book):
    book.require_html()
    skip = ("_static", "_sources", "_images", "reports")
    pages = [p for p in HTML.rglob("*.html") if p.relative_to(HTML).parts[0] not in skip]
    bad = [str(p.relative_to(HTML)) for p in pages if ERROR_HTML.search(p.read_text(errors="replace"))]
    assert pages and not bad, f"pages showing tracebacks or error outputs: {bad}"


class _TableParser(HTMLParser):
    """Rows of the first <table> of a page, as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell, self._depth, self._done = [], None, 0, False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and not self._done:
            self._depth += 1
        elif self._depth and tag == "tr":
            self.rows.append([])
        elif self._depth and tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "table" and self._depth:
            self._depth, self._done = 0, True
        elif self._depth and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(html.unescape(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def execution_table() -> dict[str, dict[str, str]]:
    """myst-nb's execution statistics from book/execution.html: {docname: {"Run Time (s)": ..., ...}}."""
    page = HTML / "book" / "execution.html"
    assert page.exists(), "book/execution.md (the nb-exec-table page) was not built"
    parser = _TableParser()
    parser.feed(page.read_text())
    assert parser.rows and parser.rows[0][:1] == ["Document"], "no execution statistics table on the page"
    header, *rows = parser.rows
    return {row[0]: dict(zip(header, row)) for row in rows}


@pytest.mark.book
def test_notebooks_ran_successfully_within_the_time_limit(book):
    book.require_html()
    table = execution_table()
    for docname in NOTEBOOKS:
        assert docname in table, f"{docname} is missing from the execution statistics: {sorted(table)}"
        row = table[docname]
        assert row["Status"] == "✅", f"{docname} did not execute successfully: {row}"
        seconds = float(row["Run Time (s)"])
        assert seconds < NOTEBOOK_LIMIT_S, f"{docname} ran {seconds:.0f} s (limit {NOTEBOOK_LIMIT_S:.0f} s)"


# Browser tests ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(book):
    """(base URL of the built book on a local server, headless Chromium driver, cache of link statuses)."""
    book.require_html()
    reason = browser.missing_reason()
    if reason:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    with browser.serve(HTML) as base, browser.chromium() as driver:
        yield base, driver, {}


def _check_internal_links(facts: dict, base: str, statuses: dict) -> list[str]:
    broken = []
    for url in sorted(set(facts["links"] + facts["resources"])):
        url = urldefrag(url).url
        if not url.startswith(base):
            continue
        if url not in statuses:
            statuses[url] = browser.http_status(url)
        if statuses[url] != 200:
            broken.append(f"{url} -> {statuses[url]}")
    return broken


@pytest.mark.book
@pytest.mark.browser
@pytest.mark.parametrize("docname", ["index"] + toc_pages())
def test_page_in_browser(site, docname):
    base, driver, statuses = site
    url = f"{base}{docname}.html"
    assert browser.http_status(url) == 200, f"{docname}.html was not built"
    facts = browser.page_facts(driver, url)
    math = browser.math_facts(driver)  # before the screenshot: it shows the typeset math
    browser.save_screenshot(driver, SCREENSHOTS / f"{docname.replace('/', '_')}.png", facts["height"])
    assert facts["title"].strip() and "404" not in facts["title"], f"no page title: {facts['title']!r}"
    assert facts["headings"], "the page has no <h1> heading"
    assert "Traceback" not in facts["text"], "the page shows a traceback"
    assert facts["error_outputs"] == 0, f"{facts['error_outputs']} error outputs on the page"
    assert not [t for t in facts["stderr"] if "Error" in t], f"stderr outputs with errors: {facts['stderr']}"
    broken = _check_internal_links(facts, base, statuses)
    assert not broken, "broken internal links:\n" + "\n".join(broken)
    # Math renders with the network unreachable (tests/browser.py): MathJax comes from the build itself.
    assert not math["raw_delimiters"], f"raw TeX delimiters in the visible text: {math['raw_context']}"
    if math["math_sources"]:
        assert math["mathjax"], f"MathJax did not load (from {math['mathjax_src']}); the math shows as TeX"
        assert all(src.startswith(base) for src in math["mathjax_src"]), math["mathjax_src"]
        assert not math["unrendered"] and math["rendered_in_math"] >= math["math_sources"], (
            f"{math['math_sources'] - math['rendered_in_math']} math elements not typeset: {math['unrendered']}")
    source = notebook_source(docname)
    if source is None:
        return
    assert any(f"/{docname}.ipynb" in url for url in facts["colab"]), f"no Colab link to {docname}.ipynb"
    if PLOTTING.search(source):
        shown = [img for img in facts["images"] if img["width"] > 0]
        assert shown, f"the notebook plots, but the page shows no figure: {facts['images']}"
    if WIDGETS.search(source):
        assert facts["widget_state"], "the notebook uses ipywidgets, but no widget state is embedded"


def _math_pages() -> list[str]:
    """Pages whose built HTML holds math (Sphinx's `.math` elements)."""
    return [d for d in toc_pages() if 'class="math' in (HTML / f"{d}.html").read_text(errors="replace")]


@pytest.mark.book
def test_mathjax_ships_with_the_build(book):
    """Every page with math loads MathJax from the build's own _static folder, never from a CDN."""
    book.require_html()
    pages = _math_pages()
    assert "notebooks/03_ranks_and_gmm" in pages, f"chapter 03's math was not found in its HTML; pages: {pages}"
    local = HTML / "_static" / "mathjax"
    assert (local / "tex-mml-chtml.js").is_file(), f"{local}/tex-mml-chtml.js is missing (make mathjax)"
    assert list((local / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")), "MathJax's fonts are missing"
    for docname in pages:
        page = (HTML / f"{docname}.html").read_text()
        srcs = re.findall(r'<script[^>]*src="([^"]*(?:mathjax|tex-mml)[^"]*)"', page, flags=re.I)
        depth = "../" * docname.count("/")
        assert len(srcs) == 1, f"{docname}: MathJax scripts {srcs}"
        assert re.fullmatch(rf"{re.escape(depth)}_static/mathjax/tex-mml-chtml\.js(\?v=\w+)?", srcs[0]), (
            f"{docname} loads MathJax from {srcs[0]}, not from the build")
        assert not re.search(r"https?://[^\"' ]*mathjax", page, flags=re.I), f"{docname} refers to a remote MathJax"


@pytest.mark.book
def test_site_has_logo_favicon_version_and_404(book):
    book.require_html()
    import emmax_core

    page = (HTML / "notebooks" / "03_ranks_and_gmm.html").read_text()
    assert re.search(r'<link rel="icon" href="\.\./_static/favicon\.svg"', page), "no favicon"
    assert re.search(r'<img src="\.\./_static/logo\.svg"', page), "no logo"
    assert (HTML / "_static" / "favicon.svg").is_file() and (HTML / "_static" / "logo.svg").is_file()
    assert f"release v{emmax_core.__version__}" in page, "the footer does not show the version"
    for label in ("repository-button", "issues-button", "download-source-button"):
        assert label in page, f"no {label} on a chapter page"
    not_found = (HTML / "404.html").read_text()
    assert "Page not found" in not_found
    # Served for missing paths at any depth, so it must not need any other file of the site.
    assert not re.search(r'(?:src|href)="(?!/"|#)[^"]+"', not_found), "404.html refers to other files"


@pytest.mark.book
@pytest.mark.browser
def test_search_box_finds_a_chapter(site):
    """Typing a query into the search box on a chapter page lists the chapter (offline: searchindex.js)."""
    base, driver, _ = site
    results = browser.search(driver, f"{base}notebooks/03_ranks_and_gmm.html", "ranking InfoNCE")
    assert f"{base}notebooks/04_ranking_infonce.html" in [urldefrag(u).url for u in results], (
        f"the search for 'ranking InfoNCE' did not list chapter 04: {results}")


@pytest.mark.book
@pytest.mark.browser
@pytest.mark.parametrize("docname, suffix", [("notebooks/03_ranks_and_gmm", ".ipynb"), ("book/algorithm", ".md")])
def test_download_button_offers_the_source(site, docname, suffix):
    """A chapter's download button offers its notebook (.ipynb), a page's its MyST markdown (.md)."""
    base, driver, _ = site
    links = browser.download_links(driver, f"{base}{docname}.html")
    assert suffix in links, f"the download menu of {docname} offers {sorted(links)}, not {suffix}"
    assert links[suffix] == f"{base}_sources/{docname}{suffix}", links
    assert browser.http_status(links[suffix]) == 200, f"{links[suffix]} was not built"


# Fast checks of book/api.md (no build) ------------------------------------------------------------------


def _public_modules() -> list[str]:
    import emmax_core

    names = ["emmax_core"]
    for info in pkgutil.walk_packages(emmax_core.__path__, "emmax_core."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def test_api_page_lists_every_module_and_export():
    import emmax_core

    api = (ROOT / "book" / "api.md").read_text()
    listed = re.findall(r"^\.\. automodule:: (\S+)", api, flags=re.M)
    missing = sorted(set(_public_modules()) - set(listed))
    assert not missing, f"book/api.md has no `.. automodule::` for {missing}"
    for module in listed:
        importlib.import_module(module)  # a listed module that does not import would fail the book build
    exports = [n for n in emmax_core.__all__ if n != "__version__"]
    unlisted = [n for n in exports if not re.search(rf"^\.\. py:(class|function):: {n}$", api, flags=re.M)]
    assert not unlisted, f"book/api.md's package section lacks the exports {unlisted}"


def _docstrings(module_name: str):
    module = importlib.import_module(module_name)
    yield module_name, module.__doc__
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        yield f"{module_name}.{name}", getattr(obj, "__doc__", None)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                member = getattr(member, "__func__", getattr(member, "fget", member))
                if not attr.startswith("_") and callable(member):
                    yield f"{module_name}.{name}.{attr}", member.__doc__


def test_docstrings_are_valid_restructuredtext():
    """The API page renders docstrings as reST (Google style via napoleon); catch markup errors fast."""
    from docutils import nodes
    from docutils.core import publish_doctree
    from docutils.parsers.rst import roles
    from sphinx.ext.napoleon import Config, GoogleDocstring

    def sphinx_role(name, rawtext, text, lineno, inliner, options=None, content=None):
        return [nodes.literal(rawtext, text)], []

    for role in ("class", "func", "meth", "attr", "mod", "obj", "data", "exc", "ref", "doc", "math"):
        roles.register_local_role(role, sphinx_role)
        roles.register_local_role(f"py:{role}", sphinx_role)
    config = Config(napoleon_use_param=True, napoleon_use_rtype=False, napoleon_use_ivar=True)
    problems = []
    for module in re.findall(r"^\.\. automodule:: (\S+)", (ROOT / "book" / "api.md").read_text(), flags=re.M):
        for qualname, doc in _docstrings(module):
            if not doc:
                continue
            rst = str(GoogleDocstring(inspect.cleandoc(doc), config))
            stream = io.StringIO()  # parser and transform messages (e.g. undefined substitutions) land here
            publish_doctree(rst, settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": stream})
            for line in stream.getvalue().splitlines():
                if re.search(r"\((WARNING|ERROR|SEVERE)/\d\)", line) and "Unknown directive type" not in line:
                    problems.append(f"{qualname}: {line.replace('<string>:', 'line ')}")
    hint = ("reST reads |x| as a substitution and name_ as a link (write ``|x|``), and a closing `` must be "
            "followed by a space or punctuation")
    assert not problems, "docstrings that are not valid reST:\n" + "\n".join(problems) + "\n" + hint
