"""Data parallelism for the trainer: gather rows of any length, sum statistics, agree on flags, seed per batch.

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


def gather_rows(accelerator, tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``(n_p, ...)`` tensors of every process in process order; ``n_p`` may differ."""
    if accelerator.num_processes == 1:
        return tensor
    sizes = accelerator.gather(torch.tensor([tensor.shape[0]], device=tensor.device))
    padded = accelerator.pad_across_processes(tensor.contiguous(), dim=0)
    parts = accelerator.gather(padded).split(padded.shape[0])
    return torch.cat([part[: int(n)] for part, n in zip(parts, sizes)])


def sum_across(accelerator, tensor: torch.Tensor) -> torch.Tensor:
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


def any_across(accelerator, flag: bool, device) -> bool:
    """True when ``flag`` is true on any process."""
    if accelerator.num_processes == 1:
        return bool(flag)
    return bool(sum_across(accelerator, torch.tensor([float(flag)], device=device)).item() > 0)


def batch_digest(unit_ids: torch.Tensor, lang_ids: torch.Tensor) -> int:
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
