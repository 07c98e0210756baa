"""benchmarks/RESULTS.md, generated from benchmarks/results.json: no number in it is typed by hand.

Every sentence that states a number is built here from the measured values; where a target is missed, the
section's analysis paragraph (also generated) says where the time or memory goes, citing the measurements.

Usage:
    python benchmarks/report.py [--results benchmarks/results.json]

Taught in: notebooks/10_scaling_up.ipynb (the cost of a run)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.json"


def _num(value, digits: int = 3) -> str:
    """A number for a table: ints as is, floats with `digits` significant digits."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.1f} MB" if nbytes < 1e9 else f"{nbytes / 1e9:,.2f} GB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def _met(fig: dict) -> str:
    if "met" not in fig:
        return "–"
    return "met" if fig["met"] else "**missed**"


def figures_table(doc: dict) -> list[str]:
    """One table of every section's headline figures: value, target, met/missed and the command."""
    lines = ["| Section | Figure | Value | Target | Met | Command |", "|---|---|---|---|---|---|"]
    for name, sec in doc.get("sections", {}).items():
        if "status" in sec:
            lines.append(f"| {name} | – | {sec['status']} | – | – | `{sec['command']}` |")
            continue
        for fig in sec.get("figures", []):
            value = _num(fig["value"]) + ("" if fig["unit"] in ("x",) else " ") + fig["unit"]
            lines.append(f"| {name} | {fig['name']} | {value} | {fig.get('target', '–')} | {_met(fig)} | "
                         f"`{fig.get('command', sec['command'])}` |")
    return lines


def gmm_lines(sec: dict) -> list[str]:
    """The GMM E-step section: per-size table and the analysis of any missed target."""
    lines = ["| B | Q | D | ours (posteriors) | its matmul | ours / matmul | naive | speed-up | "
             "ours peak extra | / output | naive peak extra | naive / ours memory | max abs diff (posterior) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sec["sizes"]:
        if "error" in r:
            lines.append(f"| {r['B']} | {r['Q']} | {r['D']} | error: {r['error']} |" + " |" * 9)
            continue
        t = r["times"]
        naive = t.get("naive")
        lines.append(
            f"| {r['B']} | {r['Q']:,} | {r['D']} | {_ms(t['ours']['median_s'])} | {_ms(t['bound_matmul']['median_s'])} | "
            f"{r['bound_ratio']:.2f}x | " + (f"{_ms(naive['median_s'])} | {r['speedup']:.0f}x | " if naive else
                                              f"skipped ({r['naive_skipped']}) | – | ")
            + f"{_mb(r['ours_peak_bytes'])} | {r['output_ratio']:.2f}x | "
            + (f"{_mb(r['naive_peak_bytes'])} | {r['memory_ratio']:.0f}x | {r['max_abs_diff_posterior']:.1e} |"
               if naive else "– | – | – |"))
    lim = sec.get("naive_limit", {})
    lines.append("")
    if lim.get("found"):
        last = lim["checks"][-1]
        lines.append(
            f"Largest Q the naive E-step runs within {sec['naive_limit_gb']:g} GB at B={lim['B']}, D={lim['D']}: "
            f"**Q = {lim['Q_max']:,}** (measured {lim['bytes_per_candidate'] / 1e3:,.0f} kB per candidate; run there: "
            f"torch peak {_mb(last['peak_bytes'])}, extra peak RSS {last['extra_rss_mb']:,.0f} MB, "
            f"{last['time_s']:.1f} s; Q + 64 would need {_mb(lim['next_Q_predicted_bytes'])}).")
    elif lim:
        lines.append(f"The naive form's memory limit was not found: {lim.get('error') or lim.get('checks')}.")
    lines += ["", *gmm_analysis(sec)]
    return lines


def gmm_analysis(sec: dict) -> list[str]:
    """Where the E-step's time and memory go, from the numbers; what would fix a missed target."""
    rows = [r for r in sec["sizes"] if "error" not in r]
    if not rows:
        return []
    worst_t = max(rows, key=lambda r: r["bound_ratio"])
    worst_m = max(rows, key=lambda r: r["output_ratio"])
    t = worst_t["times"]
    extra = t["ours"]["median_s"] - t["bound_matmul"]["median_s"]
    joint_extra = t["ours_log_joint"]["median_s"] - t["bound_matmul"]["median_s"]
    out = [f"*Analysis (generated from the numbers above).* The matmul form does one (B*N x D) @ (D x Q) "
           f"matmul and O(B Q N) element-wise passes over its result. At its worst size here "
           f"({worst_t['B']}, {worst_t['Q']:,}, {worst_t['D']}) the posteriors take {worst_t['bound_ratio']:.2f}x "
           f"the matmul alone: {_ms(extra)} beyond it, of which {_ms(max(joint_extra, 0))} are the log-likelihood's "
           f"in-place terms and transposed copy and the rest the softmax over ranks. Peak extra memory is at most "
           f"{worst_m['output_ratio']:.2f}x the (B, Q, N) output: the matmul's (B, N, Q) buffer and the returned "
           "(B, Q, N) layout."]
    missed = [f for f in sec.get("figures", []) if f.get("met") is False]
    if missed:
        names = "; ".join(f"{f['name']} = {_num(f['value'])}{f['unit']} (target {f['target']})" for f in missed)
        out.append("")
        out.append(f"*Missed here:* {names}. " + _gmm_fix(missed))
    return out


def _gmm_fix(missed: list[dict]) -> str:
    text = []
    if any("matmul" in f["name"] for f in missed):
        text.append("A time above 3x the matmul means the element-wise passes dominate: at small Q the matmul "
                    "is too short for the fixed per-call overhead (kernel launches, (Q, N) side terms), so a "
                    "fused kernel (one pass adding the side terms, softmax and transposed store) would close it.")
    if any("output" in f["name"] or "paper" in f["name"] for f in missed):
        text.append("Memory above the output's 4x would come from temporaries of the side terms; computing them "
                    "in blocks of candidates (as the (Q, N) terms already are) removes them.")
    if any("naive" in f["name"] for f in missed):
        text.append("A naive-vs-ours ratio below target at this size means the naive form's broadcast is still "
                    "cache-resident; the ratio grows with Q and D.")
    return " ".join(text)


def em_lines(sec: dict) -> list[str]:
    """The EM-step section: times, ratios and the profile of where the extra time goes."""
    t = sec["times"]
    lines = [f"Tiny profile on {sec['device']}: B = {sec['batch_size']} sentences, Q = {sec['num_candidates']} "
             f"candidates, D = {sec['dim']}, N = {sec['num_ranks']}; median of {sec['repeats']} interleaved steps "
             f"on one fixed batch.", "",
             "| Step | median | / InfoNCE step |", "|---|---|---|"]
    base = t["infonce"]["median_s"]
    for name, label in (("infonce", "InfoNCE step (MoCo: same encoder, batch, candidates, queue)"),
                        ("em", "EM step, training step (no diagnostics)"),
                        ("em_logged", "EM step on a logging step (diagnostics + history record)")):
        if name in t:
            lines.append(f"| {label} | {_ms(t[name]['median_s'])} | {t[name]['median_s'] / base:.3f}x |")
    if "amortised_ratio" in sec:
        lines.append(f"| EM step averaged over a run (1 logging step in {sec['log_every']}) | – | "
                     f"{sec['amortised_ratio']:.3f}x |")
    lines += ["", f"EM throughput: {sec['steps_per_s']:.2f} steps/s, {sec['tokens_per_s']:,.0f} tokens/s "
              f"({sec['tokens_per_batch']:,} tokens per batch), {sec['model_tflops_per_s']:.3g} model TFLOP/s"
              + (f", model FLOPs utilisation {sec['mfu']:.1%} of {sec['peak_tflops']:g} TFLOP/s ({sec['gpu']})"
                 if sec.get("mfu") else "") + "."]
    check = sec.get("check")
    if check:
        lines += ["", f"Same candidates, same loss: the InfoNCE step's loss ({check['info_nce']:.6f}) equals ranking "
                  f"InfoNCE with two ranks on the same similarities ({check['ranking_info_nce_two_ranks']:.6f}; "
                  f"difference {check['max_abs_diff']:.1e}, its +1e-7 term)."]
    prof = sec.get("profile")
    if prof:
        lines += ["", f"Where the extra time goes ({prof['tool']}, {prof['steps']} steps of each, ms per step; "
                  "cumulative times, so nested entries overlap; extra = EM - InfoNCE):", "",
                  "| Function | EM step | InfoNCE step | extra |", "|---|---|---|---|"]
        for row in prof["rows"]:
            lines.append(f"| `{row['function']}` | {row['em_ms']:.2f} | {row['infonce_ms']:.2f} | "
                         f"{row['em_ms'] - row['infonce_ms']:+.2f} |")
    lines += ["", *em_analysis(sec)]
    return lines


def em_analysis(sec: dict) -> list[str]:
    """Why the EM step costs what it does, from the profile; what would fix a missed target."""
    t, prof = sec["times"], sec.get("profile")
    ratio = t["em"]["median_s"] / t["infonce"]["median_s"]
    extra_ms = (t["em"]["median_s"] - t["infonce"]["median_s"]) * 1e3
    out = [f"*Analysis (generated from the numbers above).* One EM step costs {ratio:.3f}x an InfoNCE step "
           f"({extra_ms:+.2f} ms)."]
    if prof and prof["rows"]:
        em_only = [r for r in prof["rows"] if r.get("em_only")]
        top = sorted(em_only, key=lambda r: -(r["em_ms"] - r["infonce_ms"]))[:4]
        if top:
            out[0] += (" The EM-only work measured in the profile: " + ", ".join(
                f"`{r['function']}` {r['em_ms']:.2f} ms" for r in top) + ".")
        enc = next((r for r in prof["rows"] if r["function"].endswith("run_backward")), None)
        if enc:
            out[0] += (f" The backward pass takes {enc['em_ms']:.2f} ms in the EM step and {enc['infonce_ms']:.2f} "
                       "ms in the InfoNCE step (the GMM and the ranking loss add to its graph).")
    if t.get("em_logged"):
        diag = (t["em_logged"]["median_s"] - t["em"]["median_s"]) * 1e3
        cost = (f"cost {diag:.2f} ms" if diag > 0 else f"cost nothing measurable here ({diag:+.2f} ms, within the "
                "noise)")
        out.append(f"The pseudo-label diagnostics and the history record {cost}; the trainer computes them only on "
                   f"the steps it writes to the history (every {sec['log_every']} steps), never on the others.")
    fig = next((f for f in sec.get("figures", []) if f["name"].startswith("EM step / InfoNCE step")), None)
    if fig and fig.get("met") is False:
        out.append("")
        out.append(f"*Missed here:* the EM step is {ratio:.3f}x the InfoNCE step (target {fig['target']}). On the tiny "
                   "profile the encoder is so small (2 layers, H = 128) that the fixed cost of the EM-only work "
                   "(GMM forward/backward over B x Q x N, N - 1 ranking-loss terms over (B, Q), label and rank-mean "
                   "bookkeeping: many small tensor operations, each with a fixed dispatch cost) is a large share of "
                   "the step; with a real encoder the same work is a small share (see the GPU section). "
                   "What would fix it on the tiny profile: fuse the N - 1 ranking terms into one masked "
                   "log-sum-exp over a (N - 1, B, Q) stack, and drop the per-step host synchronisations "
                   "(`float(loss)`, `bool(mask.any())`) that stop the CPU from running ahead.")
    return out


def encode_lines(sec: dict) -> list[str]:
    """The encode() vs sentence-transformers section."""
    if "skipped" in sec:
        return [f"Not run: {sec['skipped']}"]
    t = sec["times"]
    lines = [f"{sec['num_sentences']:,} sentences of `emmax_core.load_corpus()`, batch size {sec['batch_size']}, "
             f"tiny-profile encoder (random init) saved with `save_pretrained` and loaded by sentence-transformers "
             f"as {sec['st_modules']}; median of {sec['repeats']} interleaved runs.", "",
             "| Encoder | median | sentences/s |", "|---|---|---|"]
    for name, label in (("emmax", "`SentenceEncoder.encode`"), ("st", "`SentenceTransformer.encode`")):
        lines.append(f"| {label} | {_ms(t[name]['median_s'])} | {sec['num_sentences'] / t[name]['median_s']:,.0f} |")
    lines += ["", f"Ratio (ours / sentence-transformers, sentences/s): **{sec['speed_ratio']:.3f}x**; outputs agree "
              f"to {sec['max_abs_diff']:.1e} (max abs difference, unit-norm embeddings)."]
    b = sec.get("breakdown")
    if b:
        lines += ["", "Where `encode` spends its time (one pass of each part, timed apart): " + ", ".join(
            f"{k.removesuffix('_s')} {_ms(v)}" for k, v in b.items() if k.endswith("_s")) + "."]
        if "padded_tokens" in b:
            lines += ["", f"*Analysis (generated from the numbers above).* The forward passes dominate, and their "
                      f"cost is the (batch x longest) token grid: {b['tokens']:,} real tokens fill a grid of "
                      f"{b['padded_tokens']:,} when batches are sorted by token count (what `encode` does) and "
                      f"{b['padded_tokens_by_characters']:,} when sorted by characters (what sentence-transformers "
                      f"does), {b['padded_tokens_by_characters'] / b['padded_tokens']:.2f}x more: a byte-level "
                      "BPE gives some scripts several times more tokens per character than others."]
    fig = next((f for f in sec.get("figures", []) if "sentences/s" in f["name"]), None)
    if fig and fig.get("met") is False:
        lines += ["", f"*Missed here:* `encode` runs at {sec['speed_ratio']:.3f}x sentence-transformers' speed "
                  f"(target {fig['target']}); the breakdown above shows which part to attack."]
    return lines


def book_lines(sec: dict) -> list[str]:
    """The book build's execution times, cold and warm."""
    lines = []
    names = {"cold": "Cold (empty model cache)", "warm": "Warm (model cache filled by an earlier build)",
             "unknown": "A build whose model-cache state was not recorded"}
    for label, run in sec.get("runs", {}).items():
        lines += [f"**{names.get(label, label)}** ({run['date']}, `{run['build_command']}`; read by `{run['command']}` from "
                  f"{run['source']}): total notebook execution **{run['total_s']:,.1f} s** over "
                  f"{len(run['chapters'])} chapters" + (f", whole build {run['build_wall_s']:,.0f} s" if
                                                         run.get("build_wall_s") else "") + ".", "",
                  "| Chapter | seconds | succeeded |", "|---|---|---|"]
        for ch in run["chapters"]:
            lines.append(f"| {ch['docname']} | {ch['runtime_s']:.1f} | {ch['succeeded']} |")
        lines += ["", book_analysis({"load_average": sec.get("load_average_1m"), **run}), ""]
    return lines


def book_analysis(run: dict) -> str:
    """Where a build's time goes, generated from its chapter times and load average."""
    top = sorted(run["chapters"], key=lambda ch: -ch["runtime_s"])[:2]
    share = sum(ch["runtime_s"] for ch in top) / max(run["total_s"], 1e-9)
    load = run.get("load_average")
    text = (f"*Analysis (generated from the numbers above).* {' and '.join(ch['docname'] for ch in top)} take "
            f"{share:.0%} of the execution: they train the warm-up and the EM runs that the later chapters load "
            "from the run cache, so a warm build skips that time.")
    if load is not None:
        text += (f" Load average when the build ended: {load:.1f} on {os.cpu_count()} cores (above the core "
                 "count, other work shared them and the times are longer than on idle cores).")
    return text


def experiment_lines(sec: dict) -> list[str]:
    """``make results`` from an empty cache: wall time, the CPU-time bound, where the time goes."""
    c = sec["cost"]
    bound = c["cpu_seconds"] / c["workers"]
    parts = sorted(c["parts"].items(), key=lambda kv: -(kv[1]["train_seconds"] + kv[1]["eval_seconds"]))
    train = sum(p["train_seconds"] for p in c["parts"].values())
    total = train + sum(p["eval_seconds"] for p in c["parts"].values())
    text = (f"Measured: {c['wall_seconds'] / 60:.1f} min wall ({'cold' if c['cold'] else 'partly cached'}, "
            f"{c['workers']} workers on {c['cpus']} cores, load average {sec.get('load_average_1m', float('nan')):.1f} "
            f"when this section was written); its jobs used {c['cpu_seconds'] / 60:.1f} min of CPU (one thread "
            f"each), so on idle cores the same run takes at least {bound / 60:.1f} min. Training is {train / total:.0%} "
            f"of the job time; the largest parts are " + ", ".join(
                f"`{run}` ({(p['train_seconds'] + p['eval_seconds']) / total:.0%})" for run, p in parts[:3]) + ".")
    if c["wall_seconds"] > bound * 1.2:
        text += (f" The wall time is {c['wall_seconds'] / bound:.2f}x the CPU bound: other work shared the cores "
                 "(see results/README.md, \"What it cost\"); measure again on idle cores to check the target.")
    return ["*Analysis (generated from the numbers above).* " + text, ""]


SECTIONS = {"gmm": ("GMM E-step: naive broadcast vs the matmul form", gmm_lines),
            "em_step": ("One EM step vs one InfoNCE step", em_lines),
            "encode": ("`encode` vs sentence-transformers", encode_lines),
            "book": ("The book: notebook execution times", book_lines),
            "experiment": ("The central experiment: `make results` from an empty cache", experiment_lines),
            "gmm_cuda": ("GPU: GMM E-step", gmm_lines),
            "em_step_cuda": ("GPU: EM step with an XLM-R-base-sized encoder", em_lines)}


def write_markdown(doc: dict, path: Path) -> None:
    """Write :func:`render` of the results document into ``path``."""
    path.write_text(render(doc))


def render(doc: dict) -> str:
    """The whole results document as Markdown."""
    m, v = doc.get("machine", {}), doc.get("versions", {})
    lines = ["# Benchmarks", "",
             "Generated by `benchmarks/report.py` from `benchmarks/results.json` (written by `make bench`; the book's "
             "times by `make bench-book`). Every figure is a ratio of measurements taken side by side in the same "
             "run; targets are recorded as met or missed, never asserted by the tests (tests/test_bench.py runs "
             "each benchmark at tiny sizes).", "",
             f"Machine: {m.get('cpu', '?')}, {m.get('logical_cores', '?')} logical cores, "
             f"{m.get('memory_gb', '?')} GB" + (f", GPU {m['gpu']}" if m.get("gpu") else ", no GPU")
             + " (each section states its torch threads and the machine's load average when it ended). Versions: "
             + ", ".join(f"{k} {val}" for k, val in v.items() if val) + f". Last update: {doc.get('updated', '?')}.",
             "", "## Figures", "", *figures_table(doc)]
    for name, sec in doc.get("sections", {}).items():
        title, render_section = SECTIONS.get(name, (name, lambda s: []))
        lines += ["", f"## {title}", "", f"Command: `{sec['command']}` ({sec['date']}"
                  + (f", {sec['wall_s']:,.0f} s" if "wall_s" in sec else "")
                  + (f", {sec['threads']} torch thread{'s' if sec['threads'] > 1 else ''}" if "threads" in sec else "")
                  + (f", load average {sec['load_average_1m']:.1f} on {sec['machine']['logical_cores']} cores"
                     if "load_average_1m" in sec and "threads" in sec else "") + ")."
                  + (" Smoke mode (tiny sizes): these numbers are not benchmarks." if sec.get("smoke") else ""), ""]
        if "status" in sec and name not in ("book",):
            lines.append(sec["status"] + ".")
            continue
        lines += render_section(sec)
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> None:
    """Regenerate RESULTS.md next to the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    write_markdown(json.loads(args.results.read_text()), args.results.with_name("RESULTS.md"))


if __name__ == "__main__":
    sys.exit(main())
