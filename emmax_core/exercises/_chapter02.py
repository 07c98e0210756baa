"""Checkers of chapter 02's exercises: masked InfoNCE, the momentum update, the key queue."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from ..losses import info_nce
from ..momentum import KeyQueue, MomentumEncoder
from ._checking import EXERCISES, _done, _expect


def check_masked_info_nce(fn: Callable) -> None:
    """Exercise ex-02-1 (chapter 02): ``fn(sims, positive_index, temperature, mask)`` is masked InfoNCE.

    ``sims``: (B, Q) float64; ``positive_index``: (B,) long; ``mask``: (B, Q) bool, True = column left out.
    Returns a scalar equal to :func:`emmax_core.losses.info_nce` with the same mask.
    """
    name, g, n = "masked_info_nce", torch.Generator().manual_seed(2), 0
    for case, (b, q, tau) in {"B=6, Q=10": (6, 10, 0.05), "B=2, Q=3": (2, 3, 0.1), "tau=1": (4, 7, 1.0)}.items():
        sims = torch.rand(b, q, generator=g, dtype=torch.float64) * 2 - 1
        positive = torch.randint(0, q - 1, (b,), generator=g)
        mask = torch.zeros(b, q, dtype=torch.bool)
        mask[:, q - 1] = True
        for variant, m in (("with a mask", mask), ("empty mask", torch.zeros_like(mask))):
            _expect(name, f"{case}, {variant}", info_nce(sims, positive, tau, mask=m), fn(sims, positive, tau, m),
                    "divide the similarities by the temperature, leave masked columns out of the logsumexp only, "
                    "and average -log p over the rows")
            n += 1
    _done(name, n, "emmax_core.losses.info_nce")


def check_momentum_update(fn: Callable) -> None:
    """Exercise ex-02-momentum (chapter 02): ``fn(key_encoder, online, momentum)`` moves ``key_encoder`` in place.

    Both are ``torch.nn.Module`` with the same layout; after the call every parameter is
    ``momentum * xi + (1 - momentum) * theta``, as :meth:`emmax_core.momentum.MomentumEncoder.update` does.
    """
    name, n = "momentum_update", 0
    for case, m in {"m=0.9": 0.9, "m=0.99": 0.99, "m=0 (copy)": 0.0, "m=1 (frozen)": 1.0}.items():
        torch.manual_seed(3)
        online, key = torch.nn.Linear(4, 3).double(), torch.nn.Linear(4, 3).double()
        reference = MomentumEncoder(key)
        reference.update(online, momentum=m)
        student = copy.deepcopy(key)
        with torch.no_grad():
            out = fn(student, online, m)
        if isinstance(out, torch.nn.Module):
            student = out
        for (pname, expected), got in zip(reference.encoder.named_parameters(), student.parameters()):
            _expect(name, f"{case}, {pname}", expected, got,
                    "xi <- m * xi + (1 - m) * theta for every parameter, in place (under torch.no_grad()); "
                    "m multiplies the key encoder's weights, not the online encoder's")
            n += 1
    _done(name, n, "emmax_core.momentum.MomentumEncoder.update")


def check_enqueue(fn: Callable) -> None:
    """Exercise ex-02-queue (chapter 02): ``fn(queue, ptr, keys) -> (queue, ptr)`` writes keys over the oldest slots.

    ``queue``: (K, D) float64; ``ptr``: int, the next slot to write; ``keys``: (b, D) with b <= K. Returns the new
    (K, D) queue (a new tensor or the same one) and the new pointer, as :class:`emmax_core.momentum.KeyQueue`.
    """
    name, g, n = "enqueue", torch.Generator().manual_seed(4), 0
    cases = {"no wrap": (8, 0, 3), "wrapped queue": (8, 6, 4), "batch = K": (5, 2, 5), "one slot": (1, 0, 1),
             "ends exactly at K": (6, 3, 3)}
    for case, (size, start, batch) in cases.items():
        ref = KeyQueue(size, 3).double()
        ref.ptr.fill_(start)
        queue = ref.keys.clone()
        keys = torch.randn(batch, 3, generator=g, dtype=torch.float64)
        ref.enqueue(keys)
        out = fn(queue.clone(), start, keys)
        if not isinstance(out, tuple) or len(out) != 2:
            raise AssertionError(f"{EXERCISES[name][0]} {name}, case {case!r}: expected a tuple (queue, ptr), got "
                                 f"{type(out).__name__}. Hint: return both the queue and the new pointer")
        hint = ("slot (ptr + i) % K gets key i; the new pointer is (ptr + b) % K; keys written past the end wrap "
                "around to slot 0")
        _expect(name, f"{case}, queue", ref.keys, out[0], hint)
        _expect(name, f"{case}, ptr", int(ref.ptr), int(out[1]), hint)
        n += 1
    _done(name, n, "emmax_core.momentum.KeyQueue.enqueue")
