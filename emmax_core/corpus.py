"""The shipped multilingual corpus: real, multi-way parallel text that works offline.

Two kinds of text share one table (``source, unit_id, lang, script, text``; one row per (unit, language)):

* the Universal Declaration of Human Rights (``udhr``): ~520 language variants, 60 paragraphs (units)
  ``udhr:pre.1`` .. ``udhr:a30.1``, aligned with English section by section;
* software-localization catalogs (``sphinx``, ``django``, ``wagtail``, ...): thousands of short UI sentences
  (``<source>:<app>/<hash10>``) in ~95 languages, human-translated.

Rows with the same ``unit_id`` are translations of each other, which gives parallel pairs, unaligned
monolingual pools (the EM stage's input) and graded *silver* semantic ranks for evaluation, all from one file.
What it leaves out on purpose: hub datasets (``emmax_core.evaluation.hub``) and any text processing;
``scripts/build_corpus.py`` makes the file and ``emmax_core/data/README.md`` is its data card.

Taught in: notebooks/01_corpus.ipynb
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Iterable
from importlib import resources

import datasets
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from datasets.table import InMemoryTable

__all__ = ["UDHR_THEMATIC_GROUPS", "default_language_split", "held_out_units", "language_info",
           "list_languages", "load_corpus", "monolingual_pool", "parallel_pairs", "silver_rank", "silver_ranks"]

_COLUMNS = ["source", "unit_id", "lang", "script", "text"]
_HINT = "see the valid codes with emmax_core.list_languages()"

# Thematic groups of UDHR articles (silver rank 1 = same group). The preamble is its own group.
UDHR_THEMATIC_GROUPS = {
    "preamble": ("pre",),
    "dignity and equality": (1, 2),
    "life, liberty and security": (3, 4, 5),
    "legal protection": (6, 7, 8, 9, 10, 11, 12),
    "movement, nationality, family and property": (13, 14, 15, 16, 17),
    "thought, expression, assembly and political participation": (18, 19, 20, 21),
    "social, economic and cultural rights": (22, 23, 24, 25, 26, 27),
    "social order and duties": (28, 29, 30),
}
_SECTION_GROUP = {("pre" if a == "pre" else f"a{a:02d}"): g for g, arts in UDHR_THEMATIC_GROUPS.items() for a in arts}
_HELD_OUT_ARTICLES = range(23, 31)  # UDHR test split: the last eight articles

# The experiment's split (book: "The experiment's design"). Groups A and B mix scripts; nearly all of their
# languages have catalog text (uig_arab, khk, div and mal bring scripts of their own); xho and fao are
# UDHR-only members.
_SPLIT = {
    "parallel": ["spa", "fra", "por_BR", "jpn", "cmn_hans", "rus", "tur", "pes_1", "hin", "pol", "deu_1996", "nld",
                 "ita", "hrv", "hun", "ces", "ron_2006", "swe", "eus", "lav", "lit", "arb", "vie", "ben", "swh",
                 "heb", "tam", "tha", "amh", "zul", "yor", "hau_NG", "tgl", "hye", "bul", "fin"],
    "group_a": ["cat", "ell_monotonic", "kat", "slk", "cmn_hant", "dan", "srp_cyrl", "ast", "afr", "bel", "mar",
                "tel", "uig_arab", "khk", "xho"],
    "group_b": ["glg", "est", "ind", "kor", "als", "nob", "div", "ukr", "mal", "isl", "mkd", "slv", "urd", "khm",
                "fao"],
}


@functools.lru_cache(maxsize=1)
def _table():
    with resources.as_file(resources.files("emmax_core") / "data" / "corpus.parquet") as path:
        return pq.read_table(path)


@functools.lru_cache(maxsize=1)
def _frame() -> pd.DataFrame:
    return _table().to_pandas()


@functools.lru_cache(maxsize=1)
def _languages() -> dict[str, dict]:
    text = (resources.files("emmax_core") / "data" / "languages.json").read_text(encoding="utf-8")
    return json.loads(text)


def _dataset(frame: pd.DataFrame) -> datasets.Dataset:
    return datasets.Dataset.from_pandas(frame.reset_index(drop=True), preserve_index=False)


@functools.lru_cache(maxsize=1)
def load_corpus() -> datasets.Dataset:
    """Load the shipped corpus (offline, from package data; cached in-process, about a second).

    Returns:
        ``datasets.Dataset`` with string columns ``source, unit_id, lang, script, text``, one row per
        (unit_id, lang), sorted by (source, lang, unit_id). Every ``unit_id`` has an English (``eng``) row.

    The data card is ``emmax_core/data/README.md``.

    Taught in: notebooks/01_corpus.ipynb
    """
    return datasets.Dataset(InMemoryTable(_table()))


def list_languages(source: str | None = None) -> list[str]:
    """Language codes in the corpus (UDHR variant codes such as ``por_BR``, else ISO 639-3), sorted.

    Args:
        source: only languages with text from this source (``"udhr"``, ``"django"``, ...); None = all.

    Returns:
        ``list[str]`` of language codes.

    Taught in: notebooks/01_corpus.ipynb
    """
    if source is None:
        return sorted(_languages())
    _check_sources([source], "source")
    return sorted(k for k, v in _languages().items() if source in v["sources"])


def language_info(lang: str | None = None) -> dict | pd.DataFrame:
    """Metadata of one language, or of all of them as a table.

    Args:
        lang: a code from :func:`list_languages`; None = every language.

    Returns:
        For one language a dict with ``lang, iso639_3, name, bcp47, script, sources, n_units,
        rows_per_source``; for None a ``pandas.DataFrame`` with one such row per language.

    Taught in: notebooks/01_corpus.ipynb
    """
    def info(code):
        meta = dict(_languages()[code])
        n_units = meta.pop("n_rows")
        return {"lang": code, **meta, "n_units": n_units}

    if lang is None:
        return pd.DataFrame([info(code) for code in sorted(_languages())])
    return info(_check_langs([lang], "lang")[0])


def _check_langs(langs, name: str = "langs") -> list[str]:
    """Validate language codes; a single string is one language."""
    langs = [langs] if isinstance(langs, str) else list(langs)
    if not langs:
        raise ValueError(f"{name} is empty: pass at least one language code ({_HINT}).")
    known = _languages()
    unknown = [code for code in langs if code not in known]
    if unknown:
        near = sorted(k for k, v in known.items() for u in unknown if v["iso639_3"] == u or k.startswith(u + "_"))
        maybe = f" Did you mean {', '.join(near[:8])}?" if near else ""
        raise ValueError(f"{name} has unknown language code(s) {unknown}.{maybe} Use corpus codes: {_HINT}.")
    return langs


def _check_sources(sources, name: str = "sources") -> list[str] | None:
    if sources is None:
        return None
    sources = [sources] if isinstance(sources, str) else list(sources)
    valid = sorted({s for v in _languages().values() for s in v["sources"]})
    bad = [s for s in sources if s not in valid]
    if bad or not sources:
        raise ValueError(f"{name} must be a non-empty list of corpus sources, got {sources}: use sources from {valid}.")
    return sources


def _rows(langs, sources=None, units=None, exclude_units=None) -> pd.DataFrame:
    frame = _frame()
    keep = frame["lang"].isin(langs)
    if sources is not None:
        keep &= frame["source"].isin(sources)
    if units is not None:
        keep &= frame["unit_id"].isin(units)
    if exclude_units:
        keep &= ~frame["unit_id"].isin(exclude_units)
    return frame[keep]


def parallel_pairs(langs, *, pivot: str = "eng", sources=None, units: Iterable[str] | None = None,
                   exclude_units: Iterable[str] | None = None) -> datasets.Dataset:
    """Translation pairs (xx, pivot) for every unit that both languages have.

    Args:
        langs: language code or list of codes (the pivot itself is skipped if listed).
        pivot: the language every pair is aligned with (``"eng"``: en<->xx pairs).
        sources: restrict to these sources (e.g. ``["udhr"]``); None = all.
        units: restrict to these unit_ids; None = all.
        exclude_units: drop these unit_ids (e.g. :func:`held_out_units` for leak-free training).

    Returns:
        ``datasets.Dataset`` with columns ``unit_id, source, lang, text, pivot_text``, sorted by (lang, unit_id).
        A language without any pair is simply absent; ValueError if no language has one.

    Taught in: notebooks/01_corpus.ipynb
    """
    pivot = _check_langs(pivot, "pivot")[0]
    langs = [g for g in _check_langs(langs) if g != pivot]
    if not langs:
        raise ValueError(f"langs holds only the pivot {pivot!r}: pass other language codes ({_HINT}).")
    sources = _check_sources(sources)
    units = None if units is None else set(units)  # iterables may be one-shot; used twice below
    exclude_units = None if exclude_units is None else set(exclude_units)
    rows = _rows(langs, sources, units, exclude_units)
    piv = _rows([pivot], sources, units, exclude_units)[["unit_id", "text"]].rename(columns={"text": "pivot_text"})
    pairs = rows.merge(piv, on="unit_id", how="inner").sort_values(["lang", "unit_id"], kind="stable")
    if pairs.empty:
        raise ValueError(f"no parallel units for langs {langs} with pivot {pivot!r} (sources={sources}, "
                         f"after units/exclude_units filters): choose languages that share units with the pivot, "
                         f"or loosen units/exclude_units (language_info() lists each language's sources; {_HINT}).")
    return _dataset(pairs[["unit_id", "source", "lang", "text", "pivot_text"]])


def monolingual_pool(langs, *, sources=None, exclude_units: Iterable[str] | None = None,
                     seed: int = 0) -> datasets.Dataset:
    """Unaligned monolingual sentences of some languages (the EM stage's non-parallel input).

    Args:
        langs: language code or list of codes (may include ``"eng"``).
        sources: restrict to these sources; None = all.
        exclude_units: drop these unit_ids (leak-free pools exclude every evaluation unit).
        seed: shuffling seed.

    Returns:
        ``datasets.Dataset`` with columns ``unit_id, source, lang, text``, one row per (lang, unit), shuffled.
        ``unit_id`` is for diagnostics only (pseudo-label precision); training must not use it.

    Taught in: notebooks/01_corpus.ipynb
    """
    langs = _check_langs(langs)
    rows = _rows(langs, _check_sources(sources), None, None if exclude_units is None else set(exclude_units))
    if rows.empty:
        raise ValueError(f"no text for langs {langs} with sources={sources} after exclude_units: choose sources these "
                         f"languages have, or exclude fewer units (language_info(lang)['sources'] lists them).")
    order = np.random.default_rng(seed).permutation(len(rows))
    return _dataset(rows.iloc[order][["unit_id", "source", "lang", "text"]])


@functools.lru_cache(maxsize=8)
def _held_out(seed: int, fraction: float) -> frozenset[str]:
    frame = _frame()
    units = frame.loc[frame["lang"] == "eng", ["source", "unit_id"]]
    held = {f"udhr:{s}" for s in units.loc[units["source"] == "udhr", "unit_id"].str[5:]
            if s[0] == "a" and int(s[1:3]) in _HELD_OUT_ARTICLES}
    for source, group in units[units["source"] != "udhr"].groupby("source"):
        ids = sorted(group["unit_id"])
        # one generator per source, so adding a source never changes another source's held-out units
        rng = np.random.default_rng([seed, zlib.crc32(source.encode())])
        held.update(ids[i] for i in rng.choice(len(ids), size=round(fraction * len(ids)), replace=False))
    return frozenset(held)


def held_out_units(seed: int = 123, fraction: float = 0.2) -> set[str]:
    """Evaluation units kept out of training: UDHR articles 23-30 plus a seeded fraction of each catalog source.

    Args:
        seed: seed of the catalog draw.
        fraction: share of each catalog source's units held out, in [0, 1).

    Returns:
        ``set[str]`` of unit_ids (a new set each call).

    Book: :ref:`experiment-scoring`.

    Taught in: notebooks/01_corpus.ipynb
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}; 0.2 holds out a fifth of each catalog.")
    return set(_held_out(int(seed), float(fraction)))


def multiway_units(langs, sources=None) -> pd.DataFrame:
    """Held-out units present in every one of ``langs``: one row per (unit, language), sorted by unit then language.

    Returns:
        ``DataFrame`` with the corpus columns; ``n_units * len(langs)`` rows. Taught in: notebooks/08_geometry.ipynb
    """
    langs = _check_langs(langs)
    rows = _rows(langs, _check_sources(sources), units=_held_out(123, 0.2))
    full = rows.groupby("unit_id")["lang"].nunique().loc[lambda n: n == len(langs)].index
    return rows[rows["unit_id"].isin(full)].sort_values(["unit_id", "lang"]).reset_index(drop=True)


def _unit_levels(unit: str) -> tuple[str, str, str]:
    """(unit, article-or-app, group-or-source) keys of a unit_id."""
    source, sep, key = unit.partition(":")
    if source == "udhr":
        section = key.split(".")[0]
        if section not in _SECTION_GROUP:
            raise ValueError(f"unit_id {unit!r} is not a UDHR unit like 'udhr:a23.1' or 'udhr:pre.2'.")
        return unit, f"udhr:{section}", f"udhr:{_SECTION_GROUP[section]}"
    if not sep or "/" not in key:
        raise ValueError(f"unit_id {unit!r} is not '<source>:<key>' (e.g. 'udhr:a23.1', 'django:admin/3f2a9c01be').")
    return unit, f"{source}:{key.split('/')[0]}", source


def silver_rank(unit_a: str, unit_b: str) -> int:
    """Silver semantic rank of two units: graded relatedness read off the corpus structure.

    Args:
        unit_a, unit_b: unit_ids.

    Returns:
        3 = same unit (translations); 2 = same UDHR article / same catalog app; 1 = same UDHR thematic group
        (``UDHR_THEMATIC_GROUPS``) / same catalog source; 0 = unrelated.

    The paper's semantic ranks, N = 4; here they are read off the corpus, for evaluation only.
    Book: :ref:`algorithm-ranks`.

    Taught in: notebooks/01_corpus.ipynb
    """
    return int(silver_ranks([unit_a], [unit_b])[0, 0])


def silver_ranks(units_a: Iterable[str], units_b: Iterable[str]) -> np.ndarray:
    """Silver ranks of every pair of units (see :func:`silver_rank`).

    Args:
        units_a: ``n`` unit_ids.
        units_b: ``m`` unit_ids.

    Returns:
        ``(n, m)`` int64 array with values in {0, 1, 2, 3}.

    Taught in: notebooks/01_corpus.ipynb
    """
    levels_a = [_unit_levels(u) for u in ([units_a] if isinstance(units_a, str) else units_a)]
    levels_b = [_unit_levels(u) for u in ([units_b] if isinstance(units_b, str) else units_b)]
    ranks = np.zeros((len(levels_a), len(levels_b)), dtype=np.int64)
    for level in (2, 1, 0):  # coarse to fine: a finer match overwrites a coarser one
        codes = {}
        a = np.array([codes.setdefault(x[level], len(codes)) for x in levels_a], dtype=np.int64)
        b = np.array([codes.setdefault(x[level], len(codes)) for x in levels_b], dtype=np.int64)
        ranks[a[:, None] == b[None, :]] = 3 - level
    return ranks


def default_language_split() -> dict[str, list[str]]:
    """The default experiment's languages: PARALLEL, and groups A and B that swap NON-PARALLEL/UNSEEN roles.

    Returns:
        ``dict(parallel=[36 codes], group_a=[15 codes], group_b=[15 codes])`` (new lists, disjoint, no ``eng``).
        32 of the 36 PARALLEL languages have catalog text; 14 of 15 languages in each group have
        catalog text (one is UDHR-only), and each group mixes 6-8 scripts.

    Book: :ref:`experiment-groups`, :ref:`experiment-folds`.

    Taught in: notebooks/01_corpus.ipynb
    """
    return {name: list(codes) for name, codes in _SPLIT.items()}
