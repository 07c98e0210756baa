"""Tests for emmax_core.losses against explicit loops, closed forms and the fairseq formulas."""

import math

import pytest
import torch
import torch.nn.functional as F

from emmax_core.losses import (
    InfoNCELoss,
    RankCrossEntropyLoss,
    RankingInfoNCELoss,
    info_nce,
    mask_tokens,
    mlm_loss,
    rank_cross_entropy,
    ranking_info_nce,
)
from emmax_core.ranks import rank_temperatures


def _loop_ranking_info_nce(sims, labels, temps, exclude_empty_rows=False):
    """The ranking InfoNCE of the book page "The EMMA-X algorithm", per anchor and candidate, in plain Python sums."""
    batch, num_cand = sims.shape
    total = sims.sum() * 0
    for r in range(1, len(temps) + 1):
        if not (labels == r).any():
            continue
        terms = []
        for i in range(batch):
            shift = sims[i].max().detach()
            e = [torch.exp((sims[i, j] - shift) / temps[r - 1]) for j in range(num_cand)]
            pos = [j for j in range(num_cand) if labels[i, j] == r]
            den = sum(e[k] for k in range(num_cand) if 0 <= labels[i, k] <= r)
            if not pos:
                if not exclude_empty_rows:
                    terms.append(-math.log(1e-7) + 0 * sims[i, 0])
                continue
            mean_p = sum(e[j] / den for j in pos) / len(pos)
            terms.append(-torch.log(mean_p + 1e-7))
        total = total + sum(terms) / len(terms)
    return total


def _random_case(seed, batch=5, num_cand=9, num_ranks=4):
    gen = torch.Generator().manual_seed(seed)
    sims = (2 * torch.rand(batch, num_cand, generator=gen, dtype=torch.float64) - 1).requires_grad_(True)
    labels = torch.randint(0, num_ranks, (batch, num_cand), generator=gen)
    labels[torch.arange(batch), torch.arange(batch)] = -1  # self keys
    labels[labels == 2] = 1 if seed % 2 else 2  # odd seeds: rank 2 absent -> skipped
    labels[0, labels[0] == num_ranks - 1] = 0  # row 0 has no top-rank positive
    return sims, labels, rank_temperatures(num_ranks).double()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("exclude_empty_rows", [False, True])
def test_ranking_info_nce_matches_loop_values_and_grads(seed, exclude_empty_rows):
    sims, labels, temps = _random_case(seed)
    fast = ranking_info_nce(sims, labels, temps, exclude_empty_rows)
    (g_fast,) = torch.autograd.grad(fast, sims)
    slow = _loop_ranking_info_nce(sims, labels, temps, exclude_empty_rows)
    (g_slow,) = torch.autograd.grad(slow, sims)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g_fast, g_slow, rtol=1e-8, atol=1e-10)
    assert torch.all(g_fast[labels == -1] == 0)


def test_ranking_info_nce_textbook():
    # one anchor, candidates with sims 0.9 / 0.5 / 0.1 of ranks 2 / 1 / 0, N = 3, taus (0.1, 0.05):
    # L_1 = -log(e^5 / (e^5 + e^1)) = log(1 + e^-4); L_2 = log(1 + e^-8 + e^-16) (plus the 1e-7 terms)
    sims = torch.tensor([[0.9, 0.5, 0.1]], dtype=torch.float64)
    loss = ranking_info_nce(sims, torch.tensor([[2, 1, 0]]), [0.1, 0.05])
    p1, p2 = 1 / (1 + math.exp(-4)), 1 / (1 + math.exp(-8) + math.exp(-16))
    assert loss.item() == pytest.approx(-math.log(p1 + 1e-7) - math.log(p2 + 1e-7), rel=1e-12)
    assert loss.item() == pytest.approx(0.018149 + 0.000335, abs=2e-6)


def test_two_ranks_equals_info_nce():
    gen = torch.Generator().manual_seed(4)
    sims = 2 * torch.rand(6, 10, generator=gen, dtype=torch.float64) - 1
    partner = torch.tensor([3, 4, 5, 0, 1, 2])
    labels = torch.zeros(6, 10, dtype=torch.long)
    labels[torch.arange(6), partner] = 1
    labels[torch.arange(6), torch.arange(6)] = -1
    mask = labels == -1
    ranking = ranking_info_nce(sims, labels, rank_temperatures(2).double())
    plain = info_nce(sims, partner, 0.05, mask=mask)
    # exact identity, per row: log(p + 1e-7) with p = exp(-info_nce of that row)
    p = torch.stack([torch.exp(-info_nce(sims[i:i + 1], partner[i:i + 1], 0.05, mask[i:i + 1])) for i in range(6)])
    torch.testing.assert_close(ranking, -torch.log(p + 1e-7).mean())
    # and when partners are likely (p ~ 1) the 1e-7 is invisible
    easy = sims.clone()
    easy[torch.arange(6), partner] = sims.max(1).values + 0.3
    torch.testing.assert_close(ranking_info_nce(easy, labels, [0.05]), info_nce(easy, partner, 0.05, mask),
                               rtol=1e-5, atol=1e-6)
    explicit = -torch.stack([torch.log_softmax(sims[i][~mask[i]] / 0.05, 0)[partner[i] - (partner[i] > i).long()]
                             for i in range(6)]).mean()
    torch.testing.assert_close(plain, explicit)
    assert InfoNCELoss(0.05)(sims, partner, mask) == plain


def test_ranking_info_nce_edge_cases():
    sims = torch.zeros(2, 3, requires_grad=True)
    loss = ranking_info_nce(sims, torch.zeros(2, 3, dtype=torch.long), [0.1, 0.05])
    loss.backward()
    assert loss.item() == 0 and torch.all(sims.grad == 0)
    big = (torch.randn(4, 50) * 3).requires_grad_(True)  # unnormalised sims, tiny temperature: still finite
    labels = torch.randint(0, 4, (4, 50))
    out = ranking_info_nce(big, labels, [0.01, 0.01, 0.01])
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(big.grad).all()
    with pytest.raises(ValueError, match="labels"):
        ranking_info_nce(sims, torch.full((2, 3), 3), [0.1, 0.05])
    module = RankingInfoNCELoss(num_ranks=3)
    torch.testing.assert_close(module.temperatures, torch.tensor([0.1, 0.05]))


def test_rank_cross_entropy_matches_fairseq_and_soft_targets():
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 5, (3, 4), generator=gen)
    eps, n = 0.3, 5
    lprob = torch.log_softmax(logits, -1)
    nll = -lprob.gather(-1, labels[..., None]).sum()
    smooth = -lprob.sum()
    fairseq = ((1 - eps - eps / (n - 1)) * nll + eps / (n - 1) * smooth) / labels.numel()
    target = torch.full((3, 4, 5), eps / (n - 1), dtype=torch.float64).scatter(-1, labels[..., None], 1 - eps)
    soft = -(target * lprob).sum(-1).mean()
    ours = rank_cross_entropy(lprob, labels, eps)
    torch.testing.assert_close(ours, fairseq)
    torch.testing.assert_close(ours, soft)
    torch.testing.assert_close(rank_cross_entropy(logits, labels, eps), ours)  # log_joint input works too
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[0] = True
    labels_ign = labels.clone()
    labels_ign[1, 0] = -1
    kept = rank_cross_entropy(lprob, labels_ign, eps, mask=mask)
    keep = ~mask & (labels_ign >= 0)
    torch.testing.assert_close(kept, -(target * lprob).sum(-1)[keep].mean())
    assert RankCrossEntropyLoss(eps)(lprob, labels) == ours


def _fairseq_smoothed_nll(log_probs, target, eps):
    """The formula the losses used before torch's cross-entropy: 1 - eps on the target, eps / (C - 1) elsewhere."""
    eps_i = eps / (log_probs.shape[-1] - 1)
    nll = -log_probs.gather(-1, target[:, None]).squeeze(-1)
    return (1.0 - eps - eps_i) * nll - eps_i * log_probs.sum(dim=-1)


@pytest.mark.parametrize("num_classes", [2, 3, 4, 7, 50])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 0.5])
def test_smoothed_losses_equal_the_fairseq_formula(num_classes, eps):
    gen = torch.Generator().manual_seed(num_classes * 100 + int(eps * 10))
    logits = (3 * torch.randn(4, 6, num_classes, generator=gen, dtype=torch.float64)).requires_grad_(True)
    labels = torch.randint(0, num_classes, (4, 6), generator=gen)
    labels[0, :3] = -1  # ignored pairs
    mask = torch.rand(4, 6, generator=gen) < 0.3
    keep = (labels >= 0) & ~mask
    oracle = _fairseq_smoothed_nll(torch.log_softmax(logits[keep], -1), labels[keep], eps).mean()
    ours = rank_cross_entropy(logits, labels, eps, mask=mask)
    torch.testing.assert_close(ours, oracle, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(ours, logits)[0], torch.autograd.grad(oracle, logits)[0],
                               rtol=1e-10, atol=1e-12)
    mlm_labels = labels.masked_fill(~keep, -100)
    torch.testing.assert_close(mlm_loss(logits, mlm_labels, eps), oracle, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mlm_loss(logits[keep], labels[keep], eps), oracle, rtol=1e-12, atol=1e-12)
    half = rank_cross_entropy(logits.half(), labels, eps, mask=mask)  # half precision is upcast, as before
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, _fairseq_smoothed_nll(
        torch.log_softmax(logits.half()[keep].float(), -1), labels[keep], eps).mean())


def test_smoothing_that_outweighs_the_label_is_refused():
    # two ranks with eps = 0.6 would put 0.4 on the label and 0.6 on the other rank
    with pytest.raises(ValueError, match="rank_confidence=0.6 gives the label less weight"):
        rank_cross_entropy(torch.zeros(1, 2, 2), torch.tensor([[0, 1]]), 0.6)
    assert rank_cross_entropy(torch.zeros(1, 2, 2), torch.tensor([[0, 1]]), 0.5).item() == pytest.approx(math.log(2))


def test_rank_cross_entropy_textbook():
    # uniform posteriors over 4 ranks: every term is -log(1/4) whatever the smoothing
    lp = torch.full((1, 1, 4), math.log(0.25))
    assert rank_cross_entropy(lp, torch.tensor([[2]]), 0.3).item() == pytest.approx(math.log(4))
    with pytest.raises(ValueError, match="rank_confidence"):
        rank_cross_entropy(lp, torch.tensor([[2]]), 1.0)


def test_mlm_loss():
    gen = torch.Generator().manual_seed(6)
    logits = torch.randn(2, 5, 11, generator=gen)
    labels = torch.full((2, 5), -100)
    labels[0, 1], labels[1, 3] = 4, 7
    lprob = torch.log_softmax(logits, -1)
    eps = 0.1
    manual = torch.stack([-(1 - eps) * lprob[0, 1, 4] - eps / 10 * (lprob[0, 1].sum() - lprob[0, 1, 4]),
                          -(1 - eps) * lprob[1, 3, 7] - eps / 10 * (lprob[1, 3].sum() - lprob[1, 3, 7])]).mean()
    torch.testing.assert_close(mlm_loss(logits, labels, eps), manual)
    torch.testing.assert_close(mlm_loss(logits, labels, 0.0), F.cross_entropy(logits.view(-1, 11), labels.view(-1)))
    assert mlm_loss(logits, torch.full((2, 5), -100)).item() == 0


def test_mask_tokens():
    gen = torch.Generator().manual_seed(7)
    special = [0, 1, 2, 3]
    ids = torch.randint(4, 50, (200, 64), generator=gen)
    ids[:, 0], ids[:, -1], ids[:10, 40:] = 0, 2, 1  # <s>, </s>, padding
    out, labels = mask_tokens(ids, special_ids=special, mask_token_id=49, vocab_size=50, mask_prob=0.3,
                              generator=gen)
    picked = labels != -100
    assert not picked[:, 0].any() and not picked[:, -1].any() and not picked[:10, 40:].any()
    assert torch.equal(labels[picked], ids[picked]) and torch.equal(out[~picked], ids[~picked])
    share = picked.float().sum() / (ids > 3).float().sum()
    assert 0.27 < share < 0.33
    masked = (out[picked] == 49).float().mean()
    unchanged = (out[picked] == ids[picked]).float().mean()
    assert 0.77 < masked < 0.83 and 0.08 < unchanged < 0.13  # 10% kept (+ rare random hits of the same id)
    assert not torch.isin(out[picked & (out != 49)], torch.tensor(special)).any()
    with pytest.raises(ValueError, match="tokenizer"):
        mask_tokens(ids)
