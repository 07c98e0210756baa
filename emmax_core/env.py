"""The notebook opening: where am I (Colab or not), which versions, which device, which seed.

Every chapter calls :func:`setup` in its first code cell after the guarded Colab install, so readers can
report the exact versions that produced their numbers.

Taught in: notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import os
import sys


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def versions() -> dict[str, str]:
    """Versions of Python and the libraries the book depends on."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("emmax-core", "torch", "transformers", "tokenizers", "datasets", "accelerate", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def setup(seed: int = 0, verbose: bool = True):
    """Seed every RNG, pick the device, keep tokenizers from fighting torch for the CPU cores.

    Args:
        seed: seed for ``random``, ``numpy`` and ``torch``.
        verbose: print versions, device and profile (and a GPU hint on Colab without a GPU).

    Returns:
        ``torch.device``: ``cuda`` when available, else ``cpu``.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from accelerate.utils import set_seed

    from .config import resolve_profile

    set_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if verbose:
        print(" | ".join(f"{k} {v}" for k, v in versions().items()))
        print(f"device: {device} | profile: {resolve_profile()} | seed: {seed}")
        if in_colab() and device.type == "cpu":
            print("No GPU: Runtime > Change runtime type > T4 GPU, or carry on with the tiny profile on CPU.")
    return device


def glue(name: str, value, display: bool = False):
    """Record ``value`` under ``name`` for the book's ``{glue}`` roles; a no-op outside a book build.

    Numbers in the book's prose are pasted from the notebook that computed them (myst-nb's glue), never
    typed. On Colab myst-nb is usually absent, so this falls back to returning the value.

    Returns:
        ``value``, unchanged.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return value
    _glue(name, value, display=display)
    return value
