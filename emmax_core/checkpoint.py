"""Checkpoints of the EM trainer: save everything a resumed run needs, atomically; load it back.

``output_dir/state/`` holds the weights (online and key encoder, GMM), the optimizers and schedules of the
current stage, the queue, the rank means, the batch sampler's RNG, torch/numpy/python RNG and the metric
history. It is written to ``state.tmp`` and swapped in, so an interrupted save never replaces a good one.

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


def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float))
    os.replace(tmp, path)


class CheckpointMixin:
    """``save_state``/``load_state`` for :class:`~emmax_core.trainer.EMMAXTrainer` (and the saved encoders)."""

    def _save_encoder(self, name: str) -> None:
        if self.accelerator.is_main_process:
            self._raw_encoder.save_pretrained(self.out / name)
            torch.save({"gmm": self._raw_gmm.state_dict(), "rank_means": self.rank_means.state_dict()},
                       self.out / name / "rank_classifier.pt")
        self.accelerator.wait_for_everyone()

    def state_dict(self) -> dict:
        """Everything a resumed run needs: weights, optimizers, schedule, queue, rank means, RNG, history."""
        return {
            "encoder": self._raw_encoder.state_dict(), "key_encoder": self.key_encoder.state_dict(),
            "gmm": self._raw_gmm.state_dict(), "queue": self.queue.state_dict(),
            "rank_means": self.rank_means.state_dict(), "progress": dict(self.progress),
            "opt_stage": getattr(self, "_opt_stage", None),
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "sampler": self.sampler.state_dict(), "history": self.history,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        }

    def save_state(self) -> None:
        """Write ``output_dir/state`` atomically (a half-written checkpoint never replaces a good one)."""
        if self.accelerator.is_main_process:
            tmp, final = self.out / "state.tmp", self.out / "state"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            torch.save(self.state_dict(), tmp / "trainer_state.pt")
            (tmp / "config.yaml").write_text(self.config.to_yaml())
            old = self.out / "state.old"
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
            _atomic_json(self.out / "history.json", {"config": self.config.to_dict(), "records": self.history})
        self.accelerator.wait_for_everyone()

    def load_state(self) -> None:
        """Restore from ``output_dir/state`` (see :meth:`save_state`)."""
        s = torch.load(self.out / "state" / "trainer_state.pt", map_location=self.device, weights_only=False)
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
        rng = s["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
