"""The book's notebook execution times (per chapter and in total), read from the last build, into the results.

myst-nb records, for every notebook it executes, ``{"mtime", "runtime", "method", "succeeded", ...}`` in the
Sphinx environment (``_build/.doctrees/environment.pickle``, ``env.nb_metadata[docname]["exec_data"]``); the
``{nb-exec-table}`` of book/execution.md is drawn from it. This script reads it (or, when the pickle cannot be
read, the table of the built ``_build/html/book/execution.html``) and merges a ``book`` section into
benchmarks/results.json, labelled ``cold`` (empty model cache: every chapter trains its models) or ``warm``
(the cache filled by an earlier build), with the date of the build and the command that made it.

With ``--build`` it first builds the book itself (``make book``, ``EMMAX_CACHE=--cache-dir``; ``cold`` empties
that cache first) and also records the whole build's wall time. A build takes 10-20 minutes of both cores.

Usage:
    python benchmarks/book_times.py --state cold|warm [--build [--cache-dir DIR]] [--build-dir _build]

Taught in: book/execution.md (the execution statistics of the book)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import html
import json
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, command_line, merge_section, now  # noqa: E402

BUILD_COMMAND = "make book"


def from_environment(build_dir: Path) -> list[dict]:
    """Per-notebook execution data from the Sphinx environment pickle; [] when it holds none.

    Returns rows ``{"docname", "runtime_s", "succeeded", "method", "executed_at"}`` sorted by docname.
    """
    path = build_dir / ".doctrees" / "environment.pickle"
    with open(path, "rb") as fh:
        env = pickle.load(fh)  # noqa: S301 (our own build's file)
    rows = []
    for docname, data in sorted(getattr(env, "nb_metadata", {}).items()):
        exec_data = data.get("exec_data")
        if exec_data and exec_data.get("runtime") is not None:
            rows.append({"docname": docname, "runtime_s": float(exec_data["runtime"]),
                         "succeeded": bool(exec_data.get("succeeded")), "method": exec_data.get("method"),
                         "executed_at": _iso(exec_data.get("mtime"))})
    return rows


def from_html(build_dir: Path) -> list[dict]:
    """The same rows from the built execution-statistics page (run times rounded to 0.01 s by myst-nb)."""
    page = (build_dir / "html" / "book" / "execution.html").read_text(encoding="utf-8")
    table = re.search(r"<table.*?</table>", page, re.S)
    rows = [[html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0) if table else "", re.S)]
    if not rows or rows[0][:1] != ["Document"]:
        return []
    header, out = rows[0], []
    for cells in (dict(zip(header, row)) for row in rows[1:]):
        if cells.get("Run Time (s)", "-") not in ("-", ""):
            out.append({"docname": cells["Document"], "runtime_s": float(cells["Run Time (s)"]),
                        "succeeded": cells.get("Status") == "✅", "method": cells.get("Method"),
                        "executed_at": cells.get("Modified")})
    return sorted(out, key=lambda r: r["docname"])


def _iso(timestamp) -> str | None:
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(float(timestamp), _dt.timezone.utc).replace(microsecond=0).isoformat()


def read_build(build_dir: Path) -> tuple[list[dict], str]:
    """Chapter rows of the last build and where they were read from (pickle first, then the HTML table)."""
    errors = []
    for reader, source in ((from_environment, ".doctrees/environment.pickle (myst-nb exec_data)"),
                           (from_html, "html/book/execution.html (the nb-exec-table)")):
        try:
            rows = reader(build_dir)
        except Exception as error:  # a missing, partial or foreign file: try the next source
            errors.append(f"{source}: {type(error).__name__}: {error}")
            continue
        if rows:
            return rows, f"{build_dir.name}/{source}"
    raise SystemExit(f"no notebook execution statistics under {build_dir}: build the book first (make book). "
                     + "; ".join(errors))


def build(state: str, cache_dir: Path) -> tuple[str, float]:
    """Build the book with ``EMMAX_CACHE=cache_dir`` (emptied first when ``state`` is cold); the command and
    its wall time in seconds."""
    if state == "cold" and cache_dir.exists():
        shutil.rmtree(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "EMMAX_CACHE": str(cache_dir.resolve())}
    command = f"EMMAX_CACHE={shlex.quote(str(cache_dir))} {BUILD_COMMAND}" + (
        f" (after rm -rf {shlex.quote(str(cache_dir))})" if state == "cold" else "")
    start = time.perf_counter()
    subprocess.run(BUILD_COMMAND.split(), cwd=ROOT, env=env, check=True)
    return command, time.perf_counter() - start


def record(state: str, build_dir: Path, build_command: str, build_wall_s: float | None, results: Path) -> dict:
    """Merge one labelled build's chapter times into the ``book`` section of ``results``; returns the run."""
    rows, source = read_build(build_dir)
    executed = [r["executed_at"] for r in rows if r.get("executed_at")]
    run = {"state": state, "date": max(executed) if executed else now(), "recorded": now(),
           "build_command": build_command, "command": command_line(), "source": source,
           "total_s": sum(r["runtime_s"] for r in rows), "chapters": rows,
           "all_succeeded": all(r["succeeded"] for r in rows)}
    if build_wall_s is not None:
        run["build_wall_s"] = build_wall_s
    doc = json.loads(results.read_text()) if results.exists() else {}
    runs = dict(doc.get("sections", {}).get("book", {}).get("runs", {}))
    if state in ("cold", "warm"):
        runs.pop("unknown", None)  # a labelled build replaces the record of an unlabelled one
    runs[state] = run
    run.setdefault("load_average", os.getloadavg()[0])  # other work on the cores during the build
    merge_section("book", {"runs": runs, "figures": book_figures(runs)}, results)
    return run


COLD_TARGET_S = 20 * 60  # the whole cold build


def book_figures(runs: dict) -> list[dict]:
    """Per recorded build: total notebook execution, and for a cold build its wall time against the target."""
    figures = [{"name": f"Book notebooks, total execution ({label})", "value": r["total_s"], "unit": "s",
                "command": r["build_command"]} for label, r in runs.items()]
    cold = runs.get("cold", {})
    if cold.get("build_wall_s"):
        figures.append({"name": "Book build from an empty model cache, whole build", "value": cold["build_wall_s"],
                        "unit": "s", "command": cold["build_command"], "target": f"<= {COLD_TARGET_S} s",
                        "met": cold["build_wall_s"] <= COLD_TARGET_S})
    return figures


def main(argv=None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, choices=["cold", "warm", "unknown"],
                        help="cold: the build started from an empty model cache; warm: from a filled one")
    parser.add_argument("--build", action="store_true", help="build the book first (make book), timing it")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "_build" / "bench-book-cache",
                        help="EMMAX_CACHE of the --build (emptied first for --state cold)")
    parser.add_argument("--build-command", default=None,
                        help="how the build that is read was made (default: make book, or the --build command)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "_build")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    wall = None
    command = args.build_command or BUILD_COMMAND
    if args.build:
        command, wall = build(args.state, args.cache_dir)
    run = record(args.state, args.build_dir, command, wall, args.results)
    print(json.dumps({k: v for k, v in run.items() if k != "chapters"}))


if __name__ == "__main__":
    main()
