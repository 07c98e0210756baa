"""Checkpoints of the EM trainer: Accelerate's ``save_state``/``load_state``, made atomic, plus the saved encoders.

The trainer registers everything a resumed run needs with Accelerate: the prepared models (online encoder,
rank classifier) and optimizers, and, through ``Accelerator.register_for_checkpointing``, the key encoder, the
queue, the rank means, the batch sampler, the learning-rate schedules and the run's bookkeeping
(:class:`RunState`: steps done per stage and the metric history). ``Accelerator.save_state``
writes all of it plus every process's torch/numpy/python RNG (``random_states_<process>.pkl``).

:func:`save_checkpoint` lets it write into ``output_dir/state.tmp``, marks that folder complete with a last,
fsynced file (``COMPLETE``) and only then swaps it in: a run killed at any moment leaves either the previous
complete checkpoint (``state/``, or ``state.old/`` when the kill fell inside the swap) or the new one, never a
partial checkpoint that loads. Saved encoders (``encoder-init/``, ``final/``) are swapped in the same way.

Taught in: notebooks/10_scaling_up.ipynb.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from .saving import atomic_json, swap_in

COMPLETE = "COMPLETE"
STAGE_ORDER = ("init-encoder", "init-gmm", "em")
#: The objects a trainer registers with ``Accelerator.register_for_checkpointing``, in registration order:
#: Accelerate stores the i-th as ``custom_checkpoint_<i>.pkl``.
REGISTERED = ("key_encoder", "queue", "rank_means", "sampler", "schedulers", "run")


class RunState:
    """A run's bookkeeping, saved and restored with every checkpoint: steps done per stage and the metric history.

    Args:
        stage_steps: ``{stage: steps}``, each stage's length.
        log_every: steps between history records (the first and the last step of a stage are recorded too).

    Taught in: notebooks/10_scaling_up.ipynb.
    """

    def __init__(self, stage_steps: dict[str, int], log_every: int):
        self.stage_steps, self.log_every = dict(stage_steps), log_every
        self.progress = {s: 0 for s in STAGE_ORDER}
        self.history: list[dict] = []

    def logged(self, stage: str) -> bool:
        """Whether the step in progress (``progress + 1``) of ``stage`` is written to the history."""
        step, total = self.progress[stage] + 1, self.stage_steps[stage]
        return step % self.log_every == 0 or step == total or step == 1

    def check_earlier_stages(self, first: str, out) -> None:
        """Refuse to start at ``first`` while an earlier stage of this run stopped part-way."""
        for stage in STAGE_ORDER[:STAGE_ORDER.index(first)]:
            if self.progress[stage] < self.stage_steps[stage]:
                raise RuntimeError(
                    f"--stage {first}: stage {stage!r} stopped at step {self.progress[stage]} of "
                    f"{self.stage_steps[stage]} in {out}; finish it first with --stage {stage} --resume.")

    def state_dict(self) -> dict:
        """``{"progress", "history"}``."""
        return {"progress": dict(self.progress), "history": list(self.history)}

    def load_state_dict(self, state: dict) -> None:
        """Restore in place (the trainer's ``progress`` and ``history`` are these same objects)."""
        self.progress.update(state["progress"])
        self.history[:] = state["history"]


class Schedulers:
    """``{stage: {name: lr scheduler}}`` as one object registered for checkpointing.

    Schedulers are registered, not prepared: Accelerate's prepared scheduler steps once per process.
    """

    def __init__(self, schedulers: dict[str, dict]):
        self.by_stage = schedulers

    def state_dict(self) -> dict:
        """``{stage: {name: scheduler state}}``."""
        return {stage: {k: s.state_dict() for k, s in scheds.items()} for stage, scheds in self.by_stage.items()}

    def load_state_dict(self, state: dict) -> None:
        """Restore every stage's schedulers."""
        for stage, scheds in state.items():
            for k, s in scheds.items():
                self.by_stage[stage][k].load_state_dict(s)


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


def save_checkpoint(accelerator, output_dir, info: dict, history: dict) -> None:
    """Write ``output_dir/state`` atomically with ``accelerator.save_state``; then ``history.json``.

    Args:
        accelerator: the run's ``Accelerator``, with models, optimizers and objects registered.
        output_dir: the run folder.
        info: written into ``COMPLETE`` (``progress``, ``world_size``), readable without loading anything.
        history: the content of ``history.json``.
    """
    out = Path(output_dir)
    tmp = out / "state.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=False)  # every process writes its own RNG state
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _mark_complete(tmp, info)
        swap_in(tmp, out / "state")
        atomic_json(out / "history.json", history)
    accelerator.wait_for_everyone()


def load_checkpoint(accelerator, output_dir) -> Path:
    """Restore everything registered with ``accelerator`` from the run's newest complete checkpoint.

    Raises:
        FileNotFoundError: no complete checkpoint.
        ValueError: it was written by another number of processes, or by an older emmax_core.
    """
    folder = find_state(output_dir)
    if folder is None:
        raise FileNotFoundError(f"{output_dir} holds no complete checkpoint (state/{COMPLETE} missing); "
                                "start the run without --resume.")
    written_by = json.loads((folder / COMPLETE).read_text()).get("world_size", 1)
    if written_by != accelerator.num_processes:
        raise ValueError(f"{folder} was written by {written_by} process(es), this run has "
                         f"{accelerator.num_processes}; resume with the same number of processes "
                         "(--nproc_per_node), or start a new run.")
    if (folder / "trainer_state.pt").exists():
        raise ValueError(f"{folder} was written by an older emmax_core (trainer_state.pt); start the run again "
                         "in a new --output-dir.")
    accelerator.load_state(str(folder))
    return folder


def resume_or_refuse(accelerator, output_dir, run: RunState, first: str, resume: bool, encoder_given: bool) -> None:
    """Load the run's checkpoint for ``resume`` or a run starting at a later stage ``first``; refuse without it.

    A later stage needs the run's own complete earlier stages, or (``init-gmm`` only) a given encoder.
    """
    later = first != "init-encoder"
    if (resume or later) and find_state(output_dir) is not None:
        load_checkpoint(accelerator, output_dir)
        run.check_earlier_stages(first, output_dir)
    elif first == "em" or (later and not encoder_given):
        raise FileNotFoundError(
            f"--stage {first} continues from the earlier stages in {Path(output_dir) / 'state'}, which does not "
            "exist; run them first into the same --output-dir (--stage all, or --stage init-encoder), "
            "or start at init-gmm from a trained encoder with --init-from RUN_DIR/encoder-init.")


def read_checkpoint(folder) -> dict:
    """The parts of a checkpoint folder by name, without a trainer: ``encoder`` and ``gmm`` weights and the
    state dicts of :data:`REGISTERED` (``queue``, ``rank_means``, ...). For inspection and tests."""
    folder = Path(folder)
    parts = {name: torch.load(folder / f"custom_checkpoint_{i}.pkl", weights_only=False)
             for i, name in enumerate(REGISTERED)}
    for name, file in (("encoder", "pytorch_model.bin"), ("gmm", "pytorch_model_1.bin")):
        parts[name] = torch.load(folder / file, weights_only=True)
    return parts


def save_encoder(accelerator, folder, encoder, classifier_state: dict) -> None:
    """Save ``encoder`` (``save_pretrained``) and ``classifier_state`` (``rank_classifier.pt``) into ``folder``,
    swapped in complete (main process only)."""
    folder = Path(folder)
    if accelerator.is_main_process:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        encoder.save_pretrained(tmp)
        torch.save(classifier_state, tmp / "rank_classifier.pt")
        swap_in(tmp, folder)
    accelerator.wait_for_everyone()
