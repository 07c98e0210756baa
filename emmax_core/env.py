"""The notebook opening: where am I (Colab or not), which versions, which device, seed, profile and config.

Every chapter calls :func:`setup` in its first code cell after the guarded Colab install and takes its
configuration from what it returns (``env.config``), never from a preset directly, so ``EMMAX_PROFILE=colab``
changes the model every chapter trains. Readers can report the exact versions that produced their numbers.

Environment variables read by :func:`setup`:

- ``EMMAX_PROFILE``: ``tiny``, ``colab`` or ``paper`` (:func:`emmax_core.config.resolve_profile`).
- ``EMMAX_SET``: overrides applied on top of the profile, ``section.key=value`` items separated by ``;`` or
  new lines (values are YAML, as in ``python -m emmax_core.train --set``), e.g.
  ``EMMAX_SET="encoder.backbone=/models/xlmr; encoder.tokenizer=/models/xlmr; train.em_steps=50"`` points the
  colab profile at a local copy of its backbone and shortens the EM stage.

Taught in: notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

#: Profiles each chapter can run, in order of size; a chapter that cannot run the requested one (time,
#: memory) falls back to the largest it can run below it, and says so.
TRAINING_PROFILES = ("tiny", "colab")


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


@dataclasses.dataclass(frozen=True)
class Session:
    """What a chapter runs with, returned by :func:`setup`.

    Attributes:
        device: ``torch.device("cuda")`` when available, else ``cpu``.
        profile: the profile the chapter runs (after any fallback).
        config: that profile's :class:`~emmax_core.config.EMMAXConfig` with the ``EMMAX_SET`` overrides.
        seed: the seed given to every RNG.
        requested: the profile asked for (``EMMAX_PROFILE`` or the automatic choice).
        note: why ``profile`` differs from ``requested`` (empty when it does not).
    """

    device: Any
    profile: str
    config: Any
    seed: int = 0
    requested: str = ""
    note: str = ""


def parse_overrides(text: str) -> dict[str, dict[str, Any]]:
    """``"train.em_steps=5; ranks.queue_size=64"`` -> ``{"train": {"em_steps": 5}, "ranks": {"queue_size": 64}}``.

    Items are separated by ``;`` or new lines; each value is parsed as YAML (``5`` is an int, ``5e-4`` a float
    once the config checks it, ``null`` is None). Sections and keys are checked when the overrides are applied
    (``EMMAXConfig.replace`` names the valid ones).
    """
    import yaml

    nested: dict[str, dict[str, Any]] = {}
    for item in text.replace("\n", ";").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.strip().partition("=")
        section, dot, field = key.strip().partition(".")
        if not sep or not dot:
            raise ValueError(f"EMMAX_SET item {item.strip()!r}: use SECTION.KEY=VALUE, e.g. train.em_steps=50")
        nested.setdefault(section, {})[field] = yaml.safe_load(value.strip())
    return nested


def setup(seed: int = 0, verbose: bool = True, profiles: tuple[str, ...] = TRAINING_PROFILES,
          reason: str = "it trains for longer than a notebook session at that scale") -> Session:
    """Seed every RNG, pick the device, the profile and its config; keep tokenizers off torch's cores.

    Args:
        seed: seed for ``random``, ``numpy`` and ``torch``.
        verbose: print versions, device, profile and overrides (and a GPU hint on Colab without a GPU).
        profiles: the profiles this chapter can run. When the requested one is not among them, the chapter
            runs the largest one below it (else the smallest it has) and prints why.
        reason: why the chapter cannot run the other profiles, for that message.

    Returns:
        :class:`Session` with ``device``, ``profile`` and ``config``; chapters train with ``env.config``.

    Raises:
        ValueError: ``EMMAX_PROFILE`` or ``EMMAX_SET`` names an unknown profile, section or key.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from accelerate.utils import set_seed

    from .config import PROFILES, preset, resolve_profile

    set_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    requested = resolve_profile()
    profile, note = requested, ""
    if requested not in profiles:
        order = [p for p in PROFILES if p in profiles]
        below = [p for p in order if PROFILES.index(p) < PROFILES.index(requested)]
        profile = below[-1] if below else order[0]
        note = f"This chapter does not run the {requested!r} profile ({reason}): it runs {profile!r} instead."
    overrides = parse_overrides(os.environ.get("EMMAX_SET", ""))
    config = preset(profile).replace(**overrides) if overrides else preset(profile)
    if verbose:
        print(" | ".join(f"{k} {v}" for k, v in versions().items()))
        print(f"device: {device} | profile: {profile} | seed: {seed}")
        if note:
            print(note)
        if overrides:
            print("EMMAX_SET overrides:", "; ".join(f"{s}.{k}={v}" for s, kv in overrides.items() for k, v in kv.items()))
        if in_colab() and device.type == "cpu":
            print("No GPU: Runtime > Change runtime type > T4 GPU, or carry on with the tiny profile on CPU.")
    return Session(device=device, profile=profile, config=config, seed=seed, requested=requested, note=note)


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
