"""`SentenceEncoder`: an HF backbone + pooling + optional projection + L2 norm, with ST-style `encode()`.

e(x) = normalize(W_d pool(h(x)) + b_d), where pool is the masked mean of the last hidden states ("mean")
or the reference's tanh pooler on `<s>` ("cls_pooler"), and W_d is the reference's extra dense layer
(`projection=True`). An optional RoBERTa LM head (:class:`~emmax_core.mlm_head.MLMHead`) shares the backbone
for the MLM loss. `encode`, `similarity`, `save_pretrained` and `from_pretrained` follow sentence-transformers'
conventions so the book's readers meet familiar behaviour. Book: :ref:`algorithm-encoder`, :ref:`fidelity-pooling`.

Left out on purpose: prompts, multi-process encoding, quantised outputs and `truncate_dim`.

Taught in: notebooks/02_encoders_and_init.ipynb
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import trange
from transformers import PreTrainedModel, XLMRobertaConfig, XLMRobertaModel

from .config import EncoderConfig
from .mlm_head import MLMHead
from .pretrained import check_pretrained_source, load_backbone
from .saving import CONFIG_NAME, model_card, package_version, saved_settings, swap_in
from .tokenizer import get_tokenizer

logger = logging.getLogger(__name__)
HEADS_NAME = "emmax_heads.safetensors"
POOLINGS = ("mean", "cls_pooler")


class SentenceEncoder(nn.Module):
    """Multilingual sentence encoder f_theta producing unit-norm embeddings `(batch, H)`.

    Args:
        backbone: an HF encoder (`XLMRobertaModel` or any `AutoModel`); must have a pooler for "cls_pooler".
        tokenizer: its tokenizer (fast tokenizers recommended).
        pooling: "mean" or "cls_pooler".
        projection: add the reference's extra Linear H -> H after pooling.
        max_length: truncation length in tokens.
        mlm: add an `MLMHead` (used by `mlm_logits`).

    Taught in: notebooks/02_encoders_and_init.ipynb
    """

    similarity_fn_name = "cosine"

    def __init__(self, backbone: PreTrainedModel, tokenizer, pooling: str = "mean", projection: bool = False,
                 max_length: int = 128, mlm: bool = False):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is invalid: use one of {list(POOLINGS)}")
        if pooling == "cls_pooler" and getattr(backbone, "pooler", None) is None:
            raise ValueError("pooling='cls_pooler' needs a backbone with a pooler: build it with "
                             "add_pooling_layer=True or use pooling='mean'")
        if max_length < 2:
            raise ValueError(f"max_length={max_length} is invalid: use >= 2 (room for <s> and </s>)")
        self.backbone, self.tokenizer, self.pooling = backbone, tokenizer, pooling
        self.max_length = max_length
        hidden = backbone.config.hidden_size
        self.projection = nn.Linear(hidden, hidden) if projection else None
        eps = getattr(backbone.config, "layer_norm_eps", 1e-5)
        vocab = backbone.get_input_embeddings().num_embeddings
        self.mlm_head = MLMHead(hidden, vocab, eps) if mlm else None

    @classmethod
    def from_config(cls, config: EncoderConfig, tokenizer=None) -> SentenceEncoder:
        """Build from an `EncoderConfig`: a random tiny XLM-R for backbone="tiny", else `AutoModel`.

        Args:
            config: the encoder section of an `EMMAXConfig`.
            tokenizer: reuse this tokenizer instead of `get_tokenizer(config.tokenizer)`.

        Taught in: notebooks/02_encoders_and_init.ipynb
        """
        if tokenizer is None:
            tokenizer = get_tokenizer(config.tokenizer, vocab_size=config.vocab_size)
        pooler = config.pooling == "cls_pooler"
        if config.backbone == "tiny":
            backbone = XLMRobertaModel(_tiny_backbone_config(config, tokenizer), add_pooling_layer=pooler)
        else:
            backbone = load_backbone(config.backbone, pooler)
        return cls(backbone, tokenizer, pooling=config.pooling, projection=config.projection,
                   max_length=config.max_length, mlm=config.mlm)

    @property
    def device(self) -> torch.device:
        """The device of the parameters."""
        return next(self.parameters()).device

    @property
    def max_seq_length(self) -> int:
        """Truncation length in tokens (sentence-transformers' name for `max_length`)."""
        return self.max_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.max_length = value

    def get_sentence_embedding_dimension(self) -> int:
        """Return the embedding size H."""
        return self.backbone.config.hidden_size

    def tokenize(self, texts: str | list[str]):
        """Tokenize with padding and truncation to `max_length`; returns a `BatchEncoding` of `(batch, seq)`."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                              return_token_type_ids=False, return_tensors="pt")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, normalize: bool = True,
                mlm_input_ids: torch.Tensor | None = None, mlm_attention_mask: torch.Tensor | None = None,
                mlm_positions: torch.Tensor | None = None):
        """Embed token ids `(batch, seq)` with mask `(batch, seq)` into `(batch, H)`, L2-normalised by default.

        With `mlm_input_ids` (masked ids `(batch', seq')`, their mask and the bool `mlm_positions`) it returns
        `(embeddings, mlm_logits)` from one call, the `(n_positions, vocab)` logits of :meth:`mlm_logits`: under
        DistributedDataParallel every parameter a step trains must be used inside the wrapped forward.
        """
        if mlm_input_ids is not None:
            return (self(input_ids, attention_mask, normalize),
                    self.mlm_logits(mlm_input_ids, mlm_attention_mask, positions=mlm_positions))
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "cls_pooler":
            pooled = out.pooler_output
        else:
            mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
            pooled = (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.projection is not None:
            pooled = self.projection(pooled)
        return F.normalize(pooled, dim=-1) if normalize else pooled

    def mlm_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   positions: torch.Tensor | None = None) -> torch.Tensor:
        """Masked-LM logits `(batch, seq, vocab)` from the shared backbone (needs `mlm=True`).

        With a bool `positions` mask `(batch, seq)` only those tokens go through the LM head and the result
        is `(n_positions, vocab)`: with 10% masking that skips ~90% of the vocabulary projection.
        """
        if self.mlm_head is None:
            raise ValueError("this encoder has no MLM head: build it with EncoderConfig(mlm=True)")
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if positions is not None:
            hidden = hidden[positions]
        return self.mlm_head(hidden, self.backbone.get_input_embeddings().weight)

    def encode(self, sentences: str | list[str], batch_size: int = 32, show_progress_bar: bool | None = None,
               convert_to_numpy: bool = True, convert_to_tensor: bool = False,
               normalize_embeddings: bool = True, device: str | torch.device | None = None):
        """Embed sentences with sentence-transformers' semantics.

        Args:
            sentences: one string (-> 1-D output `(H,)`) or a list of n strings (-> `(n, H)`).
            batch_size: sentences per forward pass; batches are sorted by length in tokens (little padding),
                the output keeps the input order.
            show_progress_bar: tqdm bar; None = shown when this logger is at INFO or DEBUG.
            convert_to_numpy: return a float32 numpy array (else a list of tensors).
            convert_to_tensor: return one tensor; wins over `convert_to_numpy`.
            normalize_embeddings: L2-normalise (always unit norm when True).
            device: move the model there first (default: where it is).

        Returns:
            `np.ndarray`, `torch.Tensor` or a list of tensors, as above. Runs in eval mode under
            `torch.inference_mode` and restores the previous training mode; the returned tensors are
            ordinary ones (usable with autograd).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} is invalid: use >= 1")
        single = isinstance(sentences, str)
        sentences = [sentences] if single else list(sentences)
        kinds = sorted({type(s).__name__ for s in sentences if not isinstance(s, str)})
        if kinds:
            raise ValueError(f"sentences must be a str or a list of str, got items of type {kinds}: pass text only")
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        if device is not None:
            self.to(device)
        ids, order = self._ids_by_length(sentences)
        chunks, was_training = [], self.training
        self.eval()
        try:
            with torch.inference_mode():  # no autograd bookkeeping at all (faster than no_grad)
                for start in trange(0, len(sentences), batch_size, desc="Batches", disable=not show_progress_bar):
                    input_ids, mask = self._pad([ids[i] for i in order[start:start + batch_size]])
                    emb = self(input_ids, mask, normalize=normalize_embeddings)
                    chunks.append(emb.float())
        finally:
            self.train(was_training)
        dim = self.get_sentence_embedding_dimension()
        # cat runs outside inference mode: the result is an ordinary tensor that autograd code may use
        embeddings = torch.cat(chunks) if chunks else torch.empty(0, dim, device=self.device)
        embeddings = embeddings[torch.as_tensor(np.argsort(order), device=embeddings.device)]
        if single:
            embeddings = embeddings[0]
        if convert_to_tensor:
            return embeddings
        if convert_to_numpy:
            return embeddings.cpu().numpy()
        return list(embeddings) if not single else embeddings

    def _ids_by_length(self, sentences: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids of every sentence (truncated like `tokenize`, unpadded) and the longest-first order.

        Sorting by tokens, not characters, keeps padding small: scripts differ several-fold in tokens per
        character under a byte-level BPE, so a batch sorted by characters can be half padding.
        """
        if not sentences:
            return [], np.zeros(0, dtype=np.int64)
        ids = self.tokenizer(sentences, truncation=True, max_length=self.max_length, return_token_type_ids=False,
                             return_attention_mask=False)["input_ids"]
        return ids, np.argsort([-len(x) for x in ids], kind="stable")

    def _pad(self, ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad token-id lists to `(batch, longest)` ids and attention mask on the model's device, on the
        tokenizer's padding side."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        width = max(len(x) for x in ids)
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        rows = [([pad] * (width - len(x)) + x) if left else (x + [pad] * (width - len(x))) for x in ids]
        mask = [([0] * (width - len(x)) + [1] * len(x)) if left else ([1] * len(x) + [0] * (width - len(x)))
                for x in ids]
        return torch.tensor(rows, device=self.device), torch.tensor(mask, device=self.device)

    def similarity(self, a, b) -> torch.Tensor:
        """Cosine similarity matrix `(n, m)` between embeddings `a (n, H)` and `b (m, H)` (1-D inputs allowed)."""
        a, b = (torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x) for x in (a, b))
        a, b = (x.float().reshape(1, -1) if x.ndim == 1 else x.float() for x in (a, b))
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
            raise ValueError(f"a and b must be embeddings (n, H) and (m, H) of one model, got {tuple(a.shape)} and "
                             f"{tuple(b.shape)}: pass the outputs of the same model's encode()")
        return F.normalize(a, dim=-1) @ F.normalize(b.to(a.device), dim=-1).T

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Save backbone (safetensors), tokenizer, heads and `emmax_config.json` atomically into `path`.

        Taught in: notebooks/02_encoders_and_init.ipynb
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            self.backbone.save_pretrained(str(tmp))
            self.tokenizer.save_pretrained(str(tmp))
            heads = {f"{name}.{k}": v.detach().cpu().contiguous() for name in ("projection", "mlm_head")
                     if getattr(self, name) is not None for k, v in getattr(self, name).state_dict().items()}
            if heads:
                save_file(heads, str(tmp / HEADS_NAME))
            (tmp / CONFIG_NAME).write_text(json.dumps(self._emmax_config(), indent=2) + "\n", encoding="utf-8")
            (tmp / "README.md").write_text(model_card(self._emmax_config()), encoding="utf-8")
            swap_in(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def from_pretrained(cls, path_or_hub_id: str | os.PathLike) -> SentenceEncoder:
        """Load a `save_pretrained` folder, a plain HF model folder or a hub id (mean pooling).

        A missing local path (or any hub id with `HF_HUB_OFFLINE=1` and nothing cached) raises
        `FileNotFoundError` naming the offline default, never a confusing hub error.

        Taught in: notebooks/02_encoders_and_init.ipynb
        """
        name = str(path_or_hub_id)
        path = Path(os.path.expanduser(name))
        if not (path / CONFIG_NAME).is_file():
            check_pretrained_source(name, "model")
            return cls.from_config(EncoderConfig(backbone=name, tokenizer=name))
        settings = saved_settings(path)
        tokenizer = get_tokenizer(str(path))
        backbone = load_backbone(str(path), settings["pooling"] == "cls_pooler")
        model = cls(backbone, tokenizer, pooling=settings["pooling"], projection=settings["projection"],
                    max_length=settings["max_length"], mlm=settings.get("mlm", False))
        if (path / HEADS_NAME).is_file():
            heads = load_file(str(path / HEADS_NAME))
            for name in ("projection", "mlm_head"):
                if getattr(model, name) is not None:
                    part = {k.split(".", 1)[1]: v for k, v in heads.items() if k.startswith(name + ".")}
                    getattr(model, name).load_state_dict(part)
        return model

    def _emmax_config(self) -> dict:
        import transformers

        return {
            "pooling": self.pooling, "projection": self.projection is not None, "mlm": self.mlm_head is not None,
            "max_length": self.max_length, "embedding_dim": self.get_sentence_embedding_dimension(),
            "similarity_fn_name": self.similarity_fn_name, "normalized": True,
            "versions": {"emmax_core": package_version(), "torch": torch.__version__,
                         "transformers": transformers.__version__},
        }


def _tiny_backbone_config(config: EncoderConfig, tokenizer) -> XLMRobertaConfig:
    """XLM-R shape from `config`; vocabulary from the tokenizer (its real size may be below the target)."""
    return XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads, intermediate_size=config.intermediate_size,
        hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout,
        # XLM-R positions start after padding_idx, hence the +2
        max_position_embeddings=config.max_length + 2, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
