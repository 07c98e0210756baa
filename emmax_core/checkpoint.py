"""Checkpoints of the EM trainer: save everything a resumed run needs, atomically; load it back.

``output_dir/state/`` holds the weights (online and key encoder, GMM), the optimizers and schedules of the
current stage, the queue, the rank means, the batch sampler's RNG, every process's torch/numpy/python RNG
(``rng_<process>.pt``) and the metric history. It is written to ``state.tmp``, marked complete by a last
file (``COMPLETE``) and only then swapped in: a run killed at any moment leaves either the previous complete
checkpoint (``state/``, or ``state.old/`` when the kill fell inside the swap) or the new one, never a partial
checkpoint that loads. Saved encoders (``encoder-init/``, ``final/``) are swapped in the same way.

Taught in: notebooks/10_scaling_up.ipynb.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

COMPLETE = "COMPLETE"
STAGE_ORDER = ("init-encoder", "init-gmm", "em")


def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float))
    os.replace(tmp, path)


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace ``final`` by the complete folder ``tmp``; a kill at any point leaves a complete copy."""
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _mark_complete(folder: Path, info: dict) -> None:
    with open(folder / COMPLETE, "w") as f:
        f.write(json.dumps(info))
        f.flush()
        os.fsync(f.fileno())


def find_state(output_dir) -> Path | None:
    """The newest complete checkpoint folder of a run (``state/``, else ``state.old/``), or None."""
    for name in ("state", "state.old"):
        if (Path(output_dir) / name / COMPLETE).exists():
            return Path(output_dir) / name
    return None


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(rng: dict) -> None:
    torch.set_rng_state(rng["torch"].cpu())
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


class CheckpointMixin:
    """``save_state``/``load_state`` for :class:`~emmax_core.trainer.EMMAXTrainer` (and the saved encoders)."""

    def _save_encoder(self, name: str) -> None:
        if self.accelerator.is_main_process:
            tmp = self.out / f"{name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            self._raw_encoder.save_pretrained(tmp)
            torch.save({"gmm": self._raw_gmm.state_dict(), "rank_means": self.rank_means.state_dict()},
                       tmp / "rank_classifier.pt")
            _swap_in(tmp, self.out / name)
        self.accelerator.wait_for_everyone()

    def state_dict(self) -> dict:
        """Everything a resumed run needs except the per-process RNG: weights, optimizers, queue, history."""
        return {
            "encoder": self._raw_encoder.state_dict(), "key_encoder": self.key_encoder.state_dict(),
            "gmm": self._raw_gmm.state_dict(), "queue": self.queue.state_dict(),
            "rank_means": self.rank_means.state_dict(), "progress": dict(self.progress),
            "opt_stage": getattr(self, "_opt_stage", None),
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "sampler": self.sampler.state_dict(), "history": self.history,
            "world_size": self.accelerator.num_processes,
        }

    def history_json(self) -> dict:
        """The content of ``history.json``: config, world size, accumulation and the per-step records."""
        return {"config": self.config.to_dict(), "world_size": self.accelerator.num_processes,
                "gradient_accumulation_steps": self.config.train.gradient_accumulation_steps,
                "records": self.history}

    def save_state(self) -> None:
        """Write ``output_dir/state`` atomically (a half-written checkpoint never replaces a good one)."""
        acc, tmp = self.accelerator, self.out / "state.tmp"
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        torch.save(_rng_state(), tmp / f"rng_{acc.process_index}.pt")
        acc.wait_for_everyone()
        if acc.is_main_process:
            torch.save(self.state_dict(), tmp / "trainer_state.pt")
            (tmp / "config.yaml").write_text(self.config.to_yaml())
            _mark_complete(tmp, {"progress": self.progress, "world_size": acc.num_processes})
            _swap_in(tmp, self.out / "state")
            _atomic_json(self.out / "history.json", self.history_json())
        acc.wait_for_everyone()

    def find_state(self) -> Path | None:
        """See :func:`find_state`."""
        return find_state(self.out)

    def load_state(self) -> None:
        """Restore from the newest complete checkpoint (see :meth:`save_state`)."""
        folder = self.find_state()
        if folder is None:
            raise FileNotFoundError(f"{self.out} holds no complete checkpoint (state/{COMPLETE} missing); "
                                    "start the run without --resume.")
        s = torch.load(folder / "trainer_state.pt", map_location="cpu", weights_only=False)  # copied onto the device by load_state_dict
        world = self.accelerator.num_processes
        if s.get("world_size", 1) != world:
            raise ValueError(f"{folder} was written by {s.get('world_size', 1)} process(es), this run has {world}; "
                             "resume with the same number of processes (--nproc_per_node), or start a new run.")
        self._raw_encoder.load_state_dict(s["encoder"])
        self.key_encoder.load_state_dict(s["key_encoder"])
        self._raw_gmm.load_state_dict(s["gmm"])
        self.queue.load_state_dict(s["queue"])
        self.rank_means.load_state_dict(s["rank_means"])
        self.progress, self.history = dict(s["progress"]), list(s["history"])
        if s["opt_stage"]:
            self._make_optimizers(s["opt_stage"])
            self._opt_stage = s["opt_stage"]
            for k, v in s["optimizers"].items():
                self.optimizers[k].load_state_dict(v)
            for k, v in s["schedulers"].items():
                self.schedulers[k].load_state_dict(v)
        self.sampler.load_state_dict(s["sampler"])
        _set_rng_state(torch.load(folder / f"rng_{self.accelerator.process_index}.pt", weights_only=False))

    def load_or_refuse(self, first: str, resume: bool) -> None:
        """Load the run's state for ``resume`` or a run starting at a later stage ``first``; refuse without it.

        A later stage needs the run's own complete earlier stages, or (``init-gmm`` only) a given encoder.
        """
        later = first != "init-encoder"
        if (resume or later) and self.find_state() is not None:
            self.load_state()
            for stage in STAGE_ORDER[:STAGE_ORDER.index(first)]:
                if self.progress[stage] < self._stage_steps(stage):
                    raise RuntimeError(
                        f"--stage {first}: stage {stage!r} stopped at step {self.progress[stage]} of "
                        f"{self._stage_steps(stage)} in {self.out}; finish it first with --stage {stage} --resume.")
        elif first == "em" or (later and not self.encoder_given):
            raise FileNotFoundError(
                f"--stage {first} continues from the earlier stages in {self.out / 'state'}, which does not "
                "exist; run them first into the same --output-dir (--stage all, or --stage init-encoder), "
                "or start at init-gmm from a trained encoder with --init-from RUN_DIR/encoder-init.")
