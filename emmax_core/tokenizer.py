"""Tokenizers: a deterministic byte-level BPE for the tiny profile, hub tokenizers otherwise.

The tiny profile trains its own tokenizer in seconds on the monolingual text of every shipped language
(held-out evaluation units excluded), which is allowed in EMMA-X's setting because monolingual text exists
even for languages without parallel data (book: :ref:`experiment-groups`). Byte-level BPE never emits `<unk>`,
so unseen scripts degrade to more tokens instead of unknowns. Special tokens follow XLM-R:
`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, `<mask>`=4, and every sequence is wrapped as `<s> ... </s>`.

Left out on purpose: SentencePiece/Unigram training (it drops unseen scripts to `<unk>` without byte
fallback) and any vocabulary surgery for hub tokenizers.

Taught in: notebooks/02_encoders_and_init.ipynb
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from .pretrained import load_pretrained

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
# Bump when the recipe below changes, so cached tokenizers trained by an older recipe are not reused.
_RECIPE_VERSION = "bpe-nfc-v1"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 16000) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer with XLM-R special tokens; deterministic for the same input.

    Args:
        texts: training sentences (any scripts); iterated once, in order.
        vocab_size: target vocabulary size including the 5 specials and 256 byte symbols (may end
            smaller when the text has too few distinct merges).

    Returns:
        A `PreTrainedTokenizerFast` whose encodings are `<s> ... </s>`, with `pad_token="<pad>"` (id 1)
        and `mask_token="<mask>"`. Text is NFC-normalised, so `decode(encode(x)) == x` for NFC text.

    Taught in: notebooks/02_encoders_and_init.ipynb
    """
    if vocab_size < 300:
        raise ValueError(f"vocab_size={vocab_size} is too small: use >= 300 (256 bytes + specials + merges)")
    texts = [t for t in texts if isinstance(t, str) and t]
    if not texts:
        raise ValueError("texts is empty: pass at least one non-empty string to train the tokenizer on")
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: no <unk> on unseen scripts
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    bos, eos = ("<s>", tokenizer.token_to_id("<s>")), ("</s>", tokenizer.token_to_id("</s>"))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[bos, eos]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512,
    )


def default_cache_dir() -> Path:
    """Return the emmax_core cache folder: `$EMMAX_CACHE`, else `~/.cache/emmax_core`."""
    return Path(os.environ.get("EMMAX_CACHE") or Path.home() / ".cache" / "emmax_core")


def _tiny_training_texts() -> list[str]:
    """Monolingual text of every corpus language, held-out evaluation units excluded (leak-free)."""
    corpus = importlib.import_module("emmax_core.corpus")  # lazily: corpus is an earlier, heavier stage
    table = corpus.load_corpus()
    held_out = corpus.held_out_units()
    return [text for unit, text in zip(table["unit_id"], table["text"]) if unit not in held_out]


def _texts_hash(texts: list[str], vocab_size: int) -> str:
    digest = hashlib.sha256(f"{_RECIPE_VERSION}|{vocab_size}|".encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()[:16]


def _save_atomically(tokenizer: PreTrainedTokenizerFast, target: Path) -> None:
    """Save into a temporary sibling folder, then rename, so readers never see a half-written cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tokenizer.save_pretrained(str(tmp))
        os.rename(tmp, target)
    except OSError:
        if not (target / "tokenizer.json").is_file():  # not a lost race with another process
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def get_tokenizer(
    name_or_path: str = "tiny", cache_dir: str | os.PathLike | None = None, vocab_size: int = 16000
) -> PreTrainedTokenizerFast:
    """Return the tiny profile's corpus-trained tokenizer, or load a hub/local tokenizer.

    Args:
        name_or_path: "tiny" (train on `load_corpus()` minus `held_out_units()`, cached on disk) or a
            hub id / local folder for `AutoTokenizer.from_pretrained`.
        cache_dir: folder for the "tiny" cache (default `$EMMAX_CACHE` or `~/.cache/emmax_core`); the
            entry `tokenizer-<hash>` is keyed by the training text and `vocab_size`.
        vocab_size: target vocabulary of the "tiny" tokenizer.

    Returns:
        A fast tokenizer.

    Taught in: notebooks/02_encoders_and_init.ipynb
    """
    if name_or_path != "tiny":
        return load_pretrained(AutoTokenizer.from_pretrained, name_or_path, "tokenizer")
    texts = _tiny_training_texts()
    target = Path(cache_dir or default_cache_dir()) / f"tokenizer-{_texts_hash(texts, vocab_size)}"
    if not (target / "tokenizer.json").is_file():
        _save_atomically(train_tokenizer(texts, vocab_size=vocab_size), target)
    return PreTrainedTokenizerFast.from_pretrained(str(target))
