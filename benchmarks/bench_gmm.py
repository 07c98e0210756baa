"""Benchmark: naive (B, Q, N, D) GMM log-likelihood vs the expanded-matmul form of `log_joint`.

Each (method, size) runs in its own subprocess so that its peak memory can be read from ru_maxrss (the extra
peak RSS over the process's state just before the call). The naive form is
skipped when its estimated memory exceeds --max-naive-gb. Ratios come from the same run.

Usage:
    python benchmarks/bench_gmm.py [--output benchmarks/results/gmm.json] [--threads 2] [--repeats 3]

Taught in: notebooks/03_ranks_and_gmm.ipynb
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_SIZES = [(16, 528, 128), (32, 1056, 256), (64, 1088, 256), (128, 8320, 768)]
NUM_RANKS = 4


def naive_estimated_gb(batch: int, num_cand: int, dim: int) -> float:
    """About three float32 (B, Q, N, D) buffers live at once in the broadcast form (diff, square, weighted)."""
    return 3 * batch * num_cand * NUM_RANKS * dim * 4 / 1e9


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def worker(method: str, batch: int, num_cand: int, dim: int, repeats: int, threads: int) -> dict:
    """Time one method at one size in this process; returns a JSON-able dict."""
    import torch

    from emmax_core.gmm import GaussianMixtureRankClassifier

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    gmm = GaussianMixtureRankClassifier(NUM_RANKS, dim, generator=gen)
    q = torch.nn.functional.normalize(torch.randn(batch, dim, generator=gen), dim=1)
    c = torch.nn.functional.normalize(torch.randn(num_cand, dim, generator=gen), dim=1)
    fn = gmm.log_joint_naive if method == "naive" else gmm.log_joint
    with torch.no_grad():
        fn(q[:2], c[:8])  # warm-up: load kernels before the memory baseline
        before = _rss_mb()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            out = fn(q, c)
            times.append(time.perf_counter() - start)
            del out
        result = {"time_s": min(times), "extra_rss_mb": _rss_mb() - before}
        if method == "naive":
            naive = fn(q, c)
            fast = gmm.log_joint(q, c)
            result["max_abs_diff_log_joint"] = (naive - fast).abs().max().item()
            result["max_abs_log_joint"] = naive.abs().max().item()
            posterior_diff = naive.softmax(-1) - fast.softmax(-1)
            result["max_abs_diff_posterior"] = posterior_diff.abs().max().item()
    return result


def run_one(method: str, size: tuple[int, int, int], repeats: int, threads: int) -> dict:
    """Run `worker` in a fresh interpreter and parse its JSON line."""
    cmd = [sys.executable, __file__, "--worker", method, *map(str, size), "--repeats", str(repeats),
           "--threads", str(threads)]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def benchmark(sizes, repeats: int, threads: int, max_naive_gb: float) -> list[dict]:
    """Both methods at every size; naive skipped above `max_naive_gb`."""
    rows = []
    for batch, num_cand, dim in sizes:
        row = {"B": batch, "Q": num_cand, "D": dim, "N": NUM_RANKS,
               "naive_estimated_gb": round(naive_estimated_gb(batch, num_cand, dim), 3)}
        fast = run_one("expanded", (batch, num_cand, dim), repeats, threads)
        row.update({f"expanded_{k}": v for k, v in fast.items()})
        if row["naive_estimated_gb"] > max_naive_gb:
            row["naive_skipped"] = f"estimated {row['naive_estimated_gb']:.1f} GB > --max-naive-gb {max_naive_gb}"
        else:
            naive = run_one("naive", (batch, num_cand, dim), repeats, threads)
            row.update({(k if k.startswith("max_abs") else f"naive_{k}"): v for k, v in naive.items()})
            if "naive_time_s" in row and "expanded_time_s" in row:
                row["speedup"] = row["naive_time_s"] / row["expanded_time_s"]
                row["memory_ratio"] = row["naive_extra_rss_mb"] / max(row["expanded_extra_rss_mb"], 1.0)
        rows.append(row)
    return rows


def main(argv=None) -> None:
    """Command-line entry point; writes the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "gmm.json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-naive-gb", type=float, default=4.0)
    parser.add_argument("--worker", nargs=4, metavar=("METHOD", "B", "Q", "D"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        method, *size = args.worker
        print(json.dumps(worker(method, *map(int, size), args.repeats, args.threads)))
        return
    import torch

    rows = benchmark(DEFAULT_SIZES, args.repeats, args.threads, args.max_naive_gb)
    report = {"benchmark": "gmm_log_joint", "dtype": "float32", "torch": torch.__version__,
              "python": platform.python_version(), "machine": platform.machine(), "threads": args.threads,
              "repeats": args.repeats, "time": "best of repeats", "memory": "extra peak RSS (ru_maxrss)",
              "results": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, args.output.with_name("RESULTS.md"))
    for row in rows:
        print(json.dumps(row))


def write_markdown(report: dict, path: Path) -> None:
    """A short RESULTS.md generated from the JSON report (numbers are never typed by hand)."""
    lines = ["# Benchmarks", "", f"Generated by `make bench` ({report['torch']}, Python {report['python']}, "
             f"{report['threads']} threads, {report['time']}; memory = {report['memory']}).", "",
             "GMM log-likelihood: the naive broadcast over (B, Q, N, D) vs the expanded matrix-product form "
             "(`GaussianMixtureRankClassifier.log_joint`), measured in the same run.", "",
             "| B | Q | D | expanded s | naive s | speed-up | memory ratio | max abs diff |", "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        naive = r.get("naive_time_s")
        lines.append(f"| {r['B']} | {r['Q']} | {r['D']} | {r['expanded_time_s']:.4f} | "
                     + (f"{naive:.4f} | {r['speedup']:.0f}x | {r['memory_ratio']:.0f}x | {r['max_abs_diff_log_joint']:.1e} |"
                        if naive is not None else f"skipped (est. {r['naive_estimated_gb']:.0f} GB) | – | – | – |"))
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
