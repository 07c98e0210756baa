"""Loaders for the colab profile's evaluation data: parquet/json-backed hub datasets, no loading scripts.

Each loader calls ``datasets.load_dataset(repo, config, split=...)`` and normalises the result into the
schema the evaluators take. Every loader also reads local files in the hub's own schema, via
``data_files=`` (files of that config and split) or ``local_dir=`` (a folder laid out like the hub
repo: any parquet/json(l)(.gz) file whose folder or file name gives the config and the split, e.g. the
parquet export's ``<dir>/deu-eng/test-00000-of-00001.parquet`` or MTEB's ``<dir>/test/deu-eng.jsonl.gz``),
which is how the tests run offline (``tests/fixtures/hub``).

Hub schemas assumed (from the dataset cards and MTEB's task definitions), as ``repo [config; splits]: columns``:

* ``mteb/tatoeba-bitext-mining`` [``deu-eng``; test]: ``sentence1`` (xx), ``sentence2`` (English).
* ``openlanguagedata/flores_plus`` [``deu_Latn``; dev, devtest]: ``id`` (aligned across languages),
  ``text`` (plus ``iso_639_3``, ``iso_15924``, ``topic``, ... unused). Gated: accept the terms and log in.
* ``mteb/sts17-crosslingual-sts`` [``en-de``, ``ko-ko``, ...; test]: ``sentence1``, ``sentence2``, ``score`` (0-5).
* ``facebook/xnli`` [``en``, ``de``, ... per language; train, validation, test]: ``premise``, ``hypothesis``,
  ``label`` (0 entailment, 1 neutral, 2 contradiction).

Normalised schemas:

* bitext (Tatoeba, FLORES): ``source, unit_id, lang, script, text``, the shipped corpus's columns,
  so :func:`~emmax_core.evaluation.retrieval.evaluate_bitext_by_language`, ``make_mining_task`` and
  ``geometry_report`` take either. Languages are ISO 639-3 (FLORES: the config's prefix).
* STS: ``sentence1, sentence2, score, lang1, lang2`` for ``RankCorrelationEvaluator``.
* NLI: ``premise, hypothesis, label, lang`` for ``ZeroShotClassificationEvaluator`` (see :func:`nli_inputs`).

Taught in: notebooks/07_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import datasets

__all__ = [
    "FLORES_REPO",
    "STS17_REPO",
    "TATOEBA_REPO",
    "XNLI_REPO",
    "HubDatasetUnavailableError",
    "load_flores",
    "load_sts17",
    "load_tatoeba",
    "load_xnli",
    "nli_inputs",
]

TATOEBA_REPO = "mteb/tatoeba-bitext-mining"
FLORES_REPO = "openlanguagedata/flores_plus"
STS17_REPO = "mteb/sts17-crosslingual-sts"
XNLI_REPO = "facebook/xnli"
_EXTENSIONS = {
    ".parquet": "parquet",
    ".jsonl.gz": "json",
    ".json.gz": "json",
    ".jsonl": "json",
    ".json": "json",
}


class HubDatasetUnavailableError(ConnectionError):
    """The hub dataset could not be reached (offline, or network/auth failure) and no local files were given."""


def _local_files(local_dir: str | Path, config: str, split: str) -> list[Path]:
    """Files under ``local_dir`` whose path names both ``config`` and ``split`` (a hub-like layout)."""
    root = Path(local_dir)
    if not root.is_dir():
        raise ValueError(f"local_dir {str(root)!r} is not a directory; pass the folder holding the files.")
    found = []
    for path in sorted(root.rglob("*")):
        ext = next((e for e in _EXTENSIONS if path.name.endswith(e)), None)
        if ext is None or not path.is_file():
            continue
        stem = path.name[: -len(ext)]
        tokens = set(path.relative_to(root).parts[:-1]) | {stem} | set(stem.split("-"))
        if split in tokens and config in tokens:
            found.append(path)
    if not found:
        raise ValueError(
            f"no parquet/json files for config {config!r} and split {split!r} under {str(root)!r}; "
            f"expected a hub-like layout such as {root}/{config}/{split}-00000-of-00001.parquet."
        )
    return found


def _load_files(files: Sequence[str | Path]) -> datasets.Dataset:
    """Load local parquet or json(l)(.gz) files as one ``datasets.Dataset``."""
    formats = {next((f for e, f in _EXTENSIONS.items() if str(p).endswith(e)), None) for p in files}
    if len(formats) != 1 or None in formats:
        raise ValueError(
            f"data_files must all be .parquet or all .json/.jsonl(.gz), got {list(map(str, files))}."
        )
    missing = [str(p) for p in files if not Path(p).is_file()]
    if missing:
        raise ValueError(f"data_files not found: {missing}.")
    return datasets.load_dataset(formats.pop(), data_files=[str(p) for p in files], split="train")


def _load(
    repo: str,
    config: str,
    split: str,
    data_files=None,
    local_dir=None,
    revision=None,
    limit: int | None = None,
) -> datasets.Dataset:
    """Local files when given, else the hub; turn network failures into an actionable error."""
    if data_files is not None:
        ds = _load_files([data_files] if isinstance(data_files, (str, Path)) else list(data_files))
    elif local_dir is not None:
        ds = _load_files(_local_files(local_dir, config, split))
    else:
        try:
            ds = datasets.load_dataset(repo, config, split=split, revision=revision)
        except RuntimeError as err:
            if "scripts are no longer supported" not in str(err):
                raise
            raise ValueError(
                f"{repo!r} at revision {revision!r} ships a loading script, which datasets>=4 "
                f"refuses; pass revision= of a script-free (parquet/json) commit, or local "
                f"files via data_files= / local_dir=."
            ) from err
        except ConnectionError as err:
            raise HubDatasetUnavailableError(
                f"could not load {repo!r} (config {config!r}, split {split!r}): it needs network access to "
                f"the Hugging Face Hub (HF_HUB_OFFLINE=1 makes every hub call fail unless the dataset is "
                f"already cached). Either go online (unset HF_HUB_OFFLINE; log in for gated datasets), or "
                f"pass local files in the hub's schema: data_files='path/{split}.parquet' or "
                f"local_dir='folder/' laid out like the hub repo ('<config>/{split}-*.parquet')."
            ) from err
    return ds.select(range(min(limit, len(ds)))) if limit is not None else ds


def _corpus_rows(source: str, unit_ids: list, langs: list, scripts: list, texts: list) -> datasets.Dataset:
    """A dataset with the shipped corpus's columns ``source, unit_id, lang, script, text``."""
    return datasets.Dataset.from_dict(
        {
            "source": [source] * len(texts),
            "unit_id": unit_ids,
            "lang": langs,
            "script": scripts,
            "text": texts,
        }
    )


def _require(ds: datasets.Dataset, columns: Sequence[str], repo: str) -> None:
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise ValueError(
            f"{repo} data lacks columns {missing} (has {ds.column_names}); check the files' schema."
        )


def _load_columns(repo: str, config: str, split: str, columns: list[str], dtype: str,
                  data_files, local_dir, revision, limit) -> datasets.Dataset:
    """:func:`_load`, keeping only ``columns`` and casting the last one (the gold score or label) to ``dtype``."""
    ds = _load(repo, config, split, data_files, local_dir, revision, limit)
    _require(ds, columns, repo)
    return ds.select_columns(columns).cast_column(columns[-1], datasets.Value(dtype))


def load_tatoeba(langs: str | Sequence[str], split: str = "test", pivot: str = "eng", *, repo: str = TATOEBA_REPO,
                 data_files=None, local_dir=None, revision: str | None = None,
                 limit: int | None = None) -> datasets.Dataset:
    """Tatoeba bitext (``sentence1`` in xx, ``sentence2`` in the pivot) as corpus-style rows.

    Args:
        langs: ISO 639-3 code(s) such as ``"deu"``; config ``f"{lang}-{pivot}"``.
        split: hub split (Tatoeba has only ``"test"``).
        pivot: pivot language of the configs.
        repo, revision: hub dataset and optional commit.
        data_files: local files of one language pair (only with a single ``langs``).
        local_dir: local hub-like mirror; limit: keep the first ``limit`` pairs per language.

    Returns:
        ``Dataset`` with ``source="tatoeba"``, ``unit_id="tatoeba:<lang>-<pivot>/<row>"``, ``lang``,
        ``script=""``, ``text``: per language, the xx rows then the pivot rows (same ``unit_id`` values).

    Taught in: notebooks/07_evaluation.ipynb
    """
    langs = [langs] if isinstance(langs, str) else list(langs)
    if data_files is not None and len(langs) != 1:
        raise ValueError("data_files holds one language pair; pass a single lang or use local_dir.")
    parts = []
    for lang in langs:
        config = f"{lang}-{pivot}"
        ds = _load(repo, config, split, data_files, local_dir, revision, limit)
        _require(ds, ["sentence1", "sentence2"], repo)
        units = [f"tatoeba:{config}/{i}" for i in range(len(ds))]
        langs_col = [lang] * len(ds) + [pivot] * len(ds)
        texts = list(ds["sentence1"]) + list(ds["sentence2"])
        parts.append(_corpus_rows("tatoeba", units * 2, langs_col, [""] * len(texts), texts))
    return datasets.concatenate_datasets(parts)


def load_flores(langs: Sequence[str], split: str = "devtest", *, repo: str = FLORES_REPO,
                data_files: Mapping[str, str | Path] | None = None, local_dir=None, revision: str | None = None,
                limit: int | None = None) -> datasets.Dataset:
    """FLORES+ (n-way parallel, ~1k sentences per language) as corpus-style rows, for retrieval and geometry.

    Args:
        langs: FLORES codes, one config each, e.g. ``["eng_Latn", "deu_Latn", "swh_Latn"]``.
        split: ``"dev"`` (997 sentences) or ``"devtest"`` (1012).
        repo, revision: hub dataset (gated: accept its terms and log in) and optional commit.
        data_files: ``{code: file}`` local files, one per requested code.
        local_dir: local hub-like mirror (``<dir>/<split>/<code>.parquet``); limit: first rows per language.

    Returns:
        ``Dataset`` with ``source="flores"``, ``unit_id="flores:<split>/<id>"``, ``lang`` (ISO 639-3, or
        the full code when two requested codes share a language), ``script``, ``text``.

    Taught in: notebooks/08_geometry.ipynb
    """
    langs = [langs] if isinstance(langs, str) else list(langs)
    if data_files is not None and set(langs) - set(data_files):
        missing = sorted(set(langs) - set(data_files))
        raise ValueError(f"data_files lacks files for {missing}; map every code to a file.")
    prefixes, parts = [code.split("_")[0] for code in langs], []
    for code, prefix in zip(langs, prefixes):
        files = None if data_files is None else data_files[code]
        ds = _load(repo, code, split, files, local_dir, revision, limit)
        _require(ds, ["id", "text"], repo)
        lang = code if prefixes.count(prefix) > 1 else prefix
        script = code.split("_")[1] if "_" in code else ""
        units = [f"flores:{split}/{i}" for i in ds["id"]]
        parts.append(_corpus_rows("flores", units, [lang] * len(ds), [script] * len(ds), list(ds["text"])))
    return datasets.concatenate_datasets(parts)


def load_sts17(pair: str = "en-de", split: str = "test", *, repo: str = STS17_REPO, data_files=None,
               local_dir=None, revision: str | None = None, limit: int | None = None) -> datasets.Dataset:
    """STS17 (cross-lingual) pairs with 0-5 gold scores, for ``RankCorrelationEvaluator``.

    Args:
        pair: config such as ``"en-de"``, ``"en-tr"``, ``"ko-ko"``.
        split, repo, data_files, local_dir, revision, limit: as in :func:`load_tatoeba`.

    Returns:
        ``Dataset`` with ``sentence1, sentence2, score, lang1, lang2`` (ISO 639-1 codes from ``pair``).

    Taught in: notebooks/07_evaluation.ipynb
    """
    ds = _load_columns(repo, pair, split, ["sentence1", "sentence2", "score"], "float64",
                       data_files, local_dir, revision, limit)
    lang1, _, lang2 = pair.partition("-")
    return ds.add_column("lang1", [lang1] * len(ds)).add_column("lang2", [lang2 or lang1] * len(ds))


def load_xnli(lang: str = "en", split: str = "test", *, repo: str = XNLI_REPO, data_files=None,
              local_dir=None, revision: str | None = None, limit: int | None = None) -> datasets.Dataset:
    """XNLI premise/hypothesis pairs (0 entailment, 1 neutral, 2 contradiction) for one language.

    Args:
        lang: per-language config (``"en"``, ``"de"``, ``"sw"``, ...; ``"all_languages"`` is not supported).
        split: ``"train"`` (392k, use ``limit``), ``"validation"`` or ``"test"``.
        repo, data_files, local_dir, revision, limit: as in :func:`load_tatoeba`.

    Returns:
        ``Dataset`` with ``premise, hypothesis, label, lang``.

    Taught in: notebooks/07_evaluation.ipynb
    """
    if lang == "all_languages":
        raise ValueError(
            "lang='all_languages' packs translations in one row; load per-language configs instead."
        )
    ds = _load_columns(repo, lang, split, ["premise", "hypothesis", "label"], "int64",
                       data_files, local_dir, revision, limit)
    return ds.add_column("lang", [lang] * len(ds))


def nli_inputs(ds) -> tuple[list[tuple[str, str]], list[int]]:
    """``(premise, hypothesis)`` pairs and labels, the input form ``ZeroShotClassificationEvaluator`` takes.

    Taught in: notebooks/07_evaluation.ipynb
    """
    return list(zip(ds["premise"], ds["hypothesis"])), [int(y) for y in ds["label"]]
