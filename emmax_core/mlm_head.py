"""The masked-language-model head the encoder adds for the MLM loss: RoBERTa's LM head on the shared backbone.

`SentenceEncoder(..., mlm=True)` owns one; `SentenceEncoder.mlm_logits` runs the backbone on masked ids
(`losses.mask_tokens`) and this head on the picked positions, and `losses.mlm_loss` scores the logits.

Taught in: notebooks/02_encoders_and_init.ipynb
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLMHead(nn.Module):
    """RoBERTa LM head (dense -> GELU -> LayerNorm -> vocabulary), decoder tied to the input embeddings.

    Args:
        hidden_size: H, the backbone's width. vocab_size: V. layer_norm_eps: the backbone's LayerNorm epsilon.

    Differences from the reference implementation: the reference's head is probably untied;
    tying saves vocab x H parameters (256M for xlm-roberta-large) and is RoBERTa's own choice.

    Taught in: notebooks/02_encoders_and_init.ipynb
    """

    def __init__(self, hidden_size: int, vocab_size: int, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden_states: torch.Tensor, decoder_weight: torch.Tensor) -> torch.Tensor:
        """Map `(batch, seq, H)` token states to `(batch, seq, vocab)` logits with the `(vocab, H)` embeddings."""
        x = self.layer_norm(F.gelu(self.dense(hidden_states)))
        return F.linear(x, decoder_weight, self.bias)
