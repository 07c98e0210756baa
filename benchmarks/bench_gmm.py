"""Benchmark: the GMM E-step (log-likelihood + posteriors), naive (B, Q, N, D) broadcast vs the matmul form.

Measured side by side in one process, repeats alternating between the methods:

* ours: ``GaussianMixtureRankClassifier.forward`` (log posteriors, (B, Q, N)) and ``log_joint``;
* naive: ``log_softmax(log_joint_naive)``, which builds the (B, Q, N, D) differences;
* bound: the single (B*N x D) @ (D x Q) matmul that ours reduces to, on the same inputs.

Peak extra memory is what torch's allocator holds above its state before the call (profiler memory events),
compared with the (B, Q, N) float32 output the E-step must hold. The naive form is skipped where its
estimated peak exceeds ``--naive-limit-gb``; the largest Q it runs within that limit (B=64, D=256) is found
from its measured bytes per candidate and checked by running it there, in a fresh process. Results are
merged into benchmarks/results.json (section ``gmm``, or ``gmm_cuda`` with ``--device cuda``).

Usage:
    python benchmarks/bench_gmm.py [--smoke] [--device cpu|cuda] [--threads 1] [--results PATH]

Taught in: notebooks/03_ranks_and_gmm.ipynb
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, add_arguments, figure, interleaved_times, rss_peak_mb, run_section, torch_peak_bytes  # noqa: E402

NUM_RANKS = 4
SIZES = [(32, 1056, 256), (64, 4160, 256), (128, 8320, 768)]
PAPER = (256, 65792, 768)
HEADLINE = (64, 4160, 256)
SMOKE_SIZES = [(4, 24, 8), (8, 40, 16)]
SMOKE_PAPER = (16, 96, 32)
TARGETS = {"speedup": 30.0, "memory_ratio": 20.0, "bound_ratio": 3.0, "output_ratio": 4.0, "paper_gb": 2.0}


def naive_estimated_bytes(batch: int, num_cand: int, dim: int) -> float:
    """Peak of the naive form: about 2.25 float32 (B, Q, N, D) buffers (two live at once, plus the differences)."""
    return 2.25 * batch * num_cand * NUM_RANKS * dim * 4


def _inputs(batch, num_cand, dim, device):
    import torch

    gen = torch.Generator().manual_seed(0)
    from emmax_core.gmm import GaussianMixtureRankClassifier

    gmm = GaussianMixtureRankClassifier(NUM_RANKS, dim, generator=gen)
    with torch.no_grad():  # components apart, so that the posteriors are not uniform
        gmm.means.normal_(0.0, 0.5 / math.sqrt(dim), generator=gen)
    q = torch.nn.functional.normalize(torch.randn(batch, dim, generator=gen), dim=1)
    c = torch.nn.functional.normalize(torch.randn(num_cand, dim, generator=gen), dim=1)
    return gmm.to(device), q.to(device), c.to(device)


def worker(batch: int, num_cand: int, dim: int, repeats: int, threads: int, device: str, naive: bool) -> dict:
    """All measurements of one size in this process: times, peak memory, agreement. Returns a JSON-able dict.

    Shapes: queries (B, D), candidates (Q, D), posteriors (B, Q, N) with N = 4.
    Taught in: notebooks/03_ranks_and_gmm.ipynb
    """
    import torch

    torch.set_num_threads(threads)
    gmm, q, c = _inputs(batch, num_cand, dim, device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    w = torch.exp(-gmm.log_vars.detach())
    rows = (q[:, None, :] * w).reshape(batch * NUM_RANKS, dim)  # the bound's left factor, built outside the timing
    c_t = c.T
    fns = {"ours": lambda: gmm(q, c), "ours_log_joint": lambda: gmm.log_joint(q, c), "bound_matmul": lambda: rows @ c_t}
    if naive:
        fns["naive"] = lambda: torch.log_softmax(gmm.log_joint_naive(q, c), dim=-1)
    out_bytes = batch * num_cand * NUM_RANKS * 4
    with torch.no_grad():
        # ours against its bound, then ours against naive: the naive form's GB-sized buffers would otherwise
        # evict the caches and allocator state that the millisecond-sized calls run in
        times = interleaved_times({k: fns[k] for k in ("ours", "ours_log_joint", "bound_matmul")}, repeats=repeats,
                                  sync=sync)
        if naive:
            vs_naive = interleaved_times({"ours": fns["ours"], "naive": fns["naive"]}, repeats=max(2, repeats // 2),
                                         sync=sync)
            times.update(naive=vs_naive["naive"], ours_vs_naive=vs_naive["ours"])
        result = {"B": batch, "Q": num_cand, "D": dim, "N": NUM_RANKS, "device": device, "output_bytes": out_bytes,
                  "times": times}
        for name in fns:
            peak, out = torch_peak_bytes(fns[name])
            result[f"{name}_peak_bytes"] = peak
            del out
        ours = gmm(q, c)
        if naive:
            ref = torch.log_softmax(gmm.log_joint_naive(q, c), dim=-1)
            result["max_abs_diff_log_posterior"] = (ours - ref).abs().max().item()
            result["max_abs_diff_posterior"] = (ours.exp() - ref.exp()).abs().max().item()
            result["max_abs_diff_log_joint"] = (gmm.log_joint(q, c) - gmm.log_joint_naive(q, c)).abs().max().item()
            result["max_abs_log_joint"] = gmm.log_joint_naive(q, c).abs().max().item()
            result["same_argmax_share"] = (ours.argmax(-1) == ref.argmax(-1)).float().mean().item()
    t = {k: v["median_s"] for k, v in times.items()}
    result["bound_ratio"] = t["ours"] / t["bound_matmul"]
    result["log_joint_bound_ratio"] = t["ours_log_joint"] / t["bound_matmul"]
    result["output_ratio"] = result["ours_peak_bytes"] / out_bytes
    if naive:
        result["speedup"] = t["naive"] / t["ours_vs_naive"]
        result["memory_ratio"] = result["naive_peak_bytes"] / max(result["ours_peak_bytes"], 1)
    return result


def naive_peak_worker(batch: int, num_cand: int, dim: int, threads: int, device: str) -> dict:
    """Run the naive posteriors once at one size: torch's peak bytes and the process's extra peak RSS (MB)."""
    import torch

    torch.set_num_threads(threads)
    gmm, q, c = _inputs(batch, num_cand, dim, device)
    with torch.no_grad():
        torch.log_softmax(gmm.log_joint_naive(q[:2], c[:8]), dim=-1)  # kernels loaded before the baseline
        before = rss_peak_mb()
        start = time.perf_counter()
        peak, out = torch_peak_bytes(lambda: torch.log_softmax(gmm.log_joint_naive(q, c), dim=-1))
        seconds = time.perf_counter() - start
    return {"B": batch, "Q": num_cand, "D": dim, "peak_bytes": peak, "extra_rss_mb": rss_peak_mb() - before,
            "time_s": seconds, "finite": bool(torch.isfinite(out).all())}


def _subprocess(kind: str, args: dict) -> dict:
    """Run a worker in a fresh interpreter (its own peak RSS) and parse its JSON line."""
    cmd = [sys.executable, __file__, "--worker", kind, json.dumps(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"error": f"{kind} {args}: {tail}"}
    return json.loads(lines[-1])


def naive_limit(batch: int, dim: int, limit_bytes: float, slope_row: dict, threads: int, device: str,
                step: int = 64, fresh_process: bool = True, tries: int = 4) -> dict:
    """Largest Q (a multiple of ``step``) whose naive E-step stays within ``limit_bytes``, at (B, D) given.

    The naive peak is linear in Q; its measured bytes per candidate (``slope_row``: a size measured in this
    run, same B and D) predicts the limit, which is then checked by running the naive form there, in a fresh
    process (shrinking by 2% until torch's peak fits). Taught in: notebooks/03_ranks_and_gmm.ipynb
    """
    per_cand = slope_row["naive_peak_bytes"] / slope_row["Q"]
    q_max = int(limit_bytes / per_cand) // step * step
    checks = []
    for _ in range(tries):
        if q_max < step:
            break
        args = {"batch": batch, "num_cand": q_max, "dim": dim, "threads": threads, "device": device}
        check = _subprocess("naive_peak", args) if fresh_process else naive_peak_worker(**args)
        checks.append(check)
        if "error" in check:
            break
        if check["peak_bytes"] <= limit_bytes:
            return {"B": batch, "D": dim, "limit_bytes": limit_bytes, "bytes_per_candidate": per_cand, "Q_max": q_max,
                    "next_Q_predicted_bytes": per_cand * (q_max + step), "checks": checks, "found": True}
        q_max = int(q_max * 0.98) // step * step
    return {"B": batch, "D": dim, "limit_bytes": limit_bytes, "bytes_per_candidate": per_cand, "checks": checks,
            "found": False}


def benchmark(smoke: bool, device: str, threads: int, repeats: int, limit_gb: float) -> dict:
    """The whole ``gmm`` section: every size, the paper size (ours only), the naive form's memory limit.

    Taught in: notebooks/03_ranks_and_gmm.ipynb
    """
    sizes, paper = (SMOKE_SIZES, SMOKE_PAPER) if smoke else (SIZES, PAPER)
    headline = sizes[-1] if smoke else HEADLINE
    limit = limit_gb * 1e9
    rows = []
    for batch, num_cand, dim in [*sizes, paper]:
        est = naive_estimated_bytes(batch, num_cand, dim)
        naive = est <= limit
        reps = min(3, repeats) if (batch, num_cand, dim) == paper else repeats
        row = worker(batch, num_cand, dim, reps, threads, device, naive)
        row.update({"B": batch, "Q": num_cand, "D": dim, "paper_size": (batch, num_cand, dim) == paper,
                    "naive_estimated_bytes": est})
        if not naive:
            row["naive_skipped"] = f"estimated peak {est / 1e9:.0f} GB > {limit_gb:g} GB"
        rows.append(row)
    slope = next((r for r in rows if (r["B"], r["Q"], r["D"]) == headline and "naive_peak_bytes" in r), None)
    search = (naive_limit(headline[0], headline[2], limit, slope, threads, device, fresh_process=not smoke) if slope
              else {"found": False, "error": "no naive measurement at the headline size"})
    section = {"smoke": smoke, "device": device, "threads": threads, "dtype": "float32", "num_ranks": NUM_RANKS,
               "time": "median of interleaved repeats: ours, ours log_joint and the bound together; ours and "
                       "naive together (fewer repeats)",
               "memory": "peak bytes held by torch's allocator above its state before the call (profiler "
                         "memory events; CUDA: max_memory_allocated); naive limit also checked with peak RSS",
               "naive_limit_gb": limit_gb, "targets": TARGETS, "sizes": rows, "naive_limit": search}
    section["figures"] = figures(section, headline, paper)
    return section


def figures(section: dict, headline: tuple, paper: tuple) -> list[dict]:
    """Headline figures of the section, each with its target and met/missed."""
    rows = {(r["B"], r["Q"], r["D"]): r for r in section["sizes"] if "error" not in r}
    out = []
    h = rows.get(headline)
    tag = "x".join(map(str, headline))
    if h and "speedup" in h:
        out.append(figure(f"E-step speed-up over naive at (B, Q, D) = ({tag})", h["speedup"], "x",
                          f">= {TARGETS['speedup']:g}x", h["speedup"] >= TARGETS["speedup"]))
        out.append(figure(f"E-step peak memory, naive / ours at ({tag})", h["memory_ratio"], "x",
                          f">= {TARGETS['memory_ratio']:g}x", h["memory_ratio"] >= TARGETS["memory_ratio"]))
        out.append(figure(f"E-step max abs difference of posteriors, ours vs naive at ({tag})",
                          h["max_abs_diff_posterior"], "probability"))
    for key, r in rows.items():
        name = "x".join(map(str, key))
        out.append(figure(f"E-step time / its (B*N x D) @ (D x Q) matmul at ({name})", r["bound_ratio"], "x",
                          f"<= {TARGETS['bound_ratio']:g}x", r["bound_ratio"] <= TARGETS["bound_ratio"]))
        out.append(figure(f"E-step peak extra memory / its (B, Q, N) output at ({name})", r["output_ratio"], "x",
                          f"<= {TARGETS['output_ratio']:g}x", r["output_ratio"] <= TARGETS["output_ratio"]))
    p = rows.get(paper)
    if p:
        gb = p["ours_peak_bytes"] / 1e9
        out.append(figure(f"E-step peak extra memory at paper size ({'x'.join(map(str, paper))})", gb, "GB",
                          f"< {TARGETS['paper_gb']:g} GB", gb < TARGETS["paper_gb"],
                          time_s=p["times"]["ours"]["median_s"]))
    lim = section["naive_limit"]
    if lim.get("found"):
        out.append(figure(f"Largest Q the naive E-step runs within {section['naive_limit_gb']:g} GB "
                          f"(B={lim['B']}, D={lim['D']})", lim["Q_max"], "candidates"))
    return out


def main(argv=None) -> None:
    """Command-line entry point: measure, then merge the section into the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, "tiny sizes")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--naive-limit-gb", type=float, default=8.0)
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "ARGS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(naive_peak_worker(**json.loads(args.worker[1]))))
        return
    limit = 0.05 if args.smoke and args.naive_limit_gb == 8.0 else args.naive_limit_gb
    run_section("gmm", args, lambda: benchmark(args.smoke, args.device, args.threads,
                                               2 if args.smoke else args.repeats, limit))


if __name__ == "__main__":
    main()
