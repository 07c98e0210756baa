"""The FC ablation of the rank classifier: shapes, posteriors, chunking and the stop-gradient to the encoder."""

import torch

from emmax_core.fc_classifier import FullyConnectedRankClassifier


def _unit(n, d, gen):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1)



