"""Helpers for the book's browser test: a local HTTP server and a headless Chromium driven by selenium.

Chromium and its driver are Debian's `chromium` and `chromium-driver` packages (`make browser-deps`); the
driver is used from /usr/bin/chromedriver, so selenium never downloads anything. External hosts resolve
to nothing (`--host-resolver-rules`), so a page that needs the network for its content fails the same way
offline and online; pages from the book itself come from `serve()` on 127.0.0.1.
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
