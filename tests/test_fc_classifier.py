"""The FC ablation of the rank classifier: shapes, posteriors, chunking and the stop-gradient to the encoder."""

import torch

from emmax_core.fc_classifier import FullyConnectedRankClassifier


def _unit(n, d, gen):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1)


def test_fully_connected_classifier():
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(0)
    fc = FullyConnectedRankClassifier(4, 8, hidden=16)
    q, c = _unit(5, 8, gen).float(), _unit(9, 8, gen).float().requires_grad_(True)
    scale = torch.rand(5, 9, generator=gen)
    out = fc(q, c, scale)
    assert out.shape == (5, 9, 4)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(5, 9))
    fc.chunk_elements = 1  # one query row per chunk must give the same answer
    torch.testing.assert_close(fc(q, c, scale), out)
    out[..., 0].sum().backward()
    assert c.grad is None and fc.mlp[0].weight.grad.abs().sum() > 0
    assert fc.predict(q, c).shape == (5, 9) and fc.mixing_logits.shape == (4,)
    assert FullyConnectedRankClassifier(3, 8, hidden=0)(q, c).shape == (5, 9, 3)
