"""Batches for the three EMMA-X stages, drawn from the shipped corpus.

Every batch is a :class:`Batch`: ``B`` sentences with the bookkeeping the trainer and its diagnostics need.
Parallel batches hold ``P`` translation pairs laid out as in the reference implementation (rows ``0..P-1``
are the pivot side, rows ``P..2P-1`` their translations, so the partner of row ``i`` is ``(i + P) mod 2P``).
EM batches append ``M`` *unaligned* monolingual rows from the NON-PARALLEL languages (and the pivot): they
carry no partner, and their ranks come only from the models. Unit ids travel with every row so the trainer
can measure how often a pseudo-label is a true translation (the corpus is multi-way parallel) and run the
ORACLE controls (``oracle``, ``oracle_nn``); the labellers of the method itself never read them.

What it leaves out on purpose: streaming from disk (the tiny corpus fits in memory) and a ``DataLoader``
(batches are cheap to assemble; the sampler's RNG state is checkpointed instead, for exact resume).

Taught in: notebooks/05_em_iterations.ipynb (book: :ref:`experiment-design`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import corpus


@dataclass
class Batch:
    """One training batch of ``B`` sentences.

    Attributes:
        texts: ``B`` sentences.
        unit_ids: ``(B,)`` long, integer id of each sentence's meaning (same id = translations).
        lang_ids: ``(B,)`` long, integer id of each sentence's language.
        partner: ``(B,)`` long, row index of the translation partner, ``-1`` for monolingual rows.
        source: corpus source of the batch (``"udhr"``, ``"django"``, ...).
        index: position of the batch in the run's stream of batches (the same for every number of
            processes; the trainer seeds dropout, masking and interpolation from it).
    """

    texts: list[str]
    unit_ids: torch.Tensor
    lang_ids: torch.Tensor
    partner: torch.Tensor
    source: str
    index: int = 0

    @property
    def num_pairs(self) -> int:
        """Number of translation pairs ``P`` (the first ``2P`` rows)."""
        return int((self.partner >= 0).sum().item()) // 2


class CorpusSampler:
    """Draws parallel and EM batches from the corpus with a checkpointable RNG.

    Args:
        parallel: pandas frame of pairs (``unit_id, source, lang, text, pivot_text``), PARALLEL languages only.
        mono: pandas frame of unaligned sentences (``unit_id, source, lang, text``) from the NON-PARALLEL
            languages and the pivot.
        unit_index: mapping ``unit_id -> int`` shared with evaluation and queue bookkeeping.
        lang_index: mapping ``lang -> int``.
        pivot: pivot language code (``"eng"``).
        seed: RNG seed.
        udhr_batch_prob: probability that a batch is drawn from UDHR rather than from the catalogs.
        em_sources: sources of EM batches (``None`` = every source with monolingual text).
        multiway: warm-up pairs join any two languages of a unit (PARALLEL languages and the pivot),
            not only xx-pivot (``DataConfig.pairs="multiway"``, a named deviation: lever (a) of the experiment).
        mlm_texts: sentences of every language for an MLM loss on all corpus text (``DataConfig.mlm_text="all"``).

    Several processes (data parallelism): every process holds the same sampler with the same seed and calls
    :meth:`shard` with its index. Each draw then makes ``num_shards`` batches from the shared RNG stream and
    keeps the ``shard_index``-th, so the processes see different batches, and the global batch of a step
    (all processes together) is the same batch stream that one process with gradient accumulation sees.
    """

    def __init__(self, parallel, mono, unit_index, lang_index, pivot="eng", seed=0, udhr_batch_prob=0.2,
                 em_sources=None, multiway=False, mlm_texts=None):
        if len(parallel) == 0:
            raise ValueError("parallel: no parallel pairs; check DataConfig.parallel_langs and sources.")
        self.unit_index, self.lang_index, self.pivot = unit_index, lang_index, pivot
        self.multiway, self.mlm_texts = bool(multiway), list(mlm_texts) if mlm_texts is not None else None
        self.udhr_batch_prob = float(udhr_batch_prob)
        self.em_sources = None if em_sources is None else set(em_sources)
        self.rng = np.random.default_rng(seed)
        self.shard_index, self.num_shards, self.draws = 0, 1, 0
        self._par = {s: g.reset_index(drop=True) for s, g in parallel.groupby("source", sort=True)}
        self._par_units = {s: np.array(sorted(g["unit_id"].unique())) for s, g in self._par.items()}
        self._par_rows = {s: g.groupby("unit_id").indices for s, g in self._par.items()}
        self._mono = {s: g.reset_index(drop=True) for s, g in mono.groupby("source", sort=True)}
        self._mono_rows = {s: {lang: idx for lang, idx in g.groupby("lang").indices.items()}
                           for s, g in self._mono.items()}

    def shard(self, shard_index: int, num_shards: int) -> CorpusSampler:
        """Keep every ``num_shards``-th batch, starting at ``shard_index`` (one shard per process). Returns self."""
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard_index={shard_index} must be in [0, num_shards={num_shards}); pass the "
                             "process index and the number of processes (accelerator.process_index, num_processes).")
        self.shard_index, self.num_shards = int(shard_index), int(num_shards)
        return self

    def _sharded(self, draw, *args):
        """Draw ``num_shards`` results from the shared stream and keep this shard's (with its stream index)."""
        out = [draw(*args) for _ in range(self.num_shards)][self.shard_index]
        index = self.draws * self.num_shards + self.shard_index
        self.draws += 1
        return out, index

    # -- source choice -------------------------------------------------------------------------
    def _choose_source(self, em: bool, need_mono: bool = False) -> str:
        sources = [s for s in self._par if not em or (
            (self.em_sources is None or s in self.em_sources) and (not need_mono or s in self._mono))]
        if not sources:
            raise ValueError("No source has both parallel pairs and monolingual sentences; "
                             "check DataConfig.sources and the language split.")
        catalogs = [s for s in sources if s != "udhr"]
        if "udhr" in sources and (not catalogs or self.rng.random() < self.udhr_batch_prob):
            return "udhr"
        sizes = np.array([len(self._par_units[s]) for s in catalogs], dtype=float)
        return catalogs[self.rng.choice(len(catalogs), p=sizes / sizes.sum())]

    # -- batches -------------------------------------------------------------------------------
    def _pairs(self, source: str, num_pairs: int):
        units = self._par_units[source]
        chosen = self.rng.choice(units, size=min(num_pairs, len(units)), replace=False)
        frame, rows = self._par[source], self._par_rows[source]
        picks = [rows[u][self.rng.integers(len(rows[u]))] for u in chosen]
        sub = frame.iloc[picks]
        return list(sub["pivot_text"]), list(sub["text"]), list(sub["unit_id"]), list(sub["lang"])

    def _multiway_pairs(self, source: str, num_pairs: int):
        """Like :meth:`_pairs`, but each pair joins two distinct languages of the unit (pivot included)."""
        units = self._par_units[source]
        chosen = self.rng.choice(units, size=min(num_pairs, len(units)), replace=False)
        frame, rows = self._par[source], self._par_rows[source]
        left, right, left_langs, right_langs = [], [], [], []
        for u in chosen:
            sub = frame.iloc[rows[u]]  # the unit's translations; its pivot sentence goes last
            texts, langs = [*sub["text"], sub["pivot_text"].iloc[0]], [*sub["lang"], self.pivot]
            i, j = self.rng.choice(len(texts), size=2, replace=False)
            left.append(texts[i])
            right.append(texts[j])
            left_langs.append(langs[i])
            right_langs.append(langs[j])
        return left, right, list(chosen), left_langs, right_langs

    def mlm_batch(self, num_sentences: int) -> list[str]:
        """``num_sentences`` sentences drawn uniformly from every language's text (``mlm_text="all"``)."""
        if not self.mlm_texts:
            raise ValueError("mlm_batch needs mlm_texts: build the sampler with DataConfig.mlm_text='all'.")
        return self._sharded(self._mlm_batch, num_sentences)[0]

    def _mlm_batch(self, num_sentences: int) -> list[str]:
        return [self.mlm_texts[i] for i in self.rng.integers(len(self.mlm_texts), size=num_sentences)]

    def parallel_batch(self, num_pairs: int) -> Batch:
        """A batch of ``num_pairs`` distinct meanings, each pivot sentence paired with one translation.

        Returns:
            :class:`Batch` with ``B = 2 * num_pairs`` rows, partner of ``i`` is ``(i + P) mod B``.
        """
        batch, batch.index = self._sharded(self._parallel_batch, num_pairs)
        return batch

    def _parallel_batch(self, num_pairs: int) -> Batch:
        source = self._choose_source(em=False)
        if self.multiway:
            piv, tgt, units, piv_langs, langs = self._multiway_pairs(source, num_pairs)
        else:
            piv, tgt, units, langs = self._pairs(source, num_pairs)
            piv_langs = [self.pivot] * len(units)
        p = len(units)
        partner = torch.cat([torch.arange(p, 2 * p), torch.arange(0, p)])
        return Batch(
            texts=piv + tgt,
            unit_ids=torch.tensor([self.unit_index[u] for u in units * 2]),
            lang_ids=torch.tensor([self.lang_index[g] for g in piv_langs + langs]),
            partner=partner, source=source,
        )

    def em_batch(self, num_pairs: int, num_mono: int) -> Batch:
        """A parallel batch plus ``num_mono`` unaligned sentences of the same source (book: :ref:`experiment-groups`).

        The language of each monolingual row is uniform over the NON-PARALLEL languages and the pivot;
        the sentence is a random unit of that language.

        Returns:
            :class:`Batch` with ``B = 2 * P + num_mono`` rows; monolingual rows have ``partner == -1``.
        """
        batch, batch.index = self._sharded(self._em_batch, num_pairs, num_mono)
        return batch

    def _em_batch(self, num_pairs: int, num_mono: int) -> Batch:
        source = self._choose_source(em=True, need_mono=num_mono > 0)
        piv, tgt, units, langs = self._pairs(source, num_pairs)
        p = len(units)
        texts, unit_ids = piv + tgt, units * 2
        lang_codes = [self.pivot] * p + langs
        if num_mono > 0:
            frame, by_lang = self._mono[source], self._mono_rows[source]
            choices = sorted(by_lang)
            for g in self.rng.choice(len(choices), size=num_mono):
                idx = by_lang[choices[g]]
                row = frame.iloc[idx[self.rng.integers(len(idx))]]
                texts.append(row["text"])
                unit_ids.append(row["unit_id"])
                lang_codes.append(row["lang"])
        partner = torch.cat([torch.arange(p, 2 * p), torch.arange(0, p), torch.full((len(texts) - 2 * p,), -1)])
        return Batch(
            texts=texts,
            unit_ids=torch.tensor([self.unit_index[u] for u in unit_ids]),
            lang_ids=torch.tensor([self.lang_index[g] for g in lang_codes]),
            partner=partner, source=source,
        )

    # -- checkpointing -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The RNG state and the number of draws, so a resumed run draws the same batches."""
        return {"rng": self.rng.bit_generator.state, "draws": self.draws}

    def load_state_dict(self, state: dict) -> None:
        """Restore the RNG state saved by :meth:`state_dict`."""
        self.rng.bit_generator.state = state["rng"]
        self.draws = int(state.get("draws", 0))


def fold_groups(fold: str) -> dict[str, list[str]]:
    """The default split's roles in ``fold``: ``{"PAR": PARALLEL, "NP": NON-PARALLEL, "UNS": UNSEEN}``.

    Groups A and B swap roles between the folds: fold ``"A"`` trains group A unaligned and leaves group B
    unseen; fold ``"B"`` the reverse. Book: :ref:`experiment-folds`.

    Taught in: notebooks/07_evaluation.ipynb
    """
    split = corpus.default_language_split()
    a, b = split["group_a"], split["group_b"]
    non_par, unseen = (a, b) if fold == "A" else (b, a)
    return {"PAR": split["parallel"], "NP": non_par, "UNS": unseen}


def language_groups(data_cfg) -> tuple[list[str], list[str], list[str]]:
    """(PARALLEL, NON-PARALLEL, UNSEEN) languages of a run: explicit lists win, else the default split + fold."""
    groups = fold_groups(data_cfg.fold)
    par = list(data_cfg.parallel_langs or groups["PAR"])
    non_par = list(data_cfg.non_parallel_langs if data_cfg.non_parallel_langs is not None else groups["NP"])
    unseen = list(data_cfg.unseen_langs if data_cfg.unseen_langs is not None else groups["UNS"])
    return par, non_par, unseen


def build_sampler(config) -> CorpusSampler:
    """The batch sampler of a run: parallel pairs of PARALLEL languages, unaligned NON-PARALLEL + pivot text.

    Leak-free runs (``data.leak_free``) drop every held-out unit from both pools.
    """
    d = config.data
    par, non_par, _ = language_groups(d)
    exclude = corpus.held_out_units() if d.leak_free else None
    sources = list(d.sources) if d.sources else None
    pairs = corpus.parallel_pairs(par, pivot=d.pivot, sources=sources, exclude_units=exclude).to_pandas()
    mono_langs = sorted(set(non_par) | {d.pivot}) if non_par else []
    em_sources = list(d.em_sources) if d.em_sources else sources
    mono = (corpus.monolingual_pool(mono_langs, sources=em_sources, exclude_units=exclude, seed=config.train.seed)
            .to_pandas() if mono_langs else pairs.iloc[:0][["unit_id", "source", "lang", "text"]])
    table = corpus.load_corpus()
    unit_index = {u: i for i, u in enumerate(sorted(set(table["unit_id"])))}
    lang_index = {g: i for i, g in enumerate(sorted(set(table["lang"])))}
    mlm_texts = None
    if d.mlm_text == "all" and config.train.mlm_weight > 0:  # every language, as a pretrained backbone's MLM
        frame = table.select_columns(["unit_id", "text"]).to_pandas()
        mlm_texts = frame.text[~frame.unit_id.isin(exclude or ())].tolist()
    return CorpusSampler(pairs, mono, unit_index, lang_index, pivot=d.pivot, seed=config.train.seed,
                         udhr_batch_prob=d.udhr_batch_prob, em_sources=d.em_sources,
                         multiway=d.pairs == "multiway", mlm_texts=mlm_texts)
