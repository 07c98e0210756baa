"""Every command line of the package, in one place: what each option means and how bad values are reported.

- ``python -m emmax_core.train --config C --output-dir D``: the three EMMA-X stages (:func:`train_main`);
- ``python -m emmax_core.evaluate --model D ...``: the XRETE-mini suite (:func:`evaluate_main`);
- ``python -m emmax_core.experiment --output-dir results``: the central experiment (:func:`experiment_main`);
- ``python -m emmax_core.grading SUBMISSIONS``: grade student notebooks (:func:`grade_main`).

The modules named after the commands (``emmax_core/train.py``, ``emmax_core/evaluate.py``,
``emmax_core/experiment/__main__.py``, ``emmax_core/grading.py``) only call these functions. Each returns the
process exit code; a bad option value exits with status 2 and a usage message that names the option and the fix.

Training works unchanged with several processes: ``torchrun --nproc_per_node 2 -m emmax_core.train ...``
(CPU processes use gloo) or ``accelerate launch --num_processes 2 -m emmax_core.train ...`` on GPUs.

Taught in: notebooks/05_em_iterations.ipynb, notebooks/07_evaluation.ipynb and notebooks/10_scaling_up.ipynb.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def build_train_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m emmax_core.train``."""
    p = argparse.ArgumentParser(prog="python -m emmax_core.train",
                                description="Train EMMA-X: warm-up, GMM initialisation and EM (or one stage).")
    p.add_argument("--config", required=True, help="YAML preset, e.g. configs/tiny.yaml")
    p.add_argument("--output-dir", required=True, help="run directory")
    p.add_argument("--stage", default="all", choices=["all", "init-encoder", "init-gmm", "em"])
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/state")
    p.add_argument("--init-from", default=None, metavar="DIR",
                   help="start from this encoder: a run folder (its encoder-init/) or a save_pretrained folder")
    p.add_argument("--stop-after-steps", type=int, default=None, metavar="N",
                   help="stop with a checkpoint after N optimizer steps; continue later with --resume")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set ranks.labeller=oracle (YAML-parsed)")
    return p


def load_config(path: str, seed=None, overrides=()):
    """Load a YAML config and apply ``--seed`` / ``--set section.key=value`` overrides (an ``EMMAXConfig``)."""
    import yaml

    from .config import EMMAXConfig

    cfg = EMMAXConfig.from_yaml(path)
    nested: dict = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot:
            raise ValueError(f"--set {item!r}: use SECTION.KEY=VALUE, e.g. --set ranks.num_ranks=2")
        nested.setdefault(section, {})[field] = yaml.safe_load(value)
    if seed is not None:
        nested.setdefault("train", {})["seed"] = seed
    return cfg.replace(**nested) if nested else cfg


def train_main(argv=None) -> int:
    """``python -m emmax_core.train``: runs the stages and writes ``DIR/encoder-init/``, ``DIR/final/``,
    ``DIR/history.json`` and the resumable ``DIR/state/``. Stages can run as separate commands into one
    ``DIR`` (each continues from the run's own state), or ``--stage init-gmm`` can start from an encoder given
    with ``--init-from``."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_train_parser()  # bad values are reported through it too (usage + exit status 2)
    args = parser.parse_args(argv)
    from .trainer import EMMAXTrainer

    if not Path(args.config).is_file():
        parser.error(f"--config {args.config}: no such file; pass a YAML preset such as configs/tiny.yaml")
    if args.stop_after_steps is not None and args.stop_after_steps < 1:
        parser.error(f"--stop-after-steps {args.stop_after_steps}: use a positive number of optimizer steps")
    if args.init_from and not Path(args.init_from).exists():
        parser.error(f"--init-from {args.init_from}: no such folder; pass a run folder (with encoder-init/) "
                     "or a folder written by SentenceEncoder.save_pretrained")
    try:
        cfg = load_config(args.config, args.seed, args.set)
    except ValueError as err:
        parser.error(f"--config {args.config} / --set: {err}")
    encoder = None
    if args.init_from:
        from .encoder import SentenceEncoder

        src = Path(args.init_from)
        encoder = SentenceEncoder.from_pretrained(src / "encoder-init" if (src / "encoder-init").is_dir() else src)
    trainer = EMMAXTrainer(cfg, args.output_dir, encoder=encoder)
    trainer.train(args.stage, resume=args.resume, stop_after_steps=args.stop_after_steps)
    if trainer.accelerator.is_main_process:
        print(f"done: {args.output_dir}")
    return 0


def load_model(spec: str):
    """A model for ``spec``: ``bag-of-subwords``, a run folder (uses ``final/`` or ``encoder-init/``) or a model folder."""
    if spec == "bag-of-subwords":
        from .evaluation import BagOfSubwordsEncoder
        from .tokenizer import get_tokenizer

        return BagOfSubwordsEncoder(get_tokenizer("tiny"))
    from .encoder import SentenceEncoder

    path = Path(spec)
    for sub in ("final", "encoder-init"):
        if (path / sub).is_dir():
            return SentenceEncoder.from_pretrained(path / sub)
    try:
        return SentenceEncoder.from_pretrained(path)
    except FileNotFoundError as error:  # the cause (kept in the traceback) says what was searched
        raise FileNotFoundError(f"--model {spec!r} could not be loaded: pass a training run folder (holding final/ "
                                "or encoder-init/), a save_pretrained folder, a cached hub id or 'bag-of-subwords'"
                                ) from error


def evaluate_main(argv=None) -> int:
    """``python -m emmax_core.evaluate``: XRETE-mini (:func:`emmax_core.evaluation.suite.suite`) for ``--model``
    and each ``--baseline``, written as one JSON with per-model metrics and the differences to each baseline."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from .evaluation.suite import suite

    p = argparse.ArgumentParser(prog="python -m emmax_core.evaluate",
                                description="XRETE-mini on the shipped corpus's held-out units.")
    p.add_argument("--model", required=True)
    p.add_argument("--baseline", action="append", default=[])
    p.add_argument("--output", default="results.json")
    p.add_argument("--catalog-units", type=int, default=150)
    args = p.parse_args(argv)
    report = {spec: suite(load_model(spec), args.catalog_units) for spec in [args.model] + args.baseline}
    for base in args.baseline:
        report[f"{args.model} - {base}"] = {
            task: {k: report[args.model][task][k] - v for k, v in metrics.items() if isinstance(v, float)}
            for task, metrics in report[base].items()}
    Path(args.output).write_text(json.dumps(report, indent=1, default=float))
    head = {s: report[s]["retrieval"].get("src2trg_accuracy") for s in [args.model] + args.baseline}
    print(json.dumps({"src2trg_accuracy": head}, indent=1))
    return 0


def build_experiment_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m emmax_core.experiment``."""
    from .experiment.registry import BACKBONES, SUITES, ExperimentConfig

    p = argparse.ArgumentParser(prog="python -m emmax_core.experiment",
                                description="The central experiment: does EM over unaligned text help "
                                            "NON-PARALLEL languages?")
    p.add_argument("--output-dir", default="results", help="README.md and figures (and the score cache)")
    p.add_argument("--cache-dir", default=None, help="per-model score cache (default: OUTPUT_DIR/cache)")
    p.add_argument("--results-json", default=None,
                   help="where results.json goes (default: OUTPUT_DIR/results.json; `make results` writes the "
                        "package's emmax_core/data/results/results.json, read by emmax_core.results.load)")
    p.add_argument("--suite", default="headline", choices=SUITES,
                   help="headline (make results): controls, EM, ORACLEs, named variants; levers "
                        "(make results-levers): ablations and lever (a)'s backbones; all: both; sweep (make sweep): "
                        "EM with noisy-ORACLE labels over a precision x recall grid, and the warm-up ladder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="test-sized runs (minutes, not meaningful numbers)")
    p.add_argument("--profile", default="tiny", choices=["tiny", "colab"],
                   help="colab: xlm-roberta-base on one GPU (use --workers 1)")
    p.add_argument("--backbones", nargs="*", default=None, choices=list(BACKBONES)[1:],
                   help="lever (a), in the levers suite: warm-up variants besides the default (tiny profile: all; "
                        "colab: none, xlm-roberta-base is the pretrained backbone the paper assumes)")
    p.add_argument("--probe-only", nargs="*", default=list(ExperimentConfig.probe_only), choices=list(BACKBONES)[1:],
                   help="backbones measured by warm-up + neighbourhood probe only (no EM runs); "
                        "pass nothing to run EM on every backbone")
    p.add_argument("--ladder", nargs="*", default=None, choices=list(ExperimentConfig.ladder),
                   help="the sweep suite's warm-up rungs besides the default (tiny profile: all; colab: none)")
    p.add_argument("--ladder-seeds", type=int, nargs="+", default=list(ExperimentConfig.ladder_seeds),
                   help="seeds of the ladder's rungs (each rung trains one warm-up per seed)")
    p.add_argument("--compare-with", default="before_rank_mean_fix", metavar="NAME",
                   help="snapshot of emmax_core.results to compare with in README.md's 'What changed' ('' = none)")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite README.md and the figures from the existing results.json, without running")
    return p


def experiment_main(argv=None) -> int:
    """``python -m emmax_core.experiment``: trains what is missing, evaluates, writes README.md, figures and
    results.json (:func:`emmax_core.experiment.runner.run_all`)."""
    from .experiment.registry import ExperimentConfig
    from .experiment.report import write_report
    from .experiment.runner import run_all

    args = build_experiment_parser().parse_args(argv)
    before = None
    if args.compare_with:
        from .results import load

        before = (args.compare_with, load(args.compare_with))
    if args.report_only:
        source = Path(args.results_json or Path(args.output_dir) / "results.json")
        write_report(json.loads(source.read_text()), Path(args.output_dir), args.results_json, before)
        return 0
    default_backbones = ExperimentConfig.backbones if args.profile == "tiny" else ()
    default_ladder = ExperimentConfig.ladder if args.profile == "tiny" else ()
    exp = ExperimentConfig(seeds=tuple(args.seeds), workers=args.workers, quick=args.quick, profile=args.profile,
                           suite=args.suite, probe_only=tuple(args.probe_only),
                           backbones=tuple(default_backbones if args.backbones is None else args.backbones),
                           ladder=tuple(default_ladder if args.ladder is None else args.ladder),
                           ladder_seeds=tuple(args.ladder_seeds))
    summary = run_all(exp, args.output_dir, args.results_json, before, cache_dir=args.cache_dir)
    print(json.dumps(summary["headline"], indent=1))
    return 0


def grade_main(argv: list[str] | None = None) -> int:
    """``python -m emmax_core.grading SUBMISSIONS``: scores per notebook in ``SUBMISSIONS/grades.csv``
    (:func:`emmax_core.grading.grade_folder`; needs the optional ``grading`` extra, otter-grader)."""
    parser = argparse.ArgumentParser(prog="python -m emmax_core.grading",
                                     description="Grade submitted student notebooks with otter-grader.")
    parser.add_argument("submissions", type=Path, help="folder of submitted .ipynb files (searched recursively)")
    parser.add_argument("--output", type=Path, help="CSV of scores (default: SUBMISSIONS/grades.csv)")
    parser.add_argument("--export", type=Path, help="also keep the autograder zips in this folder")
    args = parser.parse_args(argv)
    try:
        import otter  # noqa: F401
    except ImportError:
        print("otter-grader is not installed: pip install 'emmax-core[grading]'", file=sys.stderr)
        return 2
    from .grading import grade_folder

    rows = grade_folder(args.submissions, args.output, args.export)
    for row in rows:
        print(f"{row['submission']}: {row['score']:g} / {row['possible']} ({row['chapter']})")
    print(f"{len(rows)} submissions graded: {args.output or args.submissions / 'grades.csv'}")
    return 0
