"""Per-step diagnostics of the EM stage: what the two modules believe, and how often they are right.

The multi-way parallel corpus tells us which candidates are true translations, so every pseudo-label can be
scored: the precision and recall of each rank against the true translations, the share of non-translation
pairs pushed into the top rank (top-rank inflation), the agreement between the GMM and the rank means, and
the encoder's own retrieval of the translation partner. None of this feeds back into training.

Taught in: notebooks/05_em_iterations.ipynb. Book: :ref:`experiment-diagnostics`.
"""

from __future__ import annotations

import torch


def _ratio(num: torch.Tensor, den: torch.Tensor) -> float:
    den = float(den)
    return float(num) / den if den > 0 else float("nan")


def em_diagnostics(
    sims: torch.Tensor,
    gmm_pred: torch.Tensor,
    rm_labels: torch.Tensor,
    enc_labels: torch.Tensor,
    truth: torch.Tensor,
    partner: torch.Tensor,
    cand_langs: torch.Tensor,
    query_langs: torch.Tensor,
    num_ranks: int,
) -> dict:
    """Diagnostics of one EM batch.

    Args:
        sims: ``(B, Q)`` cosine similarities of queries and candidates.
        gmm_pred: ``(B, Q)`` the GMM's argmax ranks (before clamping).
        rm_labels: ``(B, Q)`` ranks from the nearest rank mean (before clamping).
        enc_labels: ``(B, Q)`` the ranks the encoder was trained on (``-1`` = ignored).
        truth: ``(B, Q)`` bool, true translations (same unit, other language).
        partner: ``(B,)`` long partner column, ``-1`` for monolingual rows.
        cand_langs, query_langs: ``(Q,)`` / ``(B,)`` language ids.
        num_ranks: ``N``.

    Returns:
        A flat dict of floats and lists: ``gmm_counts``, ``rank_mean_counts``, ``agreement``, ``partner_acc``,
        ``top_share`` (non-partner pairs labelled ``N-1``), ``precision_r{r}``/``recall_r{r}`` of the GMM's
        ranks on non-partner pairs, ``mono_top_precision``/``mono_top_recall``, ``mono_nn_precision``.
    """
    b, q = sims.shape
    rows = torch.arange(b, device=sims.device)
    self_mask = torch.zeros(b, q, dtype=torch.bool, device=sims.device)
    self_mask[rows, rows] = True
    partner_mask = torch.zeros_like(self_mask)
    has = partner >= 0
    partner_mask[rows[has], partner[has]] = True
    other = ~self_mask & ~partner_mask  # pairs whose rank is latent
    truth_other = truth & other
    out = {
        "gmm_counts": [int(((gmm_pred == r) & ~self_mask).sum()) for r in range(num_ranks)],
        "rank_mean_counts": [int(((rm_labels == r) & ~self_mask).sum()) for r in range(num_ranks)],
        "agreement": _ratio(((gmm_pred == rm_labels) & ~self_mask).sum(), (~self_mask).sum()),
        "top_share": _ratio(((enc_labels == num_ranks - 1) & other & ~truth).sum(), (other & ~truth).sum()),
        "true_pairs": int(truth_other.sum()),
    }
    masked = sims.masked_fill(self_mask, float("-inf"))
    if has.any():
        out["partner_acc"] = _ratio((masked[has].argmax(-1) == partner[has]).sum(), has.sum())
    for r in range(num_ranks):
        hit = (gmm_pred == r) & other
        out[f"precision_r{r}"] = _ratio((hit & truth_other).sum(), hit.sum())
        out[f"recall_r{r}"] = _ratio((hit & truth_other).sum(), truth_other.sum())
    mono = ~has
    if mono.any():
        top = (enc_labels[mono] == num_ranks - 1) & other[mono]
        out["mono_top_labels"] = int(top.sum())
        out["mono_top_precision"] = _ratio((top & truth[mono]).sum(), top.sum())
        out["mono_top_recall"] = _ratio((top & truth[mono]).sum(), truth_other[mono].sum())
        # Row-relative nearest neighbour among other-language candidates: the best a top-1 labeller can do.
        same_lang = query_langs[mono][:, None] == cand_langs[None, :]
        nn = masked[mono].masked_fill(same_lang, float("-inf")).argmax(-1)
        reachable = truth[mono].any(-1)
        hit_nn = truth[mono][torch.arange(int(mono.sum()), device=sims.device), nn]
        out["mono_nn_precision"] = _ratio((hit_nn & reachable).sum(), reachable.sum())
        out["mono_reachable"] = _ratio(reachable.sum(), mono.sum())
    return out
