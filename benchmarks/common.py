"""What every benchmark shares: the machine and versions, side-by-side timing, peak memory, the results file.

Each benchmark script (``bench_gmm.py``, ``bench_em_step.py``, ``bench_encode.py``, ``book_times.py``) measures
one section and merges it into ``benchmarks/results.json`` with the exact command that produced it; after each
merge ``benchmarks/RESULTS.md`` is regenerated from the JSON (``report.py``), so no number is typed by hand.
A figure is a ratio of two measurements taken side by side in the same process and run: repeats alternate
between the compared methods and the median of each is kept, so a neighbour's load slows both alike.

Taught in: notebooks/10_scaling_up.ipynb (the cost of a run at each scale; the figures live in benchmarks/RESULTS.md)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results.json"
NO_GPU = "not run: no GPU (torch.cuda.is_available() is False)"


def command_line() -> str:
    """The command that is running, as typed from the repository root (interpreter path kept relative)."""
    exe = Path(sys.executable)
    try:
        exe_text = str(exe.relative_to(ROOT))
    except ValueError:
        exe_text = exe.name if exe.name.startswith("python") else str(exe)
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = sys.argv[0]
    return shlex.join([exe_text, script_text, *sys.argv[1:]])


def machine() -> dict:
    """CPU model, core count, memory and the OS of this machine (plus the GPU, when there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "logical_cores": os.cpu_count(), "os": platform.platform(), "arch": platform.machine()}
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        pass
    import torch

    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def versions() -> dict:
    """Versions of Python and of the libraries a figure depends on (None = not installed)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "tokenizers", "numpy", "sentence-transformers", "emmax-core",
                 "myst-nb", "jupyter-book"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def now() -> str:
    """UTC time stamp, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def figure(name: str, value: float, unit: str, target: str | None = None, met: bool | None = None,
           **extra) -> dict:
    """One headline figure of a section: its value, unit, and the target with met/missed (None = no target)."""
    out = {"name": name, "value": value, "unit": unit}
    if target is not None:
        out.update(target=target, met=bool(met))
    out.update(extra)
    return out


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                      sync: Callable[[], None] | None = None) -> dict[str, dict]:
    """Median wall time of each function, measured in alternation (A, B, C, A, B, C, ...).

    Args:
        fns: name -> zero-argument callable.
        repeats: timed calls of each function.
        warmup: untimed calls of each function first (kernels, allocator, caches).
        sync: called before each clock read (``torch.cuda.synchronize`` on a GPU).

    Returns:
        name -> ``{"median_s", "min_s", "times_s"}``.
    """
    sync = sync or (lambda: None)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(t), "min_s": min(t), "times_s": [round(x, 6) for x in t]}
            for name, t in times.items()}


def torch_peak_bytes(fn: Callable[[], object]) -> tuple[int, object]:
    """Peak bytes that torch's allocator holds during ``fn()`` above what it held before, and fn's result.

    Read from the profiler's memory events (every allocation and free of a tensor, in time order), so the
    figure is exact for tensors and blind to interpreter noise; on CUDA the allocator's own peak is used.
    """
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out = fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base, out
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return peak, out


def rss_peak_mb() -> float:
    """This process's peak resident set size so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def merge_section(name: str, section: dict, results: Path = RESULTS, started: float | None = None) -> dict:
    """Write ``section`` (plus command, date, machine, versions, wall time) into ``results`` and regenerate
    RESULTS.md next to it. Other sections already in the file are kept; returns the whole document."""
    from report import write_markdown  # benchmarks/ is on sys.path when a script of it runs

    section = {"command": command_line(), "date": now(), "machine": machine(), "versions": versions(),
               "load_average_1m": round(os.getloadavg()[0], 2),
               **({"wall_s": round(time.perf_counter() - started, 1)} if started is not None else {}), **section}
    doc = json.loads(results.read_text()) if results.exists() else {}
    if "sections" not in doc:  # an older layout (or none): start afresh
        doc = {}
    doc.setdefault("sections", {})[name] = section
    doc.update({"updated": section["date"], "machine": section["machine"], "versions": section["versions"],
                "how": "make bench (all sections but the book's) or the command of each section; "
                       "RESULTS.md is generated from this file by benchmarks/report.py"})
    doc["sections"] = dict(sorted(doc["sections"].items(), key=lambda kv: _ORDER.get(kv[0], 99)))
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    write_markdown(doc, results.with_name("RESULTS.md"))
    return doc


_ORDER = {"gmm": 0, "em_step": 1, "encode": 2, "book": 3, "experiment": 4, "gmm_cuda": 5, "em_step_cuda": 6}


def add_arguments(parser: argparse.ArgumentParser, smoke_help: str) -> None:
    """The options every benchmark takes: --smoke, --device, --threads, --results."""
    parser.add_argument("--smoke", action="store_true", help=smoke_help + " (the tests' mode, seconds)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (recorded as 'not run' without a GPU)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: ratios stay stable when other processes share the cores)")
    parser.add_argument("--results", type=Path, default=RESULTS)


def run_section(name: str, args: argparse.Namespace, measure: Callable[[], dict]) -> None:
    """Measure a section (``name``, or ``name_cuda`` on a GPU) and merge it into ``args.results``.

    Without CUDA a ``--device cuda`` section is recorded as not run. Prints the section's figures as JSON lines.
    """
    started = time.perf_counter()
    if args.device != "cpu":
        name = f"{name}_cuda"
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            merge_section(name, {"status": NO_GPU, "device": args.device, "figures": []}, args.results, started)
            print(f"{name}: {NO_GPU}")
            return
    section = measure()
    merge_section(name, section, args.results, started)
    for fig in section["figures"]:
        print(json.dumps(fig))
