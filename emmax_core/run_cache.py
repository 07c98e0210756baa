"""The run cache: train-or-load every run the book and the experiment need, cached on disk by its configuration.

A run is identified by its config (and the run it starts from), hashed into a folder name under
``$EMMAX_CACHE/runs`` (default ``~/.cache/emmax_core/runs``). Asking for a run that exists loads it in
seconds; a missing or interrupted one is trained (or resumed from its ``state/``). So a reader who opens
chapter 5 first still gets the warm-up it needs, and later chapters reuse earlier chapters' models.

Taught in: notebooks/02_encoders_and_init.ipynb and notebooks/05_em_iterations.ipynb.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from . import __version__
from .saving import atomic_json


def cache_root() -> Path:
    """Folder of cached runs: ``$EMMAX_CACHE/runs`` or ``~/.cache/emmax_core/runs``."""
    base = os.environ.get("EMMAX_CACHE") or Path.home() / ".cache" / "emmax_core"
    return Path(base) / "runs"


_STAGE1_TRAIN = ("seed", "lr", "weight_decay", "warmup_steps", "init_steps", "init_pairs_per_batch",
                 "init_temperature", "mlm_weight", "mlm_probability", "mixed_precision",
                 "gradient_accumulation_steps")
_STAGE1_DATA = ("sources", "parallel_langs", "pivot", "leak_free", "udhr_batch_prob", "pairs", "mlm_text")
#: Fields added after runs were first cached: left out of the key while they hold these defaults, so
#: adding a backward-compatible option does not invalidate every cached run.
_ADDED_DEFAULTS = {("data", "pairs"): "pivot", ("data", "mlm_text"): "batch", ("ranks", "oracle_precision"): 1.0,
                   ("ranks", "oracle_recall"): 1.0}


#: Bump when a change to the trainer changes what a run trains, so cached runs of older code are not reused.
#: 2: unfilled queue slots are no candidates; batches and randomness are seeded by batch position.
#: 3: the label-smoothed cross-entropies go through torch's cross_entropy (same loss, other float rounding).
TRAINING_REVISION = 3


def run_key(config, stages, init_from=None) -> str:
    """Stable short hash of what determines a run's result.

    A warm-up (``init-encoder`` only) depends on the encoder, stage-1 training and parallel-data fields
    alone, so every EM variant and fold of a seed shares one warm-up.
    """
    view = config.to_dict()
    for (section, key), default in _ADDED_DEFAULTS.items():
        if view[section].get(key) == default:
            del view[section][key]
    if list(stages) == ["init-encoder"]:
        view = {"encoder": view["encoder"], "train": {k: view["train"][k] for k in _STAGE1_TRAIN},
                "data": {k: view["data"][k] for k in _STAGE1_DATA if k in view["data"]}}
    payload = json.dumps({"config": view, "stages": list(stages), "version": __version__,
                          "revision": TRAINING_REVISION,
                          "init_from": str(init_from) if init_from else None}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _done(run: Path, stages) -> bool:
    return (run / ("final" if "em" in stages else "encoder-init")).is_dir() and (run / "history.json").exists()


def train_or_load(config, name: str = "run", stages="all", init_from=None, cache_dir=None,
                  show_progress_bar=None) -> Path:
    """Return the folder of a finished run, training (or resuming) it first when needed.

    Args:
        config: the run's :class:`~emmax_core.config.EMMAXConfig`.
        name: readable prefix of the folder name (``"warmup"``, ``"em"``, ``"oracle"``, ...).
        stages: ``"all"``, ``"init-encoder"``, or a list such as ``["init-gmm", "em"]``.
        init_from: a run folder (or a ``save_pretrained`` folder) whose encoder starts this run; its
            ``encoder-init/`` is used when present. Required when stage 1 is skipped.
        cache_dir: overrides :func:`cache_root`.
        show_progress_bar: passed to the trainer.

    Returns:
        ``Path`` of the run folder: ``encoder-init/`` and/or ``final/``, ``history.json``, ``state/``.
    """
    from .trainer import STAGES

    todo = list(STAGES) if stages == "all" else [stages] if isinstance(stages, str) else list(stages)
    if todo[0] != "init-encoder" and init_from is None:
        raise ValueError(f"stages={todo} skip the encoder warm-up; pass init_from=<a warm-up run folder>.")
    run = Path(cache_dir or cache_root()) / f"{name}-{run_key(config, todo, init_from)}"
    if _done(run, todo):
        return run
    from filelock import FileLock

    run.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(run) + ".lock"):  # two processes asking for one run: one trains, the other waits
        if not _done(run, todo):
            started, cpu = time.time(), time.process_time()
            _train(config, run, todo, init_from, show_progress_bar)
            atomic_json(run / "timing.json", {"wall_seconds": time.time() - started, "threads": torch_threads(),
                                              "cpu_seconds": time.process_time() - cpu, "stages": todo})
    return run


def torch_threads() -> int:
    """Threads torch computes with in this process (a run's recorded time depends on it)."""
    import torch

    return torch.get_num_threads()


def run_timing(run) -> dict | None:
    """What training a cached run cost (``timing.json``: wall and CPU seconds, torch threads), if recorded.

    Written by :func:`train_or_load` when it trains; a run resumed after an interruption records only the
    resumed part.
    """
    path = Path(run) / "timing.json"
    return json.loads(path.read_text()) if path.exists() else None


def _train(config, run: Path, todo: list[str], init_from, show_progress_bar) -> None:
    from .trainer import EMMAXTrainer

    encoder = None
    if init_from is not None:
        from .encoder import SentenceEncoder

        src = Path(init_from)
        encoder = SentenceEncoder.from_pretrained(src / "encoder-init" if (src / "encoder-init").is_dir() else src)
    EMMAXTrainer(config, run, encoder=encoder, show_progress_bar=show_progress_bar).train(todo, resume=True)


def load_history(run) -> list[dict]:
    """The per-step metric records of a run folder (``history.json``)."""
    return json.loads((Path(run) / "history.json").read_text())["records"]
