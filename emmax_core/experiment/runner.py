"""The experiment's runner: train (or load) every run of a suite, evaluate it, cache the scores, aggregate.

Every run starts from one warm-up per seed and trains for the same number of steps (book:
:ref:`experiment-runs`); each run's scores are cached per model in ``OUTPUT_DIR/cache`` and its models by
:mod:`emmax_core.run_cache`, so a second ``make results`` only re-aggregates.

Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from .registry import BACKBONE_EM, BACKBONES, EM_LIKE, EVAL_VERSION, RUNS, ExperimentConfig, run_label


def _resolve(overrides: dict) -> dict:
    """Expand symbolic encoders (``"pretrained:minilm"``) into their config, found on this machine."""
    if overrides.get("encoder") == "pretrained:minilm":
        from ..pretrained import minilm_config

        return {**overrides, "encoder": minilm_config(max_length=64).to_dict()}
    return overrides


def base_config(seed: int, fold: str, exp: ExperimentConfig, extra: dict | None = None):
    """The profile's preset with the run's seed, fold and overrides (and test-sized steps when ``quick``)."""
    from ..config import preset

    cfg = preset(exp.profile).replace(train={"seed": seed}, data={"fold": fold})
    for section_overrides in (exp.overrides, extra or {}):
        if section_overrides:
            cfg = cfg.replace(**_resolve(section_overrides))
    if exp.quick:  # last, so that a run's own step counts (a ladder rung's warm-up) shrink too
        cfg = cfg.replace(train={"init_steps": 4, "gmm_steps": 3, "em_steps": 4, "warmup_steps": 1,
                                 "em_warmup_steps": 1, "checkpoint_every": 0, "log_every": 1})
    return cfg


def _evaluate(model, exp: ExperimentConfig, probe: bool = False) -> tuple[dict, dict]:
    """Retrieval scores on both kinds of rows; with ``probe``, the neighbourhood probe of groups A and B.

    The probe's pool is the transductive rows (EM-pool units of UDHR + Sphinx): queries are groups A and B
    (NON-PARALLEL in one fold each, never in a warm-up pair), candidates every language of the same source,
    as in the EM candidate pool. Each row set is encoded once.
    """
    from ..corpus import default_language_split
    from ..evaluation import NeighbourhoodEvaluator, encode, evaluate_bitext_by_language
    from ..evaluation.suite import eval_rows

    out, neighbourhood = {}, {}
    for kind in ("leak_free", "transductive"):
        rows = eval_rows(kind, exp.catalog_units)
        emb = encode(model, list(rows.text), 128)
        m = evaluate_bitext_by_language(emb, rows, pivot="eng")
        out[kind] = {k: v for k, v in m.items() if k.startswith("source=") and k.endswith("/src2trg_accuracy")}
        if probe and kind == "transductive":
            split = default_language_split()
            neighbourhood = NeighbourhoodEvaluator(rows, split["group_a"] + split["group_b"], ks=(1, 10)).score(emb)
    return out, neighbourhood


def _diagnostics(run_dir: Path) -> dict:
    """Means over the EM steps of the pseudo-label diagnostics (precision/recall of the top rank etc.)."""
    from ..run_cache import load_history

    em = [r for r in load_history(run_dir) if r["stage"] == "em"]
    top = max((len(r["gmm_counts"]) for r in em), default=4) - 1
    keys = {"top_precision": f"precision_r{top}", "top_recall": f"recall_r{top}", "top_share": "top_share",
            "mono_top_labels": "mono_top_labels", "mono_top_precision": "mono_top_precision",
            "mono_top_recall": "mono_top_recall", "mono_nn_precision": "mono_nn_precision",
            "agreement": "agreement", "partner_acc": "partner_acc", "mono_reachable": "mono_reachable"}
    out = {}
    for name, key in keys.items():
        vals = [r[key] for r in em if key in r and r[key] == r[key]]
        out[name] = float(np.mean(vals)) if vals else float("nan")
    # What a labeller that picks pairs at random would score: true translations / all non-self pairs.
    chance = [r["true_pairs"] / sum(r["gmm_counts"]) for r in em if "true_pairs" in r and sum(r["gmm_counts"])]
    out["chance_precision"] = float(np.mean(chance)) if chance else float("nan")
    out["final_rank_means"] = em[-1]["rank_means"] if em else []
    return out


def run_job(job: dict) -> dict:
    """Train (or load) one run and evaluate it; results are cached per model in ``cache_dir``."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from ..encoder import SentenceEncoder
    from ..run_cache import run_key, run_timing, train_or_load

    torch.set_num_threads(job.get("threads", 1))
    exp = ExperimentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in job["exp"].items()})
    name, seed, fold, backbone = job["run"], job["seed"], job["fold"], job.get("backbone", "tiny")
    label = run_label(name, backbone)
    cfg = base_config(seed, fold, exp, RUNS[name][1])
    if backbone in BACKBONE_EM:
        cfg = cfg.replace(**BACKBONE_EM[backbone])
    stages = ["init-gmm", "em"] if name in EM_LIKE else ["init-encoder"]
    warm_cfg = base_config(seed, "A", exp, BACKBONES[backbone][1])
    key = run_key(cfg if name in EM_LIKE or backbone == "tiny" else warm_cfg, stages,
                  init_from=None if backbone == "tiny" else f"backbone:{backbone}") + f"-e{EVAL_VERSION}"
    cache = Path(job["cache_dir"]) / f"{label}-s{seed}-{fold}-{key}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    started, cpu = time.time(), time.process_time()
    warm = train_or_load(warm_cfg, run_label("warmup", backbone).replace("@", "_"), "init-encoder",
                         show_progress_bar=False)
    diag = {}
    if name == "bag_of_subwords":
        from ..evaluation import BagOfSubwordsEncoder
        from ..tokenizer import get_tokenizer

        model = BagOfSubwordsEncoder(get_tokenizer(cfg.encoder.tokenizer))  # the profile's own tokenizer
    elif name == "warmup":
        model = SentenceEncoder.from_pretrained(warm / "encoder-init")
    elif name == "infonce":
        cont = cfg.replace(train={"init_steps": cfg.train.em_steps, "warmup_steps": cfg.train.em_warmup_steps})
        run = train_or_load(cont, "infonce", "init-encoder", init_from=warm, show_progress_bar=False)
        model = SentenceEncoder.from_pretrained(run / "encoder-init")
    else:
        run = train_or_load(cfg, name, stages, init_from=warm, show_progress_bar=False)
        model, diag = SentenceEncoder.from_pretrained(run / "final"), _diagnostics(run)
    trained = time.time()
    scores, neighbourhood = _evaluate(model, exp, probe=name == "warmup")
    # what this job cost when it was computed (kept in the cache, so a re-aggregation still reports it)
    cost = {"started": started, "train_seconds": trained - started, "eval_seconds": time.time() - trained,
            "cpu_seconds": time.process_time() - cpu,
            "invocation": job.get("invocation"), "workers": exp.workers, "cpus": os.cpu_count()}
    result = {"run": label, "seed": seed, "fold": fold, "scores": scores, "diagnostics": diag, "cost": cost}
    if name == "warmup":  # with what training the warm-up cost, when the run cache recorded it
        result["neighbourhood"], result["warmup_timing"] = neighbourhood, run_timing(warm)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, cache)
    return result


def jobs(exp: ExperimentConfig, cache_dir: Path) -> list[dict]:
    """Every (run, seed, fold) of the experiment's suite; fold-independent runs are listed once per seed."""
    out = []
    for seed in exp.seeds:
        out += [{"run": name, "seed": seed, "fold": "A"} for name in ("bag_of_subwords", "warmup", "infonce")
                if exp.suite not in ("levers", "sweep") or name == "warmup"]
        for fold in exp.folds:
            out += [{"run": r, "seed": seed, "fold": fold} for r in exp.runs_on(fold)]
        for b in exp.lever_backbones if exp.suite != "sweep" or seed in exp.ladder_seeds else ():
            out.append({"run": "warmup", "seed": seed, "fold": "A", "backbone": b})
            if b not in exp.probe_only:
                out += [{"run": r, "seed": seed, "fold": f, "backbone": b}
                        for f in exp.folds for r in exp.backbone_runs]
    return [{**j, "exp": asdict(exp), "cache_dir": str(cache_dir)} for j in out]


def run_all(exp: ExperimentConfig, output_dir, results_json=None, before=None, cache_dir=None) -> dict:
    """Run every job of the suite, aggregate, and write ``results.json`` + ``README.md``.

    ``results.json`` goes to ``results_json`` when given (``make results``: the package's
    ``emmax_core/data/results/results.json``, read by :func:`emmax_core.results.load`), else into ``output_dir``.
    Scores are cached per model in ``cache_dir`` (default ``output_dir/cache``; ``make results-levers`` shares
    ``make results``'s). Each seed's warm-up is listed before the runs that start from it, so with several
    workers the warm-ups train first and the EM runs follow without a barrier (a run whose warm-up is still
    training waits for it on the run cache's lock).
    """
    from .aggregate import aggregate
    from .report import write_report

    out = Path(output_dir)
    invocation = time.time()  # jobs computed by this call share it: the experiment's cost is read from them
    todo = [{**j, "invocation": invocation} for j in jobs(exp, Path(cache_dir) if cache_dir else out / "cache")]
    todo.sort(key=lambda j: j["run"] != "warmup")  # stable: warm-ups first, the rest in their order
    threads = max(1, (os.cpu_count() or 2) // max(exp.workers, 1))  # a GPU run wants --workers 1
    if exp.workers <= 1:
        results = [run_job(j) for j in todo]
    else:
        with ProcessPoolExecutor(exp.workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(run_job, [{**j, "threads": threads} for j in todo]))
    summary = aggregate(results, exp)
    write_report(summary, out, results_json, before)
    return summary
