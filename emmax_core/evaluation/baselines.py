"""Training-free reference encoders for the experiment's tables.

:class:`BagOfSubwordsEncoder` embeds a sentence as the L2-normalised one-hot counts of its subword ids (the
tiny tokenizer's vocabulary), so cosine similarity measures shared subwords. It needs no training, and
it is the floor every trained encoder must beat: related languages that share spelling score well, and a
script that shares no subword with English scores at chance.

Taught in: notebooks/07_evaluation.ipynb.
"""

from __future__ import annotations

import numpy as np


class BagOfSubwordsEncoder:
    """Bag-of-subwords sentence vectors with the ``encode`` signature of :class:`~emmax_core.SentenceEncoder`.

    Args:
        tokenizer: a Hugging Face tokenizer (e.g. ``emmax_core.tokenizer.get_tokenizer("tiny")``).
        max_length: tokens kept per sentence.
    """

    def __init__(self, tokenizer, max_length: int = 128):
        self.tokenizer, self.max_length = tokenizer, max_length
        self.special = set(tokenizer.all_special_ids)

    def get_sentence_embedding_dimension(self) -> int:
        """Vocabulary size ``V`` (the embedding dimension)."""
        return len(self.tokenizer)

    def encode(self, sentences, batch_size: int = 256, show_progress_bar=None, convert_to_numpy: bool = True,
               convert_to_tensor: bool = False, normalize_embeddings: bool = True, device=None):
        """Embed sentences as subword counts.

        Args:
            sentences: one ``str`` or a list of ``n`` strings.

        Returns:
            ``(V,)`` for one string, else ``(n, V)`` float32 (a torch tensor if ``convert_to_tensor``).
        """
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        out = np.zeros((len(texts), self.get_sentence_embedding_dimension()), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            ids = self.tokenizer(texts[start:start + batch_size], truncation=True,
                                 max_length=self.max_length)["input_ids"]
            for row, seq in enumerate(ids, start):
                kept = [i for i in seq if i not in self.special]
                np.add.at(out[row], kept, 1.0)
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        if convert_to_tensor:
            import torch

            out = torch.from_numpy(out)
        return out[0] if single else out
