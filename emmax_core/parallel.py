"""Devices and processes for the trainer: precision, gathering, summed statistics, per-batch seeds, NaN stops.

Under ``torchrun``/``accelerate launch`` each process draws its own batches (``CorpusSampler.shard``). What
must then be *global* is gathered here: the keys every process enqueues (in process order), the rank-mean
statistics (counts and sums, added up), the GMM's data-based initialisation (process 0's, broadcast), and
whether any process saw a non-finite loss. On one process every function is the identity, without a
collective call.

Randomness inside a step (dropout, MLM masking, interpolation weights) is seeded from the batch's position in
the run's batch stream (:func:`seeded`), so it does not depend on which process or micro-batch runs it: two
processes with batches 0 and 1 do exactly what one process with gradient accumulation over batches 0 and 1 does.

Taught in: notebooks/10_scaling_up.ipynb (book: :ref:`algorithm-stages`).
"""

from __future__ import annotations

import zlib
from contextlib import contextmanager

import torch
from accelerate.utils import broadcast


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or inf; training stopped and the last checkpoint in ``DIR/state`` was kept."""


def resolve_precision(requested: str = "auto") -> str:
    """Pick Accelerate's ``mixed_precision``: bf16 where supported, fp16 on other CUDA GPUs, else ``"no"``.

    Raises:
        ValueError: ``fp16``/``bf16`` requested without CUDA (Accelerate would fail later, less clearly).
    """
    cuda = torch.cuda.is_available()
    if requested == "auto":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "no"
    if requested in ("fp16", "bf16") and not cuda:
        raise ValueError(f"train.mixed_precision={requested!r} needs a CUDA GPU; use 'auto' or 'no' on CPU.")
    if requested not in ("no", "fp16", "bf16"):
        raise ValueError(f"train.mixed_precision={requested!r}; use 'auto', 'no', 'bf16' or 'fp16'.")
    return requested


def check_finite(accelerator, where: dict, losses: dict) -> None:
    """Raise :class:`NonFiniteLossError` on every process when any loss term of any process is NaN or inf.

    Args:
        accelerator: the run's ``Accelerator``.
        where: ``{"stage": ..., "step": ..., "state": Path}`` for the message.
        losses: name -> scalar loss tensor.
    """
    bad = [name for name, value in losses.items() if not torch.isfinite(value.detach()).all()]
    if _any_across(accelerator, bool(bad), accelerator.device):
        state = where["state"]
        kept = f"the last good checkpoint is {state}" if state.exists() else "no checkpoint was written yet"
        raise NonFiniteLossError(
            f"stage {where['stage']!r}, step {where['step']}: loss term(s) {bad or ['(on another process)']} "
            f"became NaN or inf; training stopped and {kept}. Lower train.lr / train.gmm_lr or use "
            "train.mixed_precision='no', then resume with --resume (or EMMAXTrainer.train(resume=True)).")


class StepBuffer:
    """What the micro-batches of one optimizer step leave for its end: keys to enqueue, rank-mean statistics.

    The queue and the rank means advance once per optimizer step, with every process's keys (gathered in
    process order) and statistics (summed), so N processes do what one process accumulating N micro-batches does.
    """

    def __init__(self, accelerator):
        self.accelerator, self.pending = accelerator, {}

    def add(self, keys: torch.Tensor, batch, stats=None) -> None:
        """Keep a micro-batch's ``(B, D)`` keys, its ids, its digest and optional ``(counts, sums)`` statistics."""
        p, device = self.pending, keys.device
        p.setdefault("keys", []).append(keys.detach())
        p.setdefault("units", []).append(batch.unit_ids.to(device))
        p.setdefault("langs", []).append(batch.lang_ids.to(device))
        p.setdefault("digests", []).append(_batch_digest(batch.unit_ids, batch.lang_ids))
        if stats is not None:
            p["stats"] = [a + b for a, b in zip(p["stats"], stats)] if "stats" in p else list(stats)

    def flush(self, queue=None, rank_means=None) -> list[int]:
        """End the step: enqueue the gathered keys into ``queue``, update ``rank_means``; returns the digests."""
        p, self.pending, acc = self.pending, {}, self.accelerator
        if queue is not None and "keys" in p:
            queue.enqueue(gather_rows(acc, torch.cat(p["keys"])), unit_ids=gather_rows(acc, torch.cat(p["units"])),
                          langs=gather_rows(acc, torch.cat(p["langs"])))
        if rank_means is not None and "stats" in p:
            rank_means.update_from_statistics(*(_sum_across(acc, s) for s in p["stats"]))
        return p.get("digests", [])


def gather_rows(accelerator, tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``(n_p, ...)`` tensors of every process in process order; ``n_p`` may differ."""
    if accelerator.num_processes == 1:
        return tensor
    sizes = accelerator.gather(torch.tensor([tensor.shape[0]], device=tensor.device))
    padded = accelerator.pad_across_processes(tensor.contiguous(), dim=0)
    parts = accelerator.gather(padded).split(padded.shape[0])
    return torch.cat([part[: int(n)] for part, n in zip(parts, sizes)])


def _sum_across(accelerator, tensor: torch.Tensor) -> torch.Tensor:
    """Sum a same-shaped tensor over processes."""
    if accelerator.num_processes == 1:
        return tensor
    return accelerator.reduce(tensor.clone(), reduction="sum")


def broadcast_parameters(accelerator, module: torch.nn.Module) -> None:
    """Copy process 0's parameters and buffers into every process's ``module`` (in place)."""
    if accelerator.num_processes == 1:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.copy_(broadcast(tensor.detach().clone(), from_process=0))


def _any_across(accelerator, flag: bool, device) -> bool:
    """True when ``flag`` is true on any process."""
    if accelerator.num_processes == 1:
        return bool(flag)
    return bool(_sum_across(accelerator, torch.tensor([float(flag)], device=device)).item() > 0)


def _batch_digest(unit_ids: torch.Tensor, lang_ids: torch.Tensor) -> int:
    """A 31-bit fingerprint of a batch's (unit, language) rows, to show which batches each process saw."""
    data = torch.stack([unit_ids.long().cpu(), lang_ids.long().cpu()]).numpy().tobytes()
    return zlib.crc32(data) & 0x7FFFFFFF


@contextmanager
def seeded(seed: int, index: int, device: torch.device):
    """Run a block with torch's RNG seeded from ``(seed, index)``; the caller's RNG state is restored after."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed((int(seed) << 32) + int(index))
        yield
