"""The semantic-rank classifier: a diagonal Gaussian mixture over difference vectors.

For a query q_i and a candidate c_j the GMM reads the difference d_ij = s_ij * (q_i - c_j) (s_ij = 1 except
for the interpolated pairs of the GMM warm-up, where s_ij = 1 - lambda_ij) and returns log p(d, z=r) for every
rank r. The naive form builds a (B, Q, N, D) tensor; `log_joint` expands the squared Mahalanobis distance into
matmuls and never builds anything larger than (B, Q, N).

The classifier detaches its inputs: it is trained only on its own parameters (stop-gradient
to the encoder). Computation runs in float32 (float64 if the inputs or parameters are float64),
also under autocast.

Taught in: notebooks/03_ranks_and_gmm.ipynb
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Smallest per-dimension variance at initialisation, relative to the median variance of the data.
VAR_FLOOR = 1e-2
#: Rows of candidates per block in the (Q, N) per-candidate terms of `log_joint`.
_ROW_BLOCK = 8192


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def _check_pairs(queries: torch.Tensor, candidates: torch.Tensor, scale: torch.Tensor | None, dim: int) -> None:
    if queries.dim() != 2 or queries.shape[1] != dim:
        raise ValueError(f"queries must have shape (batch, {dim}), got {tuple(queries.shape)}.")
    if candidates.dim() != 2 or candidates.shape[1] != dim:
        raise ValueError(f"candidates must have shape (num_candidates, {dim}), got {tuple(candidates.shape)}.")
    expected = (queries.shape[0], candidates.shape[0])
    if scale is not None and tuple(scale.shape) != expected:
        raise ValueError(f"scale must have shape (batch, num_candidates) = {expected}, got {tuple(scale.shape)}.")


class GaussianMixtureRankClassifier(nn.Module):
    """Diagonal-covariance Gaussian mixture whose component r models difference vectors of rank r.

    log p(d, z=r) = log pi_r - 1/2 [D log(2 pi) + sum_h log_vars[r,h] + sum_h (d_h - means[r,h])^2 / exp(log_vars[r,h])]
    with pi = softmax(mixing_logits). The posterior over ranks is the softmax of log p(d, z=r) over r.

    Args:
        num_ranks: N >= 2 components, rank N-1 = translation.
        dim: D, the embedding dimension.
        generator: optional torch.Generator for the initial noise.

    Parameters: `means (N, D)`, `log_vars (N, D)`, `mixing_logits (N,)`.

    Differences from the reference implementation: the reference (`gaussian_mixture_module`) initialises
    means ~ N(0, 1) and log-variances ~ N(0, 1), which is badly scaled for difference vectors of unit embeddings
    (per-dimension size ~ sqrt(2/D)); here means start near 0 and log_vars at log(2/D) (or the data's
    log-variance via `init_from_data`). The reference materialises a (B, Q, N, D) tensor; `log_joint` does not
    (`log_joint_naive` keeps that form for teaching). It is trained, as in the reference, by SGD on a
    label-smoothed cross-entropy (`losses.rank_cross_entropy`), not by closed-form EM.

    Book: :ref:`algorithm-gmm`, :ref:`fidelity-variance-floor`. Taught in: notebooks/03_ranks_and_gmm.ipynb
    """

    def __init__(self, num_ranks: int, dim: int, generator: torch.Generator | None = None):
        super().__init__()
        if num_ranks < 2:
            raise ValueError(f"num_ranks must be >= 2, got {num_ranks}.")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}.")
        self.num_ranks, self.dim = num_ranks, dim
        self.means = nn.Parameter(0.01 * torch.randn(num_ranks, dim, generator=generator))
        log_vars = math.log(2.0 / dim) + 0.1 * torch.randn(num_ranks, dim, generator=generator)
        self.log_vars = nn.Parameter(log_vars)
        self.mixing_logits = nn.Parameter(torch.ones(num_ranks))

    @property
    def mixing_weights(self) -> torch.Tensor:
        """pi = softmax(mixing_logits), shape (N,)."""
        return torch.softmax(self.mixing_logits, dim=0)

    @torch.no_grad()
    def init_from_data(self, diffs: torch.Tensor, noise: float = 0.1, generator: torch.Generator | None = None):
        """Rescale the parameters to the data: means ~ noise * std * N(0,1), log_vars ~ log var(diffs) + noise * N(0,1).

        Variances are floored at ``VAR_FLOOR`` times their median (the tiny warm-up never reaches it: its
        smallest per-dimension variance is ~0.6 x the median).

        Args:
            diffs: (n, D) example difference vectors q - c, n >= 2.
            noise: relative size of the symmetry-breaking noise.
            generator: optional torch.Generator.

        Returns:
            self, for chaining.
        """
        if diffs.dim() != 2 or diffs.shape[1] != self.dim or diffs.shape[0] < 2:
            raise ValueError(f"diffs must have shape (n >= 2, {self.dim}), got {tuple(diffs.shape)}.")
        var = diffs.detach().to(self.means.dtype).var(dim=0)
        # Variance floor (like sklearn's reg_covar): a pretrained backbone can have dead output dimensions
        # (MiniLM: 3 of 384 are always 0), where var ~ 0 makes (mu_h)^2 / var_h explode to ~1e8 after one step.
        var = var.clamp_min(max(float(var.median()) * VAR_FLOOR, 1e-12))
        shape = (self.num_ranks, self.dim)
        noise_m = torch.randn(shape, generator=generator).to(self.means)
        noise_v = torch.randn(shape, generator=generator).to(self.means)
        self.means.copy_(noise * var.sqrt() * noise_m)
        self.log_vars.copy_(var.log() + noise * noise_v)
        self.mixing_logits.fill_(1.0)
        return self

    def _log_norm(self, dtype: torch.dtype) -> torch.Tensor:
        """log pi_r - 1/2 (D log 2 pi + sum_h log_vars[r, h]), shape (N,)."""
        log_pi = torch.log_softmax(self.mixing_logits.to(dtype), dim=0)
        return log_pi - 0.5 * (self.dim * math.log(2 * math.pi) + self.log_vars.to(dtype).sum(dim=1))

    def log_joint_diffs(self, diffs: torch.Tensor) -> torch.Tensor:
        """log p(d, z=r) for explicit difference vectors, by broadcasting.

        Args:
            diffs: (n, D) difference vectors (detached here).

        Returns:
            (n, N) joint log-densities.
        """
        dtype = _compute_dtype(diffs, self.means)
        with torch.autocast(device_type=diffs.device.type, enabled=False):
            d = diffs.detach().to(dtype)
            inv_var = torch.exp(-self.log_vars.to(dtype))
            maha = ((d[:, None, :] - self.means.to(dtype)) ** 2 * inv_var).sum(dim=-1)
            return self._log_norm(dtype) - 0.5 * maha

    def log_joint_naive(self, queries, candidates, scale=None) -> torch.Tensor:
        """Reference form of `log_joint`: builds d_ij and the (B, Q, N, D) tensor. For teaching and tests only.

        Args:
            queries: (B, D). candidates: (Q, D). scale: optional (B, Q), d_ij = scale_ij * (q_i - c_j).

        Returns:
            (B, Q, N) joint log-densities log p(d_ij, z=r).
        """
        _check_pairs(queries, candidates, scale, self.dim)
        diffs = queries.detach()[:, None, :] - candidates.detach()[None, :, :]
        if scale is not None:
            diffs = scale.detach()[..., None] * diffs
        batch, num_cand = diffs.shape[:2]
        return self.log_joint_diffs(diffs.reshape(batch * num_cand, self.dim)).reshape(batch, num_cand, -1)

    def _log_joint_bnq(self, queries, candidates, scale=None) -> torch.Tensor:
        """`log_joint` laid out (B, N, Q), the layout its one big matmul writes (see `log_joint`)."""
        _check_pairs(queries, candidates, scale, self.dim)
        dtype = _compute_dtype(queries, candidates, self.means)
        with torch.autocast(device_type=queries.device.type, enabled=False):
            q, c = queries.detach().to(dtype), candidates.detach().to(dtype)
            mu, inv_var = self.means.to(dtype), torch.exp(-self.log_vars.to(dtype))  # (N, D) each
            mu_w, log_norm = mu * inv_var, self._log_norm(dtype)[:, None]  # (N, D), (N, 1)
            batch, num_cand, n = q.shape[0], c.shape[0], self.num_ranks
            qw = (q[:, None, :] * inv_var).reshape(batch * n, -1)  # (B*N, D): row (i, r) is q_i * w_r
            # c^2.w_r and c.(mu*w)_r, (Q, N) each, by blocks of rows: no (Q, D) temporary
            blocks = [((b * b) @ inv_var.T, b @ mu_w.T) for b in c.split(_ROW_BLOCK)]
            c2w, cmw = (torch.cat(parts) for parts in zip(*blocks))
            if scale is None:
                # -maha/2 = -sum_h w (q - mu)^2 / 2 - (c^2.w)/2 - c.(mu*w) + (q*w).c: one matmul, in-place rest
                own = ((q[:, None, :] - mu) ** 2 * inv_var).sum(dim=-1)  # (B, N)
                rows = (log_norm.T - 0.5 * own).reshape(batch * n, 1)
                out = torch.addmm(rows, qw, c.T).view(batch, n, num_cand)
                out = out.sub_((0.5 * c2w + cmw).T)
                # maha >= 0, i.e. log p <= log_norm: removes float cancellation when q ~ c (self pairs)
                return out.clamp_max_(log_norm)
            # A weighted squared distance is >= 0; clamping removes float cancellation when q ~ c (self pairs).
            dist = torch.addmm(((q * q) @ inv_var.T).reshape(batch * n, 1), qw, c.T, alpha=-2)
            dist = dist.view(batch, n, num_cand).add_(c2w.T).clamp_min_(0)
            lin = (q @ mu_w.T)[:, :, None] - cmw.T  # (B, N, Q)
            s = scale.detach().to(dtype)[:, None, :]
            return log_norm - 0.5 * (s * s * dist - 2 * s * lin + (mu * mu_w).sum(dim=1)[:, None])

    def log_joint(self, queries, candidates, scale=None) -> torch.Tensor:
        """log p(d_ij, z=r) for all query/candidate pairs without building (B, Q, N, D).

        With w = exp(-log_vars) and x = q_i - c_j, the Mahalanobis term is
        s^2 [q^2.w + c^2.w - 2 (q*w).c] - 2 s [q.(mu*w) - c.(mu*w)] + mu^2.w. Its only O(B Q N D) part is
        (q*w).c: ONE (B*N, D) @ (D, Q) matmul, whose (B*N, Q) result receives the other terms in place;
        the rest costs O((B + Q) N D). Without a scale the q-terms are summed exactly as sum w (q - mu)^2.
        Peak extra memory: two (B, Q, N) buffers (the matmul's and the returned layout), also in `forward`.

        Args:
            queries: (B, D) query embeddings (detached here: stop-gradient to the encoder).
            candidates: (Q, D) candidate embeddings (detached here).
            scale: optional (B, Q) per-pair factor s_ij (1 - lambda_ij in the GMM warm-up).

        Returns:
            (B, Q, N) joint log-densities; gradients reach only means, log_vars and mixing_logits.
        """
        return self._log_joint_bnq(queries, candidates, scale).transpose(1, 2).contiguous()

    def forward(self, queries, candidates, scale=None) -> torch.Tensor:
        """Log posteriors log gamma(r | d_ij) = log_softmax_r log p(d_ij, z=r).

        The softmax runs over the rank axis of the (B, N, Q) matmul layout (contiguous in Q, so vectorised),
        before the one copy into the returned layout.

        Args:
            queries: (B, D). candidates: (Q, D). scale: optional (B, Q).

        Returns:
            (B, Q, N) log posteriors.
        """
        with torch.autocast(device_type=queries.device.type, enabled=False):
            # the (B, N, Q) log-likelihood is freed once its softmax exists: at most two outputs live
            log_post = torch.log_softmax(self._log_joint_bnq(queries, candidates, scale), dim=1)
            return log_post.transpose(1, 2).contiguous()

    @torch.no_grad()
    def predict(self, queries, candidates, scale=None) -> torch.Tensor:
        """Hard ranks z_ij = argmax_r gamma(r | d_ij), shape (B, Q), long."""
        return self._log_joint_bnq(queries, candidates, scale).argmax(dim=1)
