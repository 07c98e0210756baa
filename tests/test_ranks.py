"""Tests for emmax_core.ranks: temperatures, rank means, interpolation labels, clamping."""

import pytest
import torch

from emmax_core.gmm import GaussianMixtureRankClassifier
from emmax_core.ranks import RankMeans, clamp_ranks, interpolate, interpolation_labels, rank_temperatures


@pytest.mark.parametrize(
    "num_ranks, expected",
    [(2, [0.05]), (3, [0.1, 0.05]), (4, [0.1, 0.075, 0.05]),
     (8, [0.1 - r * 0.05 / 6 for r in range(7)])],
)
def test_rank_temperatures(num_ranks, expected):
    temps = rank_temperatures(num_ranks)
    assert temps.shape == (num_ranks - 1,)
    torch.testing.assert_close(temps, torch.tensor(expected))


def test_rank_temperatures_bad_input():
    with pytest.raises(ValueError, match="num_ranks"):
        rank_temperatures(1)
    with pytest.raises(ValueError, match="positive"):
        rank_temperatures(4, tau_low=0.0)
    torch.testing.assert_close(rank_temperatures(2, tau_low=0.07), torch.tensor([0.07]))


def test_rank_means_init_assign_and_order():
    sims = torch.tensor([[0.1, 0.2, 0.5], [0.6, 0.9, 0.95]])
    labels = torch.tensor([[0, 0, 1], [1, 2, -1]])
    rm = RankMeans(3, ema=0.5)
    with pytest.raises(RuntimeError, match="init_from"):
        rm.assign(sims)
    rm.init_from(sims, labels)
    torch.testing.assert_close(rm.rank_means, torch.tensor([0.15, 0.55, 0.9]))
    assert rm.is_ordered()
    assigned = rm.assign(torch.tensor([[-1.0, 0.34, 0.36], [0.8, 2.0, 0.55]]))
    assert assigned.tolist() == [[0, 0, 1], [2, 2, 1]]


def test_rank_means_ema_only_present_ranks():
    rm = RankMeans(3, ema=0.1)
    rm.init_from(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0, 1, 2]))
    rm.update(torch.tensor([0.2, 0.4, 0.9]), torch.tensor([0, 0, -1]))
    torch.testing.assert_close(rm.rank_means, torch.tensor([0.9 * 0.0 + 0.1 * 0.3, 0.5, 1.0]))
    rm.rank_means[1] = 2.0
    assert not rm.is_ordered()


def test_rank_means_first_update_initialises_and_state_dict():
    rm = RankMeans(2, ema=0.001)
    rm.update(torch.tensor([0.1, 0.8]), torch.tensor([0, 1]))
    torch.testing.assert_close(rm.rank_means, torch.tensor([0.1, 0.8]))
    fresh = RankMeans(2)
    fresh.load_state_dict(rm.state_dict())
    assert bool(fresh.initialized) and fresh.assign(torch.tensor([0.7])).item() == 1


def test_rank_means_errors():
    rm = RankMeans(3)
    with pytest.raises(ValueError, match=r"ranks \[2\]"):
        rm.init_from(torch.tensor([0.1, 0.5]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_ranks"):
        rm.init_from(torch.tensor([0.1]), torch.tensor([3]))
    with pytest.raises(ValueError, match="ema"):
        RankMeans(3, ema=0.0)


def test_interpolation_labels_buckets():
    lam = torch.tensor([[0.0, 0.1, 0.25, 0.49], [0.5, 0.74, 0.75, 1.0]])
    labels = interpolation_labels(lam, torch.ones(4))
    assert labels.tolist() == [[0, 0, 1, 1], [2, 2, 3, 3]]
    # pi = (0.5, 0.25, 0.25) puts boundaries at 0.5 and 0.75
    logits = torch.log(torch.tensor([0.5, 0.25, 0.25]))
    assert interpolation_labels(torch.tensor([0.3, 0.6, 0.8]), logits).tolist() == [0, 1, 2]


def test_interpolate_matches_explicit_mixture():
    gen = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(3, 6, generator=gen, dtype=torch.float64), dim=1)
    c = torch.nn.functional.normalize(torch.randn(4, 6, generator=gen, dtype=torch.float64), dim=1)
    lam, scale, sims = interpolate(q, c, generator=gen)
    mixed = lam[..., None] * q[:, None, :] + (1 - lam[..., None]) * c[None]  # (B, Q, D) c~_ij
    torch.testing.assert_close(sims, (q[:, None, :] * mixed).sum(-1).float())
    torch.testing.assert_close(scale, 1 - lam)
    gmm = GaussianMixtureRankClassifier(4, 6).double()
    explicit = gmm.log_joint_diffs((q[:, None, :] - mixed).reshape(-1, 6)).reshape(3, 4, 4)
    torch.testing.assert_close(gmm.log_joint(q, c, scale.double()), explicit)
    with pytest.raises(ValueError, match="lam"):
        interpolate(q, c, lam=torch.zeros(4, 3))


def test_clamp_ranks():
    labels = torch.zeros(3, 5, dtype=torch.long)
    out = clamp_ranks(labels, torch.tensor([0, 1, -1]), torch.tensor([3, -1, 4]), num_ranks=4)
    expected = torch.zeros(3, 5, dtype=torch.long)
    expected[0, 0] = expected[0, 3] = expected[1, 1] = expected[2, 4] = 3
    assert torch.equal(out, expected)
    assert labels.sum() == 0  # not modified in place
    assert torch.equal(clamp_ranks(labels, None, None, 4), labels)
    with pytest.raises(ValueError, match="partner_index"):
        clamp_ranks(labels, None, torch.tensor([5, 0, 0]), 4)
