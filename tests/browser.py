"""Helpers for the book's browser test: a local HTTP server and a headless Chromium driven by selenium.

Chromium and its driver are Debian's `chromium` and `chromium-driver` packages (`make browser-deps`); the
driver is used from /usr/bin/chromedriver, so selenium never downloads anything. External hosts resolve
to nothing (`--host-resolver-rules`) and every request that is not to 127.0.0.1 goes to a proxy that does not
exist (`--proxy-server`), so the network is unreachable: a page that needs it for its content (a CDN's MathJax,
say) fails the same way offline and online; pages from the book itself come from `serve()` on 127.0.0.1.

Beyond what a page shows (`page_facts`): its math after MathJax has run (`math_facts`), the book's search
(`search`) and the download button (`download_links`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import shutil
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",  # port 9: nothing listens there
)
MAX_SCREENSHOT_HEIGHT = 8000  # px; the API page is far longer, its top is enough to see the rendering

# Everything one page shows that the test asserts on, read in the browser after the page has loaded.
_PAGE_FACTS_JS = """
const all = (sel) => Array.from(document.querySelectorAll(sel));
const main = document.querySelector('main') || document.body;
return {
  title: document.title,
  headings: all('h1').map(e => e.textContent.trim()).filter(t => t),
  text: main.innerText,
  links: all('a[href]').map(a => a.href),
  resources: all('img[src], script[src], link[rel=stylesheet][href]').map(e => e.src || e.href),
  images: all('.cell_output img, figure img').map(i => ({src: i.src, width: i.naturalWidth})),
  error_outputs: all('.output.error, .output.traceback, .highlight-ipythontb').length,
  stderr: all('.output.stderr').map(e => e.innerText),
  colab: all('a[href*="colab.research.google.com"]').map(a => a.href),
  widget_state: all('script[type="application/vnd.jupyter.widget-state+json"]').length,
  height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),
};
"""


def chromium_binary() -> str | None:
    """Path of the Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_reason() -> str | None:
    """Why a headless browser cannot run here (None when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if chromium_binary() is None:
        return "chromium is not installed (as root: make browser-deps, or apt-get install chromium)"
    if not os.access(CHROMEDRIVER, os.X_OK):
        return f"{CHROMEDRIVER} is missing (as root: make browser-deps, or apt-get install chromium-driver)"
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # the browser may drop a connection mid-transfer (a cancelled asset load): not a test failure
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 at a free port from a thread; yield the base URL (ends with "/")."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 1000, page_load_timeout_s: int = 60):
    """A headless Chromium WebDriver with a fresh profile; it quits and the profile is removed afterwards."""
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="emmax-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary()
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(page_load_timeout_s)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def page_facts(driver, url: str) -> dict:
    """Open `url` and return what the page shows (title, headings, text, links, output images, ...)."""
    from selenium.common.exceptions import JavascriptException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    # Wait for a loaded page that is not a redirect (Jupyter Book's index.html only redirects to the root
    # page); a script that runs while the redirect navigates fails, so such failures just mean "not yet".
    WebDriverWait(driver, 20, ignored_exceptions=(JavascriptException,)).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && !!document.body"
        " && !document.querySelector('meta[http-equiv=\"Refresh\" i]')"))
    return driver.execute_script(_PAGE_FACTS_JS)


def save_screenshot(driver, path: Path, height: int) -> None:
    """Save a PNG of the whole page (up to MAX_SCREENSHOT_HEIGHT pixels) to `path`."""
    width = driver.execute_script("return document.documentElement.clientWidth")
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, MAX_SCREENSHOT_HEIGHT), "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def http_status(url: str, timeout_s: float = 10) -> int:
    """HTTP status code of a GET on `url` (the local server only; no redirects expected)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# Math on a page once MathJax has typeset it. Raw TeX delimiters are looked for in the visible text outside
# code (code cells and inline code may show `\\(` or `$$` on purpose) and outside MathJax's own output.
_MATH_FACTS_JS = """
const done = arguments[arguments.length - 1];
const facts = () => {
  const main = document.querySelector('main') || document.body;
  const skip = 'pre, code, script, style, mjx-container, .highlight, textarea';
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {acceptNode: (n) =>
    (n.parentElement.closest(skip) || !n.parentElement.checkVisibility()) ? NodeFilter.FILTER_REJECT
                                                                          : NodeFilter.FILTER_ACCEPT});
  let text = '';
  while (walker.nextNode()) text += walker.currentNode.nodeValue + ' ';
  const raw = ['\\\\(', '\\\\)', '\\\\[', '\\\\]', '$$'].filter(d => text.includes(d));
  return {
    mathjax: !!(window.MathJax && window.MathJax.version),
    mathjax_src: Array.from(document.querySelectorAll('script[src*="mathjax" i], script[src*="tex-mml" i]'))
                      .map(e => e.src),
    math_sources: document.querySelectorAll('.math').length,
    rendered: main.querySelectorAll('mjx-container').length,
    rendered_in_math: main.querySelectorAll('.math mjx-container').length,
    unrendered: Array.from(main.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container'))
                     .slice(0, 5).map(e => e.textContent.trim().slice(0, 80)),
    raw_delimiters: raw,
    raw_context: raw.map(d => text.slice(Math.max(0, text.indexOf(d) - 60), text.indexOf(d) + 60)),
  };
};
const p = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
if (p) { p.then(() => done(facts()), () => done(facts())); } else { done(facts()); }
"""


def math_facts(driver, timeout_s: float = 60) -> dict:
    """On the page already open: wait for MathJax to finish typesetting, then report its math.

    Returns mathjax (MathJax loaded), mathjax_src (its script URLs), math_sources (`.math` elements Sphinx
    wrote), rendered (`mjx-container` elements), rendered_in_math, unrendered (first few `.math` elements
    without MathJax output), raw_delimiters (TeX delimiters left in the visible text outside code) and
    raw_context.
    """
    from selenium.webdriver.support.ui import WebDriverWait

    # MathJax's script is deferred, so it has run (or failed to load) once the document is complete; then
    # its startup promise resolves when the first typesetting is done.
    WebDriverWait(driver, timeout_s).until(lambda d: d.execute_script("return document.readyState") == "complete")
    driver.set_script_timeout(timeout_s)
    return driver.execute_async_script(_MATH_FACTS_JS)


def search(driver, page_url: str, query: str, timeout_s: float = 30) -> list[str]:
    """On `page_url`, type `query` into the theme's search box and press Enter; return the result links' URLs.

    The search runs in the browser on the build's own searchindex.js (Sphinx's search page), so it works
    without a network.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    page_facts(driver, page_url)
    wait = WebDriverWait(driver, timeout_s)
    button = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button.search-button__button")
                  if b.is_displayed())
    button.click()
    box = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#pst-search-dialog input[name=q]")))
    box.send_keys(query, Keys.ENTER)
    wait.until(lambda d: "search.html" in d.current_url)
    summary = (By.CSS_SELECTOR, "#search-results .search-summary")
    wait.until(lambda d: any(w in (d.find_elements(*summary) or [None])[0].text
                             for w in ("found", "did not match")) if d.find_elements(*summary) else False)
    return [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")]


def download_links(driver, page_url: str, timeout_s: float = 10) -> dict[str, str]:
    """On `page_url`, open the download button's menu; return {label shown (".ipynb", ".md", ".pdf"): link}."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page_facts(driver, page_url)
    toggle = driver.find_element(By.CSS_SELECTOR, 'button.dropdown-toggle[aria-label="Download this page"]')
    toggle.click()
    items = ".dropdown-menu.show a.dropdown-item, .dropdown-menu.show button.dropdown-item"
    WebDriverWait(driver, timeout_s).until(lambda d: d.find_elements(By.CSS_SELECTOR, items))
    return {e.text.strip(): e.get_attribute("href") or e.get_attribute("onclick") or ""
            for e in driver.find_elements(By.CSS_SELECTOR, items) if e.is_displayed()}
