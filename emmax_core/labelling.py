"""Who labels the encoder's candidates: the GMM (``gmm``, EMMA-X), the ORACLE or nobody (``ctl``).

In EMMA-X the classifier supplies the encoder's semantic ranks (book: :ref:`algorithm-gmm-labels`): the GMM's
argmax rank for every (query, candidate) pair, with the translation partner clamped to the top rank ``N-1`` and
the query's own momentum key left out (label ``-1``). The controls of the central experiment use the same
batches:

* ``ctl``: the partner is ``N-1`` and every other candidate rank 0 (stage 1's InfoNCE on EM batches);
* ``oracle``: a candidate is ``N-1`` exactly when it is a true translation of the query (same meaning, other
  language), which the multi-way parallel corpus makes known. It is the ceiling of what any pseudo-labeller
  could give with this candidate pool.
* ``oracle_nn``: the ORACLE restricted to each query's nearest cross-language neighbour: ``N-1`` only when that
  neighbour is a true translation, every other non-partner rank 0. It is the ceiling of a *top-1* pseudo-labeller
  that never errs, so its gain ties the backbone's nearest-neighbour precision to what EM could earn.

* ``noisy_oracle``: the ORACLE made as good or as bad as asked, for the map of EM's gain against label quality
  (book: :ref:`sweep-noisy-oracle`). It keeps a random share ``recall`` of the true translations at ``N-1``
  and adds wrong ``N-1`` labels on the most similar non-translations, as many as make the top rank's precision
  ``precision``, so its errors are the confident ones a similarity-driven labeller makes, not random pairs.
  Everything else is rank 0. With ``precision = recall = 1`` it is the ORACLE.

The named variants (deviations from the paper, never silent replacements; book: :ref:`fidelity-variants`)
trade the GMM's recall for precision, the lever the top-rank precision diagnostics point at:

* ``gmm_mnn``: a non-partner candidate is ``N-1`` only when it and the query are mutual nearest
  neighbours across languages AND the GMM puts the pair at rank >= 1; other GMM positives are ignored.
* ``gmm_topk``: a non-partner candidate is ``N-1`` when it is among the query's ``topk`` cross-language
  nearest neighbours AND both modules (GMM and rank means) place it in the top two ranks; other GMM
  positives are ignored. More recall than ``gmm_mnn`` at some cost in precision.
* ``gmm_curriculum``: EMMA-X's labels with a curriculum on the top-rank share: per query only the ``k`` most
  similar cross-language candidates of the GMM's top rank stay there (``k`` grows from 1 to ``topk`` over EM),
  the others drop to rank ``N-2``; lower ranks are the GMM's. It attacks top-rank inflation without ignoring
  the GMM's middle ranks.

Taught in: notebooks/05_em_iterations.ipynb.
"""

from __future__ import annotations

import math

import torch

from .config import LABELLER_NAMES
from .ranks import clamp_ranks

LABELLERS = LABELLER_NAMES  # listed in config.py, which checks RankConfig.labeller against them


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
    """The partner column to rank N-1 (:func:`~emmax_core.ranks.clamp_ranks`), the diagonal self key to -1."""
    labels = clamp_ranks(labels, None, partner, num_ranks)
    rows = torch.arange(labels.shape[0], device=labels.device)
    labels[rows, rows] = -1  # the query's own momentum key: excluded from the contrastive softmax
    return labels


def encoder_labels(
    labeller: str,
    log_posteriors: torch.Tensor,
    partner: torch.Tensor,
    truth: torch.Tensor,
    num_ranks: int,
    confidence_threshold: float | None = None,
    sims: torch.Tensor | None = None,
    query_langs: torch.Tensor | None = None,
    cand_langs: torch.Tensor | None = None,
    rm_labels: torch.Tensor | None = None,
    topk: int = 3,
    progress: float = 1.0,
    precision: float = 1.0,
    recall: float = 1.0,
) -> torch.Tensor:
    """Semantic ranks the encoder is trained on (classifier -> encoder supervision).

    Book: :ref:`algorithm-gmm-labels`; the controls and variants: :ref:`experiment-runs`.

    Args:
        labeller: ``"gmm"`` (EMMA-X), ``"oracle"``, ``"oracle_nn"`` or ``"ctl"`` (controls), or a variant.
        log_posteriors: ``(B, Q, N)`` the rank classifier's log posteriors.
        partner: ``(B,)`` long, candidate column of each row's translation partner, ``-1`` for none.
        truth: ``(B, Q)`` bool from :func:`true_translations` (read by the ORACLE only).
        num_ranks: ``N``.
        confidence_threshold: with ``"gmm"``, positive ranks whose posterior maximum is below it become
            ``-1`` (ignored). ``None`` keeps the reference's behaviour.
        sims, query_langs, cand_langs, rm_labels: ``(B, Q)`` similarities, ``(B,)``/``(Q,)`` language ids and
            ``(B, Q)`` rank-mean labels. ``oracle_nn`` and the ``gmm_*`` variants need the first three; only
            ``gmm_topk`` reads ``rm_labels``.
        topk: neighbours per query considered by ``gmm_topk`` (and the final ``k`` of ``gmm_curriculum``).
        progress: share of the EM stage done, in [0, 1] (``gmm_curriculum``'s schedule).
        precision, recall: ``noisy_oracle``'s requested precision and recall of its top-rank labels (which
            true translations it keeps is drawn from torch's RNG, which the trainer seeds per batch).

    Returns:
        ``(B, Q)`` long ranks in ``0..N-1``; ``-1`` = left out of the loss (self key, ignored pairs).
    """
    if labeller not in LABELLERS:
        raise ValueError(f"labeller={labeller!r} is unknown; use one of {LABELLERS}.")
    if labeller in ("gmm_mnn", "gmm_topk"):
        labels = _high_precision(labeller, log_posteriors.argmax(-1), sims, query_langs, cand_langs,
                                 rm_labels, num_ranks, topk)
    elif labeller == "gmm_curriculum":
        labels = _curriculum(log_posteriors.argmax(-1), sims, query_langs, cand_langs, num_ranks,
                             max(1, math.ceil(min(max(progress, 0.0), 1.0) * topk)))
    elif labeller == "gmm":
        labels = log_posteriors.argmax(-1)
        if confidence_threshold is not None:
            unsure = (log_posteriors.max(-1).values.exp() < confidence_threshold) & (labels > 0)
            labels = labels.masked_fill(unsure, -1)
    elif labeller == "noisy_oracle":
        if sims is None:
            raise ValueError("labeller='noisy_oracle' needs sims (its wrong labels are the most similar pairs).")
        labels = noisy_oracle_labels(truth, sims, partner, num_ranks, precision, recall)
    else:
        labels = torch.zeros(truth.shape, dtype=torch.long, device=truth.device)
        if labeller == "oracle":
            labels[truth] = num_ranks - 1
        elif labeller == "oracle_nn":
            if sims is None or query_langs is None or cand_langs is None:
                raise ValueError("labeller='oracle_nn' needs sims, query_langs and cand_langs.")
            rows = torch.arange(sims.shape[0], device=sims.device)
            cross = query_langs[:, None] != cand_langs[None, :]
            nn = sims.masked_fill(~cross, float("-inf")).argmax(-1)
            labels[rows, nn] = torch.where(truth[rows, nn], num_ranks - 1, 0)
    return _pin_partner_and_self(labels, partner, num_ranks)


def noisy_oracle_labels(
    truth: torch.Tensor, sims: torch.Tensor, partner: torch.Tensor, num_ranks: int, precision: float, recall: float,
) -> torch.Tensor:
    """Top-rank labels at a requested precision and recall (the ``noisy_oracle`` labeller).

    Rows with a translation partner and unaligned rows are labelled separately, so each kind gets the requested
    values: of the ``T`` true translations among a kind's latent pairs (neither the query's own key nor its
    partner), ``round(recall * T)`` drawn at random are kept at ``N-1``; then the ``round(kept * (1 - precision)
    / precision)`` most similar latent non-translations are labelled ``N-1`` too (all of them, if fewer exist).
    Book: :ref:`sweep-noisy-oracle`.

    Args:
        truth: ``(B, Q)`` bool true translations (:func:`true_translations`).
        sims: ``(B, Q)`` similarities of queries and candidates.
        partner: ``(B,)`` long partner column, ``-1`` for unaligned rows.
        num_ranks: ``N``.
        precision: requested share of true translations among the top-rank labels, in (0, 1].
        recall: requested share of the true translations labelled top rank, in [0, 1].

    Returns:
        ``(B, Q)`` long: ``N-1`` or 0 (partner and self key not yet pinned; :func:`encoder_labels` does it).
    """
    if not (0 < precision <= 1 and 0 <= recall <= 1):
        raise ValueError(f"precision={precision}, recall={recall}: use precision in (0, 1] and recall in [0, 1].")
    b, q = truth.shape
    rows = torch.arange(b, device=truth.device)
    latent = torch.ones_like(truth)
    latent[rows, rows] = False
    has = partner >= 0
    latent[rows[has], partner[has]] = False
    top = torch.zeros_like(truth)
    for kind in (has, ~has):
        pool = latent & kind[:, None]
        true = (pool & truth).flatten().nonzero().squeeze(1)
        kept = true[torch.randperm(len(true), device=truth.device)[: round(recall * len(true))]]
        wrong_pool = (pool & ~truth).flatten()
        n_wrong = min(round(len(kept) * (1 - precision) / precision), int(wrong_pool.sum()))
        wrong = sims.flatten().masked_fill(~wrong_pool, float("-inf")).topk(n_wrong).indices
        top.view(-1)[kept] = True
        top.view(-1)[wrong] = True
    return top.long() * (num_ranks - 1)


def _curriculum(labels, sims, query_langs, cand_langs, num_ranks, k):
    """Keep the ``k`` most similar cross-language top-rank candidates per row; demote the rest to ``N-2``."""
    if sims is None or query_langs is None or cand_langs is None:
        raise ValueError("labeller='gmm_curriculum' needs sims, query_langs and cand_langs.")
    top = (labels == num_ranks - 1) & (query_langs[:, None] != cand_langs[None, :])
    best = sims.masked_fill(~top, float("-inf")).topk(min(k, sims.shape[1]), dim=-1).indices
    keep = torch.zeros_like(top).scatter_(1, best, True) & top
    return torch.where((labels == num_ranks - 1) & ~keep, num_ranks - 2, labels)


def _high_precision(labeller, gmm_pred, sims, query_langs, cand_langs, rm_labels, num_ranks, topk):
    """Labels of the variants: ``N-1`` only for cross-checked neighbours, other GMM positives ignored."""
    if sims is None or query_langs is None or cand_langs is None:
        raise ValueError(f"labeller={labeller!r} needs sims, query_langs and cand_langs.")
    b = sims.shape[0]
    cross = query_langs[:, None] != cand_langs[None, :]
    cross[torch.arange(b), torch.arange(b)] = False
    masked = sims.masked_fill(~cross, float("-inf"))
    if labeller == "gmm_mnn":
        nn = masked.argmax(-1)  # each query's nearest candidate in another language
        back = masked.argmax(0)  # each candidate's nearest query in another language
        chosen = torch.zeros_like(cross)
        chosen[torch.arange(b), nn] = back[nn] == torch.arange(b, device=sims.device)
        chosen &= gmm_pred >= 1
    else:
        if rm_labels is None:
            raise ValueError("labeller='gmm_topk' needs rm_labels (the rank-mean labels).")
        top = masked.topk(min(topk, sims.shape[1]), dim=-1).indices
        chosen = torch.zeros_like(cross).scatter_(1, top, True) & cross
        chosen &= (gmm_pred >= num_ranks - 2) & (rm_labels >= num_ranks - 2)
    labels = torch.where(gmm_pred >= 1, -1, 0)
    return labels.masked_fill(chosen, num_ranks - 1)
