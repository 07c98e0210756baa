"""The central experiment: does EM over unaligned text help NON-PARALLEL languages?

Languages are split into PARALLEL (parallel pairs in the warm-up), and groups A and B that take turns as
NON-PARALLEL (unaligned sentences in the EM stage) and UNSEEN (never trained on) in two folds, so every
language is measured in both roles from the same warm-up: a paired control. Every run starts from one
warm-up per seed and trains for the same number of steps; the headline of a run is

    (delta NON-PARALLEL - delta UNSEEN), deltas against the warm-up, averaged over folds and sources,

with its mean and spread (standard deviation) over seeds. Scores are xx->English acc@1 on held-out units
(leak-free: no EM pool contains them) and, transductively, on units the EM pools contained.

``python -m emmax_core.experiment --output-dir results`` (``make results``) trains what is missing (models
cached by :mod:`emmax_core.zoo`, metrics cached per model in ``results/cache``), then writes
``results/README.md`` with tables and diagnostics plots; ``make results`` adds ``--results-json
emmax_core/data/results/results.json``, the package data that :func:`emmax_core.results.load` reads.

Taught in: notebooks/07_evaluation.ipynb and notebooks/09_ablations.ipynb.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

#: Every run of the experiment: name -> (description, config overrides on the tiny preset, paper-faithful?).
#: Runs whose third field is False are named deviations from the paper, reported beside it.
RUNS: dict[str, tuple[str, dict, bool]] = {
    "bag_of_subwords": ("bag of subwords (one-hot subword counts, no training)", {}, True),
    "warmup": ("warm-up only (stage 1 InfoNCE on parallel pairs)", {}, True),
    "infonce": ("plain InfoNCE continued on parallel pairs", {}, True),
    "ctl": ("MoCo control: same EM batches, every non-partner rank 0", {"ranks": {"labeller": "ctl"}}, True),
    "em": ("EMMA-X EM as specified (GMM pseudo-labels)", {}, True),
    "oracle": ("ORACLE: true translations labelled top rank", {"ranks": {"labeller": "oracle"}}, True),
    "oracle_nn": ("ORACLE top-1: top rank only where the nearest cross-language neighbour is a translation",
                  {"ranks": {"labeller": "oracle_nn"}}, True),
    "em_mnn": ("VARIANT (deviation): top rank only for GMM-gated mutual nearest neighbours",
               {"ranks": {"labeller": "gmm_mnn"}}, False),
    "em_topk": ("VARIANT (deviation): top rank for top-3 neighbours both modules rank high",
                {"ranks": {"labeller": "gmm_topk"}}, False),
    "em_curriculum": ("VARIANT (deviation): GMM labels, top rank capped to the 1..3 most similar per query",
                      {"ranks": {"labeller": "gmm_curriculum"}}, False),
    "em_n2": ("ablation: N = 2 ranks", {"ranks": {"num_ranks": 2}}, True),
    "em_n8": ("ablation: N = 8 ranks", {"ranks": {"num_ranks": 8}}, True),
    "em_fc": ("ablation: fully-connected rank classifier instead of the GMM", {"ranks": {"classifier": "fc"}}, True),
    "em_no_mono": ("ablation: EM without NON-PARALLEL rows", {"train": {"em_mono_per_batch": 0}}, True),
}
EM_LIKE = ("ctl", "em", "oracle", "oracle_nn", "em_mnn", "em_topk", "em_curriculum", "em_n2", "em_n8", "em_fc",
           "em_no_mono")
EVAL_VERSION = 1

#: Lever (a), a better backbone: name -> (description, overrides of the warm-up only, paper-faithful?).
#: EM-like runs on a backbone use the tiny preset's EM settings (unless BACKBONE_EM says otherwise); they are
#: reported as ``run@backbone`` with deltas against that backbone's own warm-up.
BACKBONES: dict[str, tuple[str, dict, bool]] = {
    "tiny": ("tiny XLM-R, 400 steps of xx-English InfoNCE (the default warm-up)", {}, True),
    "multiway": ("VARIANT (deviation): xx-yy pairs of any two PARALLEL languages (multi-way units)",
                 {"data": {"pairs": "multiway"}}, False),
    "mlm": ("VARIANT (deviation): InfoNCE + MLM on every language's text (one sentence per pair, 400 steps)",
            {"encoder": {"mlm": True}, "train": {"mlm_weight": 1.0}, "data": {"mlm_text": "all"}}, False),
    # English WordPiece: only Latin-script languages are meaningful (emmax_core.pretrained); ~13x slower.
    "minilm": ("VARIANT (deviation): pretrained English MiniLM-L6 from PyPI, 100 steps of 16 pairs at lr 3e-5; "
               "a Latin-script track", {"encoder": "pretrained:minilm",
                                        "train": {"init_steps": 100, "init_pairs_per_batch": 16, "lr": 3e-5,
                                                  "warmup_steps": 10}}, False),
}
#: EM settings of a backbone whose EM cannot use the tiny preset's (a pretrained model wants a small lr).
BACKBONE_EM: dict[str, dict] = {
    "minilm": {"train": {"lr": 2e-5, "em_steps": 60, "em_pairs_per_batch": 8, "em_mono_per_batch": 16},
               "ranks": {"queue_size": 256}},
}


def _resolve(overrides: dict) -> dict:
    """Expand symbolic encoders (``"pretrained:minilm"``) into their config, found on this machine."""
    if overrides.get("encoder") == "pretrained:minilm":
        from .pretrained import minilm_config

        return {**overrides, "encoder": minilm_config(max_length=64).to_dict()}
    return overrides


def split_label(label: str) -> tuple[str, str]:
    """``"em@multiway"`` -> ``("em", "multiway")``; a plain run name is on the ``"tiny"`` backbone."""
    run, _, backbone = label.partition("@")
    return run, backbone or "tiny"


def run_label(run: str, backbone: str = "tiny") -> str:
    """The name a run is reported under: ``run`` on the default backbone, else ``run@backbone``."""
    return run if backbone == "tiny" else f"{run}@{backbone}"


def describe(label: str) -> tuple[str, bool]:
    """(description, paper-faithful?) of a reported run label."""
    run, backbone = split_label(label)
    text, faithful = RUNS[run][0], RUNS[run][2]
    if backbone != "tiny":
        text, faithful = f"{text}; backbone `{backbone}`: {BACKBONES[backbone][0]}", False
    return text, faithful


@dataclass(frozen=True)
class ExperimentConfig:
    """Which runs, seeds and folds; evaluation sample sizes; parallel workers.

    Ablations run on ``ablation_folds`` only, to keep ``make results`` near its CPU budget (it is over: ~2 h).
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    folds: tuple[str, ...] = ("A", "B")
    # em_fc runs on both folds: it was the one ablation ahead of EM on fold A, so it gets the fold swap
    main_runs: tuple[str, ...] = ("ctl", "em", "oracle", "oracle_nn", "em_mnn", "em_topk", "em_curriculum", "em_fc")
    ablations: tuple[str, ...] = ("em_n2", "em_n8", "em_no_mono")
    ablation_folds: tuple[str, ...] = ("A",)
    backbones: tuple[str, ...] = ("multiway", "mlm", "minilm")  # lever (a): warm-up variants besides "tiny"
    backbone_runs: tuple[str, ...] = ("em", "oracle")  # EM-like runs repeated on each backbone
    # Backbones measured by their warm-up and neighbourhood probe only: an EM step of MiniLM takes ~5 s on one
    # CPU thread, so its 12 EM runs (3 seeds x 2 folds x em/oracle) would add ~40 min on 2 cores; use a GPU.
    probe_only: tuple[str, ...] = ("minilm",)
    catalog_units: int = 80  # held-out / pool units sampled per catalog scope for evaluation
    workers: int = 2
    quick: bool = False  # tiny step counts, for tests
    profile: str = "tiny"  # "colab": the same experiment with xlm-roberta-base on a GPU (the paper's setting)
    overrides: dict = field(default_factory=dict)


def base_config(seed: int, fold: str, exp: ExperimentConfig, extra: dict | None = None):
    """The profile's preset with the run's seed, fold and overrides (and test-sized steps when ``quick``)."""
    from .config import preset

    cfg = preset(exp.profile).replace(train={"seed": seed}, data={"fold": fold})
    if exp.quick:
        cfg = cfg.replace(train={"init_steps": 4, "gmm_steps": 3, "em_steps": 4, "warmup_steps": 1,
                                 "em_warmup_steps": 1, "checkpoint_every": 0, "log_every": 1})
    for section_overrides in (exp.overrides, extra or {}):
        if section_overrides:
            cfg = cfg.replace(**_resolve(section_overrides))
    return cfg


def eval_rows(kind: str, catalog_units: int, seed: int = 7):
    """Evaluation rows (``source`` relabelled ``udhr`` / ``sphinx`` / ``other``) of every experiment language.

    ``kind="leak_free"``: held-out units only. ``kind="transductive"``: units of the EM pools (UDHR + Sphinx
    training units), whose NON-PARALLEL sentences the EM stage saw unaligned.
    """
    from . import corpus

    split = corpus.default_language_split()
    langs = set(split["parallel"]) | set(split["group_a"]) | set(split["group_b"]) | {"eng"}
    df = corpus.load_corpus().to_pandas()
    df = df[df.lang.isin(langs)].copy()
    held = corpus.held_out_units()
    df = df[df.unit_id.isin(held)] if kind == "leak_free" else df[~df.unit_id.isin(held)]
    df["source"] = np.where(df.source.isin(["udhr", "sphinx"]), df.source, "other")
    if kind == "transductive":
        df = df[df.source != "other"]
    rng = np.random.default_rng(seed)
    keep = []
    for src, g in df.groupby("source", sort=True):
        units = np.array(sorted(g.unit_id.unique()))
        if src != "udhr" and len(units) > catalog_units:
            units = rng.choice(units, size=catalog_units, replace=False)
        keep.append(g[g.unit_id.isin(set(units))])
    import pandas as pd

    return pd.concat(keep).sort_values(["source", "unit_id", "lang"]).reset_index(drop=True)


def _groups(fold: str) -> dict[str, list[str]]:
    from . import corpus

    s = corpus.default_language_split()
    np_, uns = (s["group_a"], s["group_b"]) if fold == "A" else (s["group_b"], s["group_a"])
    return {"PAR": s["parallel"], "NP": np_, "UNS": uns}


def _evaluate(model, exp: ExperimentConfig, probe: bool = False) -> tuple[dict, dict]:
    """Retrieval scores on both kinds of rows; with ``probe``, the neighbourhood probe of groups A and B.

    The probe's pool is the transductive rows (EM-pool units of UDHR + Sphinx): queries are groups A and B
    (NON-PARALLEL in one fold each, never in a warm-up pair), candidates every language of the same source,
    as in the EM candidate pool. Each row set is encoded once.
    """
    from . import corpus
    from .evaluation import NeighbourhoodEvaluator, encode, evaluate_bitext_by_language

    out, neighbourhood = {}, {}
    for kind in ("leak_free", "transductive"):
        rows = eval_rows(kind, exp.catalog_units)
        emb = encode(model, list(rows.text), 128)
        m = evaluate_bitext_by_language(emb, rows, pivot="eng")
        out[kind] = {k: v for k, v in m.items() if k.startswith("source=") and k.endswith("/src2trg_accuracy")}
        if probe and kind == "transductive":
            split = corpus.default_language_split()
            neighbourhood = NeighbourhoodEvaluator(rows, split["group_a"] + split["group_b"], ks=(1, 10)).score(emb)
    return out, neighbourhood


def _diagnostics(run_dir: Path) -> dict:
    """Means over the EM steps of the pseudo-label diagnostics (precision/recall of the top rank etc.)."""
    from .zoo import load_history

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

    from .encoder import SentenceEncoder
    from .zoo import run_key, train_or_load

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
    warm = train_or_load(warm_cfg, run_label("warmup", backbone).replace("@", "_"), "init-encoder",
                         show_progress_bar=False)
    diag = {}
    if name == "bag_of_subwords":
        from .evaluation import BagOfSubwordsEncoder
        from .tokenizer import get_tokenizer

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
    scores, neighbourhood = _evaluate(model, exp, probe=name == "warmup")
    result = {"run": label, "seed": seed, "fold": fold, "scores": scores, "diagnostics": diag}
    if name == "warmup":
        result["neighbourhood"] = neighbourhood
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, cache)
    return result


def jobs(exp: ExperimentConfig, cache_dir: Path) -> list[dict]:
    """Every (run, seed, fold) of the experiment; fold-independent runs are listed once per seed."""
    out = []
    for seed in exp.seeds:
        for name in ("bag_of_subwords", "warmup", "infonce"):
            out.append({"run": name, "seed": seed, "fold": "A"})
        for fold in exp.folds:
            out += [{"run": r, "seed": seed, "fold": fold} for r in exp.main_runs]
        for fold in exp.ablation_folds:
            out += [{"run": r, "seed": seed, "fold": fold} for r in exp.ablations]
        for b in exp.backbones:
            out.append({"run": "warmup", "seed": seed, "fold": "A", "backbone": b})
            if b not in exp.probe_only:
                out += [{"run": r, "seed": seed, "fold": f, "backbone": b}
                        for f in exp.folds for r in exp.backbone_runs]
    return [{**j, "exp": asdict(exp), "cache_dir": str(cache_dir)} for j in out]


def run_all(exp: ExperimentConfig, output_dir, results_json=None, before=None) -> dict:
    """Run every job (warm-ups first), aggregate, and write ``results.json`` + ``README.md``.

    ``results.json`` goes to ``results_json`` when given (``make results``: the package's
    ``emmax_core/data/results/results.json``, read by :func:`emmax_core.results.load`), else into ``output_dir``.
    """
    from .evaluation.report import aggregate, write_report

    out = Path(output_dir)
    todo = jobs(exp, out / "cache")
    warmups = [j for j in todo if j["run"] == "warmup"]
    threads = max(1, (os.cpu_count() or 2) // max(exp.workers, 1))  # a GPU run wants --workers 1
    if exp.workers <= 1:
        for j in warmups:
            run_job(j)
        results = [run_job(j) for j in todo]
    else:
        ctx = get_context("spawn")
        with ProcessPoolExecutor(exp.workers, mp_context=ctx) as pool:
            list(pool.map(run_job, [{**j, "threads": threads} for j in warmups]))
            results = list(pool.map(run_job, [{**j, "threads": threads} for j in todo]))
    summary = aggregate(results, exp)
    write_report(summary, out, results_json, before)
    return summary


def main(argv=None) -> int:
    """``python -m emmax_core.experiment --output-dir results [--seeds 0 1 2] [--workers 2] [--quick]``."""
    p = argparse.ArgumentParser(prog="python -m emmax_core.experiment", description=__doc__.split("\n")[0])
    p.add_argument("--output-dir", default="results", help="README.md, figures and the per-model cache")
    p.add_argument("--results-json", default=None,
                   help="where results.json goes (default: OUTPUT_DIR/results.json; `make results` writes the "
                        "package's emmax_core/data/results/results.json, read by emmax_core.results.load)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="test-sized runs (minutes, not meaningful numbers)")
    p.add_argument("--profile", default="tiny", choices=["tiny", "colab"],
                   help="colab: xlm-roberta-base on one GPU (use --workers 1)")
    p.add_argument("--backbones", nargs="*", default=None, choices=list(BACKBONES)[1:],
                   help="lever (a): warm-up variants besides the default (tiny profile: all; colab: none, "
                        "xlm-roberta-base is the pretrained backbone the paper assumes)")
    p.add_argument("--probe-only", nargs="*", default=list(ExperimentConfig.probe_only), choices=list(BACKBONES)[1:],
                   help="backbones measured by warm-up + neighbourhood probe only (no EM runs); "
                        "pass nothing to run EM on every backbone")
    p.add_argument("--compare-with", default="before_rank_mean_fix", metavar="NAME",
                   help="snapshot of emmax_core.results to compare with in README.md's 'What changed' ('' = none)")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite README.md and the figures from the existing results.json, without running")
    args = p.parse_args(argv)
    before = None
    if args.compare_with:
        from .results import load

        before = (args.compare_with, load(args.compare_with))
    if args.report_only:
        from .evaluation.report import write_report

        source = Path(args.results_json or Path(args.output_dir) / "results.json")
        write_report(json.loads(source.read_text()), Path(args.output_dir), args.results_json, before)
        return 0
    exp = ExperimentConfig(seeds=tuple(args.seeds), workers=args.workers, quick=args.quick, profile=args.profile,
                           backbones=tuple(args.backbones if args.backbones is not None else
                                           ExperimentConfig.backbones if args.profile == "tiny" else ()),
                           probe_only=tuple(args.probe_only))
    summary = run_all(exp, args.output_dir, args.results_json, before)
    print(json.dumps(summary["headline"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
