"""The FC ablation of the rank classifier: an MLP on pair features instead of a Gaussian mixture.

It has the interface of :class:`~emmax_core.gmm.GaussianMixtureRankClassifier` (``log_joint``, ``forward``,
``predict``, ``init_from_data`` and a ``mixing_logits`` prior), so the trainer swaps one for the other with
``RankConfig(classifier="fc")``. Like the GMM it detaches its inputs (stop-gradient to the encoder) and computes
in float32, also under autocast.

Taught in: notebooks/09_ablations.ipynb
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .gmm import _check_pairs


class FullyConnectedRankClassifier(nn.Module):
    """Ablation: an MLP on pair features [``|d|``, ``q * c~``] instead of a Gaussian mixture.

    With d = s (q - c) and the interpolated candidate c~ = q - d, the features are ``|d|`` (elementwise) and ``q * c~``,
    scaled by `feature_scale` so that they are O(1) for unit embeddings. Pairs are processed in chunks of
    queries so memory stays near `chunk_elements` floats. `mixing_logits` is a zero buffer (uniform prior)
    so that `ranks.interpolation_labels` works unchanged.

    Args:
        num_ranks: N >= 2. dim: D. hidden: hidden width; 0 gives a single linear layer.
        chunk_elements: memory budget (floats) per feature chunk.

    Differences from the reference implementation: the reference has only a commented-out `nn.Linear(2H, N)`
    on [q; c~]. Here the features are ``|d|`` and ``q * c~`` (the usual sentence-pair features); ``|d|`` keeps the scale
    information that the interpolation labels depend on.

    Paper: the GMM vs FC ablation; book: :ref:`fidelity-variants`. Taught in: notebooks/09_ablations.ipynb
    """

    def __init__(self, num_ranks: int, dim: int, hidden: int = 128, chunk_elements: int = 2**24):
        super().__init__()
        if num_ranks < 2 or dim < 1 or hidden < 0:
            raise ValueError(f"need num_ranks >= 2, dim >= 1, hidden >= 0; got {num_ranks}, {dim}, {hidden}.")
        self.num_ranks, self.dim, self.chunk_elements = num_ranks, dim, chunk_elements
        layers = [nn.Linear(2 * dim, num_ranks)] if hidden == 0 else [
            nn.Linear(2 * dim, hidden), nn.GELU(), nn.Linear(hidden, num_ranks)]
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("feature_scale", torch.tensor([math.sqrt(dim / 2.0), float(dim)]))
        self.register_buffer("mixing_logits", torch.zeros(num_ranks))

    @torch.no_grad()
    def init_from_data(self, diffs: torch.Tensor, **_ignored):
        """Set the ``|d|`` feature scale to 1 / RMS(diffs). Args: diffs (n, D). Returns: self."""
        if diffs.dim() != 2 or diffs.shape[1] != self.dim:
            raise ValueError(f"diffs must have shape (n, {self.dim}), got {tuple(diffs.shape)}.")
        self.feature_scale[0] = diffs.float().pow(2).mean().clamp_min(1e-12).rsqrt()
        return self

    def log_joint(self, queries, candidates, scale=None) -> torch.Tensor:
        """Unnormalised rank scores (B, Q, N); they play the role of log p(d, z=r) up to a per-pair constant."""
        _check_pairs(queries, candidates, scale, self.dim)
        q, c = queries.detach().float(), candidates.detach().float()
        rows = max(1, self.chunk_elements // max(1, c.shape[0] * 2 * self.dim))
        out = []
        with torch.autocast(device_type=q.device.type, enabled=False):
            for start in range(0, q.shape[0], rows):
                qi = q[start:start + rows, None, :]
                d = qi - c[None]
                if scale is not None:
                    d = scale[start:start + rows].detach().float()[..., None] * d
                feats = torch.cat([d.abs() * self.feature_scale[0], qi * (qi - d) * self.feature_scale[1]], -1)
                out.append(self.mlp(feats))
        return torch.cat(out, dim=0)

    def forward(self, queries, candidates, scale=None) -> torch.Tensor:
        """Log posteriors over ranks, (B, Q, N)."""
        return F.log_softmax(self.log_joint(queries, candidates, scale), dim=-1)

    @torch.no_grad()
    def predict(self, queries, candidates, scale=None) -> torch.Tensor:
        """Hard ranks, (B, Q) long."""
        return self.log_joint(queries, candidates, scale).argmax(dim=-1)
