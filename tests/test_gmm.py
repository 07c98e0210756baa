"""Tests for emmax_core.gmm: expanded log-likelihood == naive broadcast == scikit-learn's diagonal GMM."""

import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from emmax_core.gmm import GaussianMixtureRankClassifier


def _unit(n, d, gen):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1)


@pytest.fixture
def setup():
    gen = torch.Generator().manual_seed(0)
    gmm = GaussianMixtureRankClassifier(4, 16, generator=gen).double()
    with torch.no_grad():  # spread the components so posteriors are far from uniform
        gmm.means.normal_(0, 0.2, generator=gen)
        gmm.log_vars.normal_(math.log(2 / 16), 0.5, generator=gen)
        gmm.mixing_logits.normal_(0, 1, generator=gen)
    return gmm, _unit(5, 16, gen), _unit(7, 16, gen), torch.rand(5, 7, generator=gen, dtype=torch.float64)


def _sklearn_gmm(gmm):
    sk = GaussianMixture(n_components=gmm.num_ranks, covariance_type="diag")
    var = gmm.log_vars.detach().exp().numpy()
    sk.means_ = gmm.means.detach().numpy()
    sk.covariances_ = var
    sk.precisions_cholesky_ = 1.0 / np.sqrt(var)
    sk.weights_ = torch.softmax(gmm.mixing_logits.detach(), 0).numpy()
    return sk


@pytest.mark.parametrize("use_scale", [False, True])
def test_expanded_equals_naive_float64(setup, use_scale):
    gmm, q, c, scale = setup
    scale = scale if use_scale else None
    fast, naive = gmm.log_joint(q, c, scale), gmm.log_joint_naive(q, c, scale)
    assert fast.shape == (5, 7, 4) and fast.dtype == torch.float64
    torch.testing.assert_close(fast, naive, rtol=0, atol=1e-10)


@pytest.mark.parametrize("use_scale", [False, True])
def test_matches_sklearn(setup, use_scale):
    gmm, q, c, scale = setup
    diffs = q[:, None, :] - c[None, :, :]
    if use_scale:
        diffs = scale[..., None] * diffs
    x = diffs.reshape(-1, 16).numpy()
    sk = _sklearn_gmm(gmm)
    log_joint = gmm.log_joint(q, c, scale if use_scale else None).reshape(-1, 4)
    np.testing.assert_allclose(log_joint.detach().numpy(), sk._estimate_weighted_log_prob(x), atol=1e-9)
    np.testing.assert_allclose(torch.logsumexp(log_joint, -1).detach().numpy(), sk.score_samples(x), atol=1e-9)
    post = gmm(q, c, scale if use_scale else None).exp().reshape(-1, 4)
    np.testing.assert_allclose(post.detach().numpy(), sk.predict_proba(x), atol=1e-9)
    pred = gmm.predict(q, c, scale if use_scale else None).reshape(-1).numpy()
    np.testing.assert_array_equal(pred, sk.predict(x))


def test_float32_close_to_float64(setup):
    gmm, q, c, scale = setup
    ref = gmm.log_joint(q, c, scale)
    out = gmm.float().log_joint(q.float(), c.float(), scale.float())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-3)


def test_autocast_stays_float32():
    gen = torch.Generator().manual_seed(1)
    gmm = GaussianMixtureRankClassifier(3, 8, generator=gen)
    q, c = _unit(4, 8, gen).float(), _unit(6, 8, gen).float()
    ref = gmm(q, c)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = gmm(q.bfloat16(), c.bfloat16())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, gmm(q.bfloat16().float(), c.bfloat16().float()))
    assert (out - ref).abs().max() < 0.5  # only the bf16 rounding of the inputs differs


def test_textbook_one_dimension():
    gmm = GaussianMixtureRankClassifier(2, 1)
    with torch.no_grad():
        gmm.means.copy_(torch.tensor([[0.0], [1.0]]))
        gmm.log_vars.zero_()
        gmm.mixing_logits.zero_()
    q, c = torch.tensor([[0.5]]), torch.tensor([[0.0]])
    expected = math.log(0.5) - 0.5 * (math.log(2 * math.pi) + 0.25)
    torch.testing.assert_close(gmm.log_joint(q, c), torch.full((1, 1, 2), expected))
    torch.testing.assert_close(gmm(q, c).exp(), torch.full((1, 1, 2), 0.5))
    # scale 0.4 moves d to 0.2, nearer component 0: odds exp(0.5 * ((0.2 - 1)^2 - 0.2^2)) = exp(0.3)
    post = gmm(q, c, torch.tensor([[0.4]])).exp()[0, 0]
    torch.testing.assert_close(post[0] / post[1], torch.tensor(math.exp(0.3)))


def test_stop_gradient_and_param_grads(setup):
    gmm, q, c, scale = setup
    q, c = q.clone().requires_grad_(True), c.clone().requires_grad_(True)
    gmm(q, c, scale)[..., 0].sum().backward()
    assert q.grad is None and c.grad is None
    for p in (gmm.means, gmm.log_vars, gmm.mixing_logits):
        assert p.grad is not None and p.grad.abs().sum() > 0


@pytest.mark.parametrize("use_scale", [False, True])
def test_gradients_match_naive(setup, use_scale):
    gmm, q, c, scale = setup
    scale = scale if use_scale else None
    grads = []
    for fn in (gmm.log_joint, gmm.log_joint_naive):
        gmm.zero_grad()
        torch.log_softmax(fn(q, c, scale), -1)[..., 1].sum().backward()
        grads.append([p.grad.clone() for p in gmm.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)


def test_init_from_data_scale():
    gen = torch.Generator().manual_seed(2)
    diffs = 0.05 * torch.randn(4000, 8, generator=gen)
    gmm = GaussianMixtureRankClassifier(4, 8).init_from_data(diffs, noise=0.0)
    torch.testing.assert_close(gmm.log_vars.detach(), diffs.var(0).log().expand(4, 8))
    assert gmm.means.abs().max() == 0
    torch.testing.assert_close(gmm.mixing_weights, torch.full((4,), 0.25))
    assert GaussianMixtureRankClassifier(4, 8).log_vars.mean().item() == pytest.approx(math.log(2 / 8), abs=0.1)


def test_dead_dimensions_get_a_variance_floor():
    # A pretrained backbone (MiniLM) has output dimensions that are 0 for every sentence: without a floor
    # their variance would be ~0 and the first Adam step on the means would blow the loss up to ~1e8.
    from emmax_core.gmm import VAR_FLOOR

    diffs = torch.randn(500, 6, generator=torch.Generator().manual_seed(0))
    diffs[:, 2] = 0.0
    gmm = GaussianMixtureRankClassifier(3, 6).init_from_data(diffs, noise=0.0)
    floor = math.log(VAR_FLOOR * float(diffs.var(0).median()))
    assert gmm.log_vars[:, 2].min().item() == pytest.approx(floor, rel=1e-5)
    torch.testing.assert_close(gmm.log_vars[:, 0], diffs.var(0)[0].log().expand(3))  # live dims untouched
    with torch.no_grad():
        gmm.means.add_(0.01)  # one optimiser-sized step
    assert gmm(diffs[:4], torch.zeros(4, 6)).isfinite().all()
    assert -gmm.log_joint(diffs[:4], torch.zeros(4, 6)).max().item() < 1e4


def test_predict_and_forward_agree_with_log_joint(setup):
    gmm, q, c, _ = setup
    log_joint = gmm.log_joint(q, c)
    torch.testing.assert_close(gmm(q, c), torch.log_softmax(log_joint, -1), rtol=0, atol=1e-12)
    assert gmm(q, c).is_contiguous() and log_joint.is_contiguous()
    torch.testing.assert_close(gmm.predict(q, c), log_joint.argmax(-1))


def test_self_pair_distance_not_negative():
    gmm = GaussianMixtureRankClassifier(2, 64)
    with torch.no_grad():
        gmm.log_vars.fill_(math.log(1e-4))
    q = torch.nn.functional.normalize(torch.randn(3, 64), dim=1)
    log_joint = gmm.log_joint(q, q)
    diag = log_joint[torch.arange(3), torch.arange(3)]
    assert torch.all(diag <= gmm._log_norm(torch.float32) + 1e-3)


def test_bad_shapes_raise():
    gmm = GaussianMixtureRankClassifier(3, 4)
    with pytest.raises(ValueError, match="queries"):
        gmm.log_joint(torch.zeros(2, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scale"):
        gmm.log_joint(torch.zeros(2, 4), torch.zeros(3, 4), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="num_ranks"):
        GaussianMixtureRankClassifier(1, 4)
