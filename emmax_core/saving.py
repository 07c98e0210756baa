"""Writing folders so that a kill never leaves a half-written one, and the format of ``save_pretrained`` folders.

:func:`swap_in` replaces a folder by a complete temporary one (a kill at any moment leaves one complete copy);
:func:`atomic_json` does the same for one JSON file. Both the trainer's checkpoints
(:mod:`emmax_core.checkpoint`) and :meth:`emmax_core.encoder.SentenceEncoder.save_pretrained` use them.
:func:`saved_settings` reads a saved encoder's ``emmax_config.json`` with errors that say how to fix a corrupt
folder; :func:`model_card` writes its README.

Taught in: notebooks/02_encoders_and_init.ipynb (saving an encoder) and notebooks/10_scaling_up.ipynb
(checkpoints).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
from pathlib import Path

CONFIG_NAME = "emmax_config.json"


def atomic_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and an atomic rename."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float))
    os.replace(tmp, path)


def swap_in(tmp: Path, final: Path) -> None:
    """Replace ``final`` by the complete folder ``tmp``; a kill at any point leaves a complete copy."""
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def saved_settings(path: Path) -> dict:
    """`emmax_config.json` of a `save_pretrained` folder; a corrupt or incomplete folder says how to fix it."""
    where, fix = f"path_or_hub_id={str(path)!r}", f"save the encoder again with save_pretrained({str(path)!r})"
    missing = [f for f in ("config.json", "tokenizer_config.json") if not (path / f).is_file()]
    if not any((path / w).is_file() for w in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")):
        missing.append("model.safetensors")
    if missing:
        raise FileNotFoundError(f"{where} is an incomplete save_pretrained folder without {missing}: {fix}")
    try:
        settings = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
        if not isinstance(settings, dict) or not {"pooling", "projection", "max_length"} <= settings.keys():
            raise ValueError("it needs an object with pooling, projection and max_length")
    except ValueError as error:  # also json.JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{where}: {CONFIG_NAME} is corrupt ({error}): {fix}") from error
    return settings


def package_version() -> str:
    """The installed emmax-core version (``"unknown"`` in a source tree that is not installed)."""
    try:
        return importlib.metadata.version("emmax-core")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def model_card(settings: dict) -> str:
    """The README of a saved encoder folder, from its ``emmax_config.json`` settings."""
    versions = ", ".join(f"{k} {v}" for k, v in settings["versions"].items())
    return (
        "---\nlibrary_name: emmax_core\ntags: [sentence-similarity, emma-x, multilingual]\n---\n\n"
        "# EMMA-X sentence encoder\n\n"
        "Unit-norm multilingual sentence embeddings trained with `emmax_core` (EMMA-X Book).\n\n"
        f"- pooling: `{settings['pooling']}`, projection: {settings['projection']}, "
        f"dimension: {settings['embedding_dim']}, max_length: {settings['max_length']}\n"
        f"- similarity: {settings['similarity_fn_name']}\n- versions: {versions}\n\n"
        "```python\nfrom emmax_core import SentenceEncoder\n"
        "model = SentenceEncoder.from_pretrained(\"path/to/this/folder\")\n"
        "embeddings = model.encode([\"Hello world\", \"Hallo Welt\"])\n```\n"
    )
