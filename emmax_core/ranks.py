"""Semantic-rank bookkeeping: temperatures, running rank means, interpolation labels, clamping.

Ranks are 0..N-1 with N-1 = translation (or the query's own key) and 0 = unrelated. The encoder's similarities
become GMM pseudo-labels through the nearest running rank mean (book: :ref:`algorithm-rank-means`); the GMM warm-up gets labels
from interpolated pairs whose rank is known by construction (book: :ref:`algorithm-gmm-init`).

What this module leaves out on purpose: gathering across processes (callers pass gathered tensors).

Taught in: notebooks/03_ranks_and_gmm.ipynb
"""

from __future__ import annotations

import torch
from torch import nn


def rank_temperatures(num_ranks: int, tau_low: float = 0.05, tau_high: float = 0.1) -> torch.Tensor:
    """Per-rank temperatures tau_1..tau_{N-1}, falling linearly from `tau_high` (rank 1) to `tau_low` (rank N-1).

    Args:
        num_ranks: N >= 2. N = 2 has a single positive rank and returns [tau_low] (the reference divides by
            N - 2 and crashes there).
        tau_low: temperature of the top rank (strictest matching).
        tau_high: temperature of rank 1.

    Returns:
        (N-1,) float32 tensor; index r-1 holds tau_r. N = 4 gives (0.1, 0.075, 0.05).

    Paper: book :ref:`algorithm-ranking-infonce` (reference `set_each_temp`). Taught in: notebooks/04_ranking_infonce.ipynb
    """
    if num_ranks < 2:
        raise ValueError(f"num_ranks must be >= 2 (one negative and one positive rank), got {num_ranks}.")
    if tau_low <= 0 or tau_high <= 0:
        raise ValueError(f"temperatures must be positive, got tau_low={tau_low}, tau_high={tau_high}.")
    if num_ranks == 2:
        return torch.tensor([tau_low], dtype=torch.float32)
    return torch.linspace(tau_high, tau_low, num_ranks - 1, dtype=torch.float64).float()


class RankMeans(nn.Module):
    """Running mean cosine similarity m_r of each rank; maps a similarity to the rank with the nearest mean.

    Args:
        num_ranks: N >= 2.
        ema: beta, the EMA rate of `update` (reference 0.001, i.e. a time constant of ~1,000 steps).

    Buffers: `rank_means (N,)` and `initialized` (bool scalar); both are saved in `state_dict()`.

    Differences from the reference implementation: the reference starts the means at zero, so short runs tie
    every similarity and collapse all labels to one rank. Here `assign` refuses to run before the means were set
    from data (`init_from`, or the first `update`).

    Paper: book :ref:`algorithm-rank-means`. Taught in: notebooks/03_ranks_and_gmm.ipynb
    """

    def __init__(self, num_ranks: int, ema: float = 0.001):
        super().__init__()
        if num_ranks < 2:
            raise ValueError(f"num_ranks must be >= 2, got {num_ranks}.")
        if not 0.0 < ema <= 1.0:
            raise ValueError(f"ema must be in (0, 1], got {ema}; the reference uses 0.001.")
        self.num_ranks, self.ema = num_ranks, ema
        self.register_buffer("rank_means", torch.zeros(num_ranks))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def statistics(self, sims: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-rank counts and similarity sums over the valid (label >= 0) entries.

        Counts and sums (not means) can be added across micro-batches and processes before an update, so a
        run on several processes updates the rank means exactly as one process seeing the whole batch.

        Args:
            sims: (B, Q) similarities. labels: (B, Q) long ranks, -1 = ignore.

        Returns:
            counts (N,) and sums (N,), float64.
        """
        if sims.shape != labels.shape:
            raise ValueError(f"sims {tuple(sims.shape)} and labels {tuple(labels.shape)} must have the same shape.")
        valid = labels >= 0
        lab = labels[valid].long().to(self.rank_means.device)
        if lab.numel() and int(lab.max()) >= self.num_ranks:
            raise ValueError(f"labels must be < num_ranks={self.num_ranks}, got {int(lab.max())}.")
        vals = sims.detach()[valid].to(self.rank_means.device, torch.float64)
        counts = torch.bincount(lab, minlength=self.num_ranks).to(vals)
        sums = torch.bincount(lab, weights=vals, minlength=self.num_ranks).to(vals)
        return counts, sums

    @torch.no_grad()
    def init_from(self, sims: torch.Tensor, labels: torch.Tensor) -> RankMeans:
        """Set every rank mean to the mean similarity of its labelled pairs.

        Args:
            sims: (B, Q) similarities (interpolated ones in the GMM warm-up).
            labels: (B, Q) long ranks, -1 = ignore. Every rank must be present.

        Returns:
            self.
        """
        return self.init_from_statistics(*self.statistics(sims, labels))

    @torch.no_grad()
    def init_from_statistics(self, counts: torch.Tensor, sums: torch.Tensor) -> RankMeans:
        """:meth:`init_from` on summed :meth:`statistics` (e.g. gathered over processes). Returns self."""
        missing = (counts == 0).nonzero().flatten().tolist()
        if missing:
            raise ValueError(f"ranks {missing} have no labelled pairs; init_from needs every rank present "
                             "(use a larger batch or the interpolation labels of the GMM warm-up).")
        self.rank_means.copy_((sums / counts).to(self.rank_means))
        self.initialized.fill_(True)
        return self

    @torch.no_grad()
    def update(self, sims: torch.Tensor, labels: torch.Tensor) -> None:
        """EMA step m_r <- (1 - ema) m_r + ema * mean(sims of rank r), only for ranks present in `labels`.

        Before the first `init_from` this initialises from the data instead (never from zeros).

        Args:
            sims: (B, Q) similarities. labels: (B, Q) long ranks, -1 = ignore.
        """
        self.update_from_statistics(*self.statistics(sims, labels))

    @torch.no_grad()
    def update_from_statistics(self, counts: torch.Tensor, sums: torch.Tensor) -> None:
        """:meth:`update` on summed :meth:`statistics` (e.g. gathered over processes and micro-batches)."""
        if not bool(self.initialized):
            self.init_from_statistics(counts, sums)
            return
        present = counts > 0
        means = (sums / counts.clamp_min(1)).to(self.rank_means)
        updated = (1 - self.ema) * self.rank_means + self.ema * means
        self.rank_means.copy_(torch.where(present.to(updated.device), updated, self.rank_means))

    @torch.no_grad()
    def assign(self, sims: torch.Tensor) -> torch.Tensor:
        """Nearest rank mean: ``y = argmin_r |s - m_r|``.

        Args:
            sims: (...) similarities, any shape.

        Returns:
            long tensor of the same shape with ranks in 0..N-1.
        """
        if not bool(self.initialized):
            raise RuntimeError("RankMeans.assign called before the rank means were set; call init_from(sims, "
                               "labels) (e.g. with interpolation labels from the GMM warm-up) first.")
        means = self.rank_means.to(sims.device)
        return (sims.detach().to(means.dtype)[..., None] - means).abs().argmin(dim=-1)

    def is_ordered(self) -> bool:
        """True when m_0 < m_1 < ... < m_{N-1} strictly (check this before the EM stage)."""
        return bool((self.rank_means[1:] > self.rank_means[:-1]).all())


def interpolation_labels(lam: torch.Tensor, mixing_logits: torch.Tensor) -> torch.Tensor:
    """Bucket interpolation weights into ranks with boundaries cumsum(softmax(mixing_logits)).

    Args:
        lam: (B, Q) interpolation weights in [0, 1]; larger lambda = closer to the query = higher rank.
        mixing_logits: (N,) GMM prior logits a; uniform a gives boundaries 1/N, 2/N, ...

    Returns:
        (B, Q) long ranks in 0..N-1 (a value on a boundary goes to the upper rank).

    Differences from the reference implementation: values above the last float boundary (cumsum may end
    below 1) are clamped to N-1 instead of silently staying 0.

    Paper: book :ref:`algorithm-gmm-init` (reference `covert_scores_to_ranks`). Taught in: notebooks/03_ranks_and_gmm.ipynb
    """
    bounds = torch.cumsum(torch.softmax(mixing_logits.detach().float(), dim=0), dim=0)[:-1]
    labels = torch.bucketize(lam.detach().float().contiguous(), bounds.to(lam.device), right=True)
    return labels.clamp_(0, mixing_logits.shape[0] - 1)


def interpolate(queries: torch.Tensor, candidates: torch.Tensor, lam: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synthetic pairs for the GMM warm-up: c~_ij = lam_ij q_i + (1 - lam_ij) c_j.

    The GMM input is d_ij = q_i - c~_ij = (1 - lam_ij)(q_i - c_j), so it is passed as `scale = 1 - lam` with
    the real queries/candidates, and the similarity is q_i . c~_ij = lam_ij + (1 - lam_ij) s_ij for unit q_i.

    Args:
        queries: (B, D) unit embeddings. candidates: (Q, D) unit embeddings.
        lam: optional (B, Q) weights; drawn from U(0, 1) when None.
        generator: optional torch.Generator for lam.

    Returns:
        lam (B, Q), scale (B, Q) = 1 - lam, interpolated sims (B, Q).

    Paper: book :ref:`algorithm-gmm-init`. Taught in: notebooks/03_ranks_and_gmm.ipynb
    """
    shape = (queries.shape[0], candidates.shape[0])
    if lam is None:
        lam = torch.rand(shape, generator=generator).to(queries.device)
    elif tuple(lam.shape) != shape:
        raise ValueError(f"lam must have shape (batch, num_candidates) = {shape}, got {tuple(lam.shape)}.")
    with torch.no_grad():
        sims = queries.detach().float() @ candidates.detach().float().T
    lam = lam.to(sims)
    return lam, 1 - lam, lam + (1 - lam) * sims


def clamp_ranks(labels: torch.Tensor, self_index: torch.Tensor | None, partner_index: torch.Tensor | None,
                num_ranks: int) -> torch.Tensor:
    """Force the self and translation columns of each row to the top rank N-1 (returns a new tensor).

    Args:
        labels: (B, Q) long ranks.
        self_index: (B,) long column of each query's own key, -1 = none; or None.
        partner_index: (B,) long column of each query's translation, -1 = none; or None.
        num_ranks: N.

    Returns:
        (B, Q) long ranks; `labels` itself is not modified (the reference's in-place fill aliased tensors).

    Paper: book :ref:`algorithm-rank-means` and :ref:`algorithm-gmm-labels`. Taught in: notebooks/03_ranks_and_gmm.ipynb
    """
    out = labels.clone()
    rows = torch.arange(labels.shape[0], device=labels.device)
    for name, index in (("self_index", self_index), ("partner_index", partner_index)):
        if index is None:
            continue
        index = torch.as_tensor(index, device=labels.device).long()
        if index.shape != rows.shape:
            raise ValueError(f"{name} must have shape ({labels.shape[0]},), got {tuple(index.shape)}.")
        if index.numel() and int(index.max()) >= labels.shape[1]:
            raise ValueError(f"{name} has a column >= num_candidates={labels.shape[1]}.")
        keep = index >= 0
        out[rows[keep], index[keep]] = num_ranks - 1
    return out
