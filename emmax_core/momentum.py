"""MoCo machinery: the momentum key encoder and the FIFO key queue.

EMMA-X (book: :ref:`algorithm-moco`) scores every query against Q = B + K candidates: the B in-batch keys from a slowly
moving copy of the encoder, plus K keys from past steps kept in a queue. A large candidate pool is what makes
intermediate semantic ranks exist at all (with only in-batch negatives almost every pair is rank 0).

What this module leaves out on purpose: distributed all-gather (the caller enqueues already-gathered keys) and
the reference's requirement that K be divisible by the batch size (the queue here wraps around).

Taught in: notebooks/02_encoders_and_init.ipynb
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F


class MomentumEncoder(nn.Module):
    """A frozen deep copy of an encoder, moved towards the online encoder by an exponential moving average.

    The update is xi <- momentum * xi + (1 - momentum) * theta for every parameter; buffers (e.g. batch-norm
    statistics, position ids) are copied. Gradients never flow into the copy and `forward` runs under
    `torch.no_grad()`.

    Args:
        encoder: the online (query) encoder f_theta; it is deep-copied, not shared.

    Paper: MoCo key encoder f_xi, book: :ref:`algorithm-moco` (reference code default momentum 0.999, tiny profile 0.99).

    Taught in: notebooks/02_encoders_and_init.ipynb
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = copy.deepcopy(encoder)
        for param in self.encoder.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def update(self, online: nn.Module, momentum: float) -> None:
        """Move the key encoder towards `online`: xi <- momentum * xi + (1 - momentum) * theta.

        Args:
            online: the online encoder, with the same parameter layout as the copied one.
            momentum: m in [0, 1]; 1 freezes the key encoder, 0 copies the online weights.
        """
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}; the usual values are 0.99-0.999.")
        key_params = list(self.encoder.parameters())
        online_params = list(online.parameters())
        if len(key_params) != len(online_params):
            raise ValueError(
                f"online has {len(online_params)} parameters but the momentum encoder has {len(key_params)}; "
                "pass the same (unwrapped) encoder that the MomentumEncoder was built from."
            )
        for key, query in zip(key_params, online_params):
            key.mul_(momentum).add_(query.detach().to(key.dtype), alpha=1.0 - momentum)
        for key_buf, query_buf in zip(self.encoder.buffers(), online.buffers()):
            key_buf.copy_(query_buf)

    def forward(self, *args, **kwargs):
        """Run the key encoder without building a graph; arguments are those of the wrapped encoder."""
        with torch.no_grad():
            return self.encoder(*args, **kwargs)


class KeyQueue(nn.Module):
    """FIFO ring buffer of past momentum keys, with the unit and language of each key for diagnostics.

    It starts as `queue_size` random unit vectors (as in the reference) whose `unit_ids`/`langs` are -1
    ("unknown"). `enqueue` overwrites the oldest entries; the batch size need not divide `queue_size`
    (writes wrap around). All state is registered as buffers, so `state_dict()`/`load_state_dict()` resume it.

    Args:
        queue_size: K, the number of stored keys.
        dim: D, the embedding dimension.
        generator: optional torch.Generator for the random initial keys.

    Attributes:
        keys: (queue_size, dim) float32 unit vectors.
        unit_ids: (queue_size,) long, caller-defined integer id of each key's translation unit, -1 = unknown.
        langs: (queue_size,) long, caller-defined language id, -1 = unknown.

    Paper: MoCo queue, book: :ref:`algorithm-moco` (reference `K` = 768, `_dequeue_and_enqueue`).

    Taught in: notebooks/02_encoders_and_init.ipynb
    """

    def __init__(self, queue_size: int, dim: int, generator: torch.Generator | None = None):
        super().__init__()
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}.")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}.")
        keys = F.normalize(torch.randn(queue_size, dim, generator=generator), dim=1)
        self.register_buffer("keys", keys)
        self.register_buffer("unit_ids", torch.full((queue_size,), -1, dtype=torch.long))
        self.register_buffer("langs", torch.full((queue_size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("num_filled", torch.zeros((), dtype=torch.long))

    @property
    def queue_size(self) -> int:
        """K, the number of slots."""
        return self.keys.shape[0]

    @property
    def filled(self) -> int:
        """How many slots hold real keys (not the random initial vectors); saturates at `queue_size`."""
        return int(self.num_filled)

    def contents(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The slots that hold real keys, in slot order: ``(n, dim)`` keys, ``(n,)`` unit ids, ``(n,)`` langs.

        Slots fill from index 0 upwards, so the real keys are always the first `filled` slots. The random
        initial vectors of the other slots are never returned: they are not candidates for any statistic,
        label or loss (the book page "Fidelity and deviations", section "The key queue").
        """
        n = self.filled
        return self.keys[:n], self.unit_ids[:n], self.langs[:n]

    @torch.no_grad()
    def enqueue(
        self,
        keys: torch.Tensor,
        unit_ids: torch.Tensor | None = None,
        langs: torch.Tensor | None = None,
    ) -> None:
        """Write a batch of keys over the oldest slots.

        Args:
            keys: (batch, dim) momentum keys (detached and cast to float32 here).
            unit_ids: optional (batch,) long unit ids; -1 when not given.
            langs: optional (batch,) long language ids; -1 when not given.
        """
        if keys.dim() != 2 or keys.shape[1] != self.keys.shape[1]:
            raise ValueError(f"keys must have shape (batch, {self.keys.shape[1]}), got {tuple(keys.shape)}.")
        batch = keys.shape[0]
        unit_ids = self._ids(unit_ids, batch, "unit_ids")
        langs = self._ids(langs, batch, "langs")
        size = self.queue_size
        start = int(self.ptr)
        if batch > size:
            # Only the newest `size` keys survive; place them so that FIFO order is kept.
            keys, unit_ids, langs = keys[-size:], unit_ids[-size:], langs[-size:]
            start = (start + batch - size) % size
        index = (start + torch.arange(keys.shape[0], device=self.keys.device)) % size
        self.keys[index] = keys.detach().to(self.keys)
        self.unit_ids[index] = unit_ids
        self.langs[index] = langs
        self.ptr.fill_((int(self.ptr) + batch) % size)
        self.num_filled.fill_(min(size, int(self.num_filled) + batch))

    def _ids(self, ids: torch.Tensor | None, batch: int, name: str) -> torch.Tensor:
        if ids is None:
            return torch.full((batch,), -1, dtype=torch.long, device=self.keys.device)
        ids = torch.as_tensor(ids, device=self.keys.device).long().reshape(-1)
        if ids.shape[0] != batch:
            raise ValueError(f"{name} must have one entry per key ({batch}), got {ids.shape[0]}.")
        return ids
