"""Command line: ``python -m emmax_core.train --config configs/tiny.yaml --output-dir DIR``.

Runs the three EMMA-X stages (or one of them with ``--stage``) and writes ``DIR/encoder-init/``,
``DIR/final/``, ``DIR/history.json`` and the resumable ``DIR/state/``. The stages can run as separate
commands into the same ``DIR`` (each continues from the run's own state), or ``--stage init-gmm`` can start
from a trained encoder given with ``--init-from``. Works unchanged with several processes:
``torchrun --nproc_per_node 2 -m emmax_core.train ...`` (CPU processes use gloo) or
``accelerate launch --num_processes 2 -m emmax_core.train ...`` on GPUs.

Taught in: notebooks/05_em_iterations.ipynb and notebooks/10_scaling_up.ipynb.
"""

from __future__ import annotations

import argparse
import os
import sys

from .config import EMMAXConfig


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (see module docstring)."""
    p = argparse.ArgumentParser(prog="python -m emmax_core.train", description=__doc__.split("\n")[0])
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


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line (see module docstring)."""
    return build_parser().parse_args(argv)


def load_config(path: str, seed=None, overrides=()) -> EMMAXConfig:
    """Load a YAML config and apply ``--seed`` / ``--set section.key=value`` overrides."""
    import yaml

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


def main(argv=None) -> int:
    """Entry point; returns the process exit code (bad arguments exit with status 2 and a usage message)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()  # bad values are reported through it too (usage + exit status 2)
    args = parser.parse_args(argv)
    from pathlib import Path

    from .trainer import EMMAXTrainer

    def usage_error(message: str):
        parser.error(message)

    if not Path(args.config).is_file():
        usage_error(f"--config {args.config}: no such file; pass a YAML preset such as configs/tiny.yaml")
    if args.stop_after_steps is not None and args.stop_after_steps < 1:
        usage_error(f"--stop-after-steps {args.stop_after_steps}: use a positive number of optimizer steps")
    if args.init_from and not Path(args.init_from).exists():
        usage_error(f"--init-from {args.init_from}: no such folder; pass a run folder (with encoder-init/) "
                    "or a folder written by SentenceEncoder.save_pretrained")
    try:
        cfg = load_config(args.config, args.seed, args.set)
    except ValueError as err:
        usage_error(f"--config {args.config} / --set: {err}")
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


if __name__ == "__main__":
    sys.exit(main())
