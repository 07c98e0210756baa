"""The EMMA-X objectives: ranking InfoNCE (encoder), label-smoothed rank cross-entropy (GMM), InfoNCE, MLM.

Conventions: `sims` (B, Q) are query/candidate similarities; rank labels are long with -1 = leave this column
out (e.g. the query's own momentum key); a boolean `mask` is True where a pair is left out.

What this module leaves out on purpose: the weighting of the terms (the trainer adds them 1 : 1 : 1, as the
reference does) and distributed reductions.

Taught in: notebooks/04_ranking_infonce.ipynb
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F

from emmax_core.ranks import rank_temperatures

_EPS = 1e-7


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """Half-precision logits are upcast for the softmax; float32/float64 are kept."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _rank_term(logits: torch.Tensor, pos: torch.Tensor, den: torch.Tensor, exclude_empty_rows: bool):
    """-(1/B) sum_i log(mean_{j in P_i} softmax_{A_i}(logits)_ij + 1e-7) for one rank; all args (B, Q)."""
    has_pos = pos.any(dim=1)
    # Rows without positives get a full denominator so logsumexp stays finite (their term is a constant anyway).
    den = den | ~has_pos[:, None]
    log_den = torch.logsumexp(logits.masked_fill(~den, float("-inf")), dim=1, keepdim=True)
    # -inf outside P makes exp() exactly 0 there, so no inf/NaN can leak into the backward pass.
    log_prob = (logits - log_den).masked_fill(~pos, float("-inf"))
    mean_prob = torch.exp(log_prob).sum(dim=1) / pos.sum(dim=1).clamp_min(1)
    per_row = -torch.log(mean_prob + _EPS)
    return per_row[has_pos].mean() if exclude_empty_rows else per_row.mean()


def ranking_info_nce(sims: torch.Tensor, labels: torch.Tensor, temperatures, exclude_empty_rows: bool = False):
    """Ranking InfoNCE: for each rank r, rank-r candidates are positives against all candidates of rank <= r.

    L = sum_{r=1}^{N-1} L_r over ranks with at least one positive in the batch, with
    L_r = -(1/B) sum_i log( mean_{j: l_ij = r} exp(s~_ij / tau_r) / sum_{k: 0 <= l_ik <= r} exp(s~_ik / tau_r) + 1e-7 )
    and s~ = s - max_j s (detached; it cancels). Rows without a rank-r positive add the constant -log(1e-7).

    Args:
        sims: (B, Q) similarities.
        labels: (B, Q) long ranks in 0..N-1, -1 = column ignored (self key).
        temperatures: (N-1,) tau_1..tau_{N-1}, e.g. `ranks.rank_temperatures(N)`.
        exclude_empty_rows: average L_r only over rows that have a rank-r positive (drops the constant).

    Returns:
        scalar loss. With N = 2 and one positive per row it equals `info_nce` (up to the +1e-7).

    Differences from the reference implementation (`EMContrastive.calculate_contrastive_loss`): the denominator
    is an exact logsumexp (the reference adds 1e-7 per column to it and Q * 1e-7 to the positive count); masked
    columns come from label -1 instead of a hard-coded diagonal; `exclude_empty_rows` is an opt-in deviation.

    Book: :ref:`algorithm-ranking-infonce`, :ref:`fidelity-loss-details`.
    Taught in: notebooks/04_ranking_infonce.ipynb
    """
    sims = _upcast(sims)
    temperatures = torch.as_tensor(temperatures, dtype=sims.dtype, device=sims.device).reshape(-1)
    if sims.dim() != 2 or labels.shape != sims.shape:
        raise ValueError(f"sims and labels must both be (B, Q); got {tuple(sims.shape)}, {tuple(labels.shape)}.")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer (long) tensor of ranks, -1 = ignored, got {labels.dtype}: "
                         "pass labels.long().")
    if labels.numel() and (int(labels.max()) > len(temperatures) or int(labels.min()) < -1):
        raise ValueError(f"labels must lie in -1..{len(temperatures)} for {len(temperatures)} temperatures "
                         "(pass rank_temperatures(num_ranks)).")
    logits = sims - sims.max(dim=1, keepdim=True).values.detach()
    total = logits.sum() * 0.0
    for rank in range(1, len(temperatures) + 1):
        pos = labels == rank
        if not bool(pos.any()):
            continue
        den = (labels >= 0) & (labels <= rank)
        total = total + _rank_term(logits / temperatures[rank - 1], pos, den, exclude_empty_rows)
    return total


def info_nce(sims: torch.Tensor, positive_index: torch.Tensor, temperature: float = 0.05,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """Plain InfoNCE: cross-entropy of the positive column among all unmasked columns.

    Args:
        sims: (B, Q) similarities. positive_index: (B,) long column of each row's positive.
        temperature: tau (0.05 in the EMMA-X warm-up). mask: optional (B, Q) bool, True = left out.

    Returns:
        scalar -(1/B) sum_i log softmax(s_i / tau)[positive_index_i].

    Differences from the reference implementation: the reference's stage 1 runs the ranking loss with a single
    positive rank (plus its +1e-7 terms); this is the exact closed form.

    Book: :ref:`fidelity-stage1`. Taught in: notebooks/02_encoders_and_init.ipynb
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}: use e.g. 0.05 (the warm-up's tau).")
    sims = _upcast(sims)
    logits = sims - sims.max(dim=1, keepdim=True).values.detach()
    if mask is not None:
        rows = torch.arange(sims.shape[0], device=sims.device)
        if bool(mask[rows, positive_index].any()):
            raise ValueError("mask hides a positive column; mask only the columns to leave out (e.g. self keys).")
        logits = logits.masked_fill(mask, float("-inf"))
    return F.cross_entropy(logits / temperature, positive_index)


def _fairseq_smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, eps: float, name: str):
    """Mean fairseq label-smoothed cross-entropy of (M, C) logits against (M,) long targets, via torch's.

    fairseq puts 1 - eps on the target and eps / (C - 1) on each other class; torch's `label_smoothing` spreads
    its eps' / C over every class, the target included, so the two agree for eps' = eps * C / (C - 1).
    """
    num_classes = logits.shape[-1]
    smoothing = eps * num_classes / (num_classes - 1)
    if smoothing > 1.0:
        raise ValueError(f"{name}={eps} gives the label less weight ({1 - eps:.3g}) than each of the other "
                         f"{num_classes - 1} classes ({eps / (num_classes - 1):.3g}); use at most "
                         f"{(num_classes - 1) / num_classes:.3g} for {num_classes} classes.")
    return F.cross_entropy(_upcast(logits), target.long(), label_smoothing=smoothing)


def rank_cross_entropy(log_posteriors: torch.Tensor, labels: torch.Tensor, rank_confidence: float = 0.3,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """Label-smoothed cross-entropy of the rank classifier against pseudo-labels (the GMM loss).

    Per pair: -(1 - eps) log gamma(y) - eps / (N - 1) sum_{r != y} log gamma(r), averaged over kept pairs.

    Args:
        log_posteriors: (B, Q, N) log gamma(r | d) (log_softmax is re-applied, so log_joint works too).
        labels: (B, Q) long pseudo-ranks, -1 = left out.
        rank_confidence: eps, the smoothing (0.3 puts 0.7 on the label and 0.1 on each other rank for N = 4);
            at most (N - 1) / N, so that the label keeps at least the weight of every other rank.
        mask: optional (B, Q) bool, True = left out.

    Returns:
        scalar loss (0 with a graph when no pair is kept).

    Differences from the reference implementation: identical formula (`calculate_label_smoothed_ce_loss`),
    computed by `torch.nn.functional.cross_entropy` with `label_smoothing = eps N / (N - 1)`, plus the ignore
    label/mask.

    Book: :ref:`algorithm-gmm`. Taught in: notebooks/03_ranks_and_gmm.ipynb
    """
    if not 0.0 <= rank_confidence < 1.0:
        raise ValueError(f"rank_confidence must be in [0, 1), got {rank_confidence}.")
    if log_posteriors.dim() != 3 or log_posteriors.shape[:2] != labels.shape:
        raise ValueError(f"log_posteriors must be (B, Q, N) matching labels (B, Q); got "
                         f"{tuple(log_posteriors.shape)}, {tuple(labels.shape)}.")
    keep = labels >= 0
    if mask is not None:
        keep = keep & ~mask
    if not bool(keep.any()):
        return log_posteriors.sum() * 0.0
    return _fairseq_smoothed_cross_entropy(log_posteriors[keep], labels[keep], rank_confidence, "rank_confidence")


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.1,
             ignore_index: int = -100) -> torch.Tensor:
    """Masked-language-model loss with fairseq label smoothing, averaged over masked tokens.

    Args:
        logits: (B, T, V) token logits. labels: (B, T) original ids at masked positions, `ignore_index` elsewhere.
            Also accepts (n, V) logits with (n,) labels (only the masked tokens, as the trainer passes them).
        label_smoothing: eps (0.1 in the reference): 1 - eps on the original id, eps / (V - 1) on each other.

    Returns:
        scalar loss (0 with a graph when nothing is masked).

    Differences from the reference implementation: ignored positions use -100 (the reference uses the pad id);
    the log-softmax is computed only at masked positions.

    Book: :ref:`algorithm-moco`, :ref:`fidelity-key-encoder`. Taught in: notebooks/02_encoders_and_init.ipynb
    """
    keep = labels != ignore_index
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return _fairseq_smoothed_cross_entropy(logits[keep], labels[keep], label_smoothing, "label_smoothing")


def mask_tokens(input_ids: torch.Tensor, tokenizer=None, *, mask_prob: float = 0.1,
                special_ids: Iterable[int] | None = None, mask_token_id: int | None = None,
                vocab_size: int | None = None, generator: torch.Generator | None = None):
    """BERT-style corruption: pick `mask_prob` of the non-special tokens; 80% -> <mask>, 10% random, 10% kept.

    Args:
        input_ids: (B, T) long token ids.
        tokenizer: a Hugging Face tokenizer supplying special ids, mask id and vocabulary size; or pass
            `special_ids`, `mask_token_id` and `vocab_size` (these override the tokenizer's values).
        mask_prob: probability of picking each non-special token (reference 0.1).
        generator: optional torch.Generator (CPU) for reproducible masks.

    Returns:
        (corrupted input_ids (B, T), labels (B, T)) with labels = original id where picked, -100 elsewhere.

    Differences from the reference implementation: random replacements never draw special ids.

    Book: :ref:`algorithm-moco`. Taught in: notebooks/02_encoders_and_init.ipynb
    """
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob}.")
    if tokenizer is not None:
        special_ids = tokenizer.all_special_ids if special_ids is None else special_ids
        mask_token_id = tokenizer.mask_token_id if mask_token_id is None else mask_token_id
        vocab_size = len(tokenizer) if vocab_size is None else vocab_size
    if special_ids is None or mask_token_id is None or vocab_size is None:
        raise ValueError("pass a tokenizer, or all of special_ids, mask_token_id and vocab_size.")
    device = input_ids.device
    special = torch.tensor(sorted(set(special_ids) | {mask_token_id}), dtype=torch.long, device=device)
    draw, action = torch.rand((2, *input_ids.shape), generator=generator).to(device)
    picked = (draw < mask_prob) & ~torch.isin(input_ids, special)
    labels = input_ids.masked_fill(~picked, -100)
    vocab = torch.arange(vocab_size, device=device)
    allowed = vocab[~torch.isin(vocab, special)]
    random_ids = allowed[torch.randint(len(allowed), input_ids.shape, generator=generator).to(device)]
    corrupted = input_ids.masked_fill(picked & (action < 0.8), mask_token_id)
    corrupted = torch.where(picked & (action >= 0.8) & (action < 0.9), random_ids, corrupted)
    return corrupted, labels


class RankingInfoNCELoss(nn.Module):
    """`ranking_info_nce` with the temperatures of `rank_temperatures(num_ranks, tau_low, tau_high)`.

    Args:
        num_ranks: N. tau_low, tau_high: see `rank_temperatures`. exclude_empty_rows: see `ranking_info_nce`.

    forward(sims (B, Q), labels (B, Q)) -> scalar. Differences from the reference implementation: see
    `ranking_info_nce`. Book: :ref:`algorithm-ranking-infonce`. Taught in: notebooks/04_ranking_infonce.ipynb
    """

    def __init__(self, num_ranks: int = 4, tau_low: float = 0.05, tau_high: float = 0.1,
                 exclude_empty_rows: bool = False):
        super().__init__()
        self.num_ranks, self.exclude_empty_rows = num_ranks, exclude_empty_rows
        self.register_buffer("temperatures", rank_temperatures(num_ranks, tau_low, tau_high), persistent=False)

    @classmethod
    def from_config(cls, config) -> RankingInfoNCELoss:
        """Build from a `RankConfig` (reads num_ranks, tau_low, tau_high, exclude_empty_rows)."""
        return cls(config.num_ranks, config.tau_low, config.tau_high, getattr(config, "exclude_empty_rows", False))

    def forward(self, sims: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """sims (B, Q), labels (B, Q) long ranks (-1 = left out) -> scalar."""
        return ranking_info_nce(sims, labels, self.temperatures, self.exclude_empty_rows)


class InfoNCELoss(nn.Module):
    """`info_nce` with a fixed temperature tau (0.05 in the EMMA-X warm-up).

    Differences from the reference implementation: see `info_nce`.
    Book: :ref:`fidelity-stage1`. Taught in: notebooks/02_encoders_and_init.ipynb
    """

    def __init__(self, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature

    def forward(self, sims, positive_index, mask=None) -> torch.Tensor:
        """sims (B, Q), positive_index (B,) long, optional mask (B, Q) bool (True = left out) -> scalar."""
        return info_nce(sims, positive_index, self.temperature, mask)


class RankCrossEntropyLoss(nn.Module):
    """`rank_cross_entropy` with a fixed rank confidence eps (the label smoothing, 0.3 in the reference).

    Differences from the reference implementation: see `rank_cross_entropy`.
    Book: :ref:`algorithm-gmm`. Taught in: notebooks/03_ranks_and_gmm.ipynb
    """

    def __init__(self, rank_confidence: float = 0.3):
        super().__init__()
        self.rank_confidence = rank_confidence

    @classmethod
    def from_config(cls, config) -> RankCrossEntropyLoss:
        """Build from a `RankConfig` (reads rank_confidence)."""
        return cls(config.rank_confidence)

    def forward(self, log_posteriors, labels, mask=None) -> torch.Tensor:
        """log_posteriors (B, Q, N), labels (B, Q) long (-1 = left out), optional mask (B, Q) bool -> scalar."""
        return rank_cross_entropy(log_posteriors, labels, self.rank_confidence, mask)
