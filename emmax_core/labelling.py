"""Who labels the encoder's candidates: the GMM (EMMA-X), the ORACLE, or nobody (the ``ctl`` control).

In EMMA-X the classifier supplies the encoder's semantic ranks (spec section 3.5): the GMM's argmax rank for
every (query, candidate) pair, with the translation partner clamped to the top rank ``N-1`` and the query's own
momentum key left out (label ``-1``). The two controls of the central experiment use the same batches:

* ``ctl``: the partner is ``N-1`` and every other candidate rank 0 (stage 1's InfoNCE on EM batches);
* ``oracle``: a candidate is ``N-1`` exactly when it is a true translation of the query (same meaning, other
  language), which the multi-way parallel corpus makes known. It is the ceiling of what any pseudo-labeller
  could give with this candidate pool.

Taught in: notebooks/05_em_iterations.ipynb.
"""

from __future__ import annotations

import torch

LABELLERS = ("gmm", "oracle", "ctl")


def true_translations(
    query_units: torch.Tensor, query_langs: torch.Tensor, cand_units: torch.Tensor, cand_langs: torch.Tensor,
) -> torch.Tensor:
    """Which candidates are translations of which queries (same unit, other language).

    Args:
        query_units, query_langs: ``(B,)`` long unit and language ids of the queries.
        cand_units, cand_langs: ``(Q,)`` long ids of the candidates; ``-1`` marks an unknown unit
            (e.g. the random vectors a fresh queue starts with).

    Returns:
        ``(B, Q)`` bool. Same-language duplicates (and so the query's own key) are never translations.
    """
    same_unit = query_units[:, None] == cand_units[None, :]
    other_lang = query_langs[:, None] != cand_langs[None, :]
    return same_unit & other_lang & (cand_units[None, :] >= 0)


def _pin_partner_and_self(labels: torch.Tensor, partner: torch.Tensor, num_ranks: int) -> torch.Tensor:
    rows = torch.arange(labels.shape[0], device=labels.device)
    has = partner >= 0
    labels[rows[has], partner[has]] = num_ranks - 1
    labels[rows, rows] = -1  # the query's own momentum key: excluded from the contrastive softmax
    return labels


def encoder_labels(
    labeller: str,
    log_posteriors: torch.Tensor,
    partner: torch.Tensor,
    truth: torch.Tensor,
    num_ranks: int,
    confidence_threshold: float | None = None,
) -> torch.Tensor:
    """Semantic ranks the encoder is trained on (classifier -> encoder supervision, spec section 3.5).

    Args:
        labeller: ``"gmm"`` (EMMA-X), ``"oracle"`` or ``"ctl"`` (controls).
        log_posteriors: ``(B, Q, N)`` the rank classifier's log posteriors.
        partner: ``(B,)`` long, candidate column of each row's translation partner, ``-1`` for none.
        truth: ``(B, Q)`` bool from :func:`true_translations` (read by the ORACLE only).
        num_ranks: ``N``.
        confidence_threshold: with ``"gmm"``, positive ranks whose posterior maximum is below it become
            ``-1`` (ignored). ``None`` keeps the reference's behaviour.

    Returns:
        ``(B, Q)`` long ranks in ``0..N-1``; ``-1`` = left out of the loss (self key, ignored pairs).
    """
    if labeller not in LABELLERS:
        raise ValueError(f"labeller={labeller!r} is unknown; use one of {LABELLERS}.")
    if labeller == "gmm":
        labels = log_posteriors.argmax(-1)
        if confidence_threshold is not None:
            unsure = (log_posteriors.max(-1).values.exp() < confidence_threshold) & (labels > 0)
            labels = labels.masked_fill(unsure, -1)
    else:
        labels = torch.zeros(truth.shape, dtype=torch.long, device=truth.device)
        if labeller == "oracle":
            labels[truth] = num_ranks - 1
    return _pin_partner_and_self(labels, partner, num_ranks)
