"""Configuration: frozen dataclasses, the named presets `tiny()`, `colab()`, `paper()` and YAML round trips.

One `EMMAXConfig` holds four sections (`encoder`, `ranks`, `train`, `data`); the presets are the same code
with other numbers (the nanoGPT habit) and `configs/*.yaml` mirror them exactly. Unknown keys and
out-of-range values raise `ValueError` naming the parameter and the fix, so a YAML typo never silently
falls back to a default. Left out on purpose: command-line parsing (`emmax_core.train`) and global state.

Taught in: notebooks/02_encoders_and_init.ipynb (presets), notebooks/10_scaling_up.ipynb (colab/paper).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from .config_checks import Section, check, check_choice, check_positive, unknown_key_error

PROFILES = ("tiny", "colab", "paper")
LABELLER_NAMES = ("gmm", "oracle", "ctl", "gmm_mnn", "gmm_topk", "oracle_nn", "gmm_curriculum", "noisy_oracle")  # labelling.py


@dataclasses.dataclass(frozen=True)
class EncoderConfig(Section):
    """The sentence encoder f_theta: backbone, tokenizer, pooling and (backbone="tiny") architecture.

    Taught in: notebooks/02_encoders_and_init.ipynb. Book: :ref:`algorithm-encoder`.
    """

    backbone: str = "tiny"  # "tiny" (random XLM-R built from the shape below) or a hub id / local path
    tokenizer: str = "tiny"  # "tiny" (BPE trained on the shipped corpus) or a hub id / local path
    pooling: str = "mean"  # "mean" (masked mean of last hidden states) or "cls_pooler" (reference: tanh on <s>)
    projection: bool = False  # the reference's extra Linear H -> H after pooling
    hidden_size: int = 128  # H; this and the next three shape only a "tiny" backbone (hub ones bring theirs)
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 512
    max_length: int = 128  # tokens per sentence after truncation, <s> and </s> included
    vocab_size: int = 16000  # target vocabulary of the "tiny" tokenizer (the model uses its real size)
    dropout: float = 0.1  # hidden and attention dropout of a "tiny" backbone
    mlm: bool = False  # add a RoBERTa LM head sharing the backbone (SentenceEncoder.mlm_logits)

    def __post_init__(self) -> None:
        check_choice("pooling", self.pooling, ("mean", "cls_pooler"))
        check_positive(self, "hidden_size", "num_layers", "num_heads", "intermediate_size", "max_length")
        check(self.vocab_size >= 300, "vocab_size", self.vocab_size, "use >= 300 (256 bytes + specials + merges)")
        check(self.hidden_size % self.num_heads == 0, "num_heads", self.num_heads,
               f"use a divisor of hidden_size={self.hidden_size}")
        check(0 <= self.dropout < 1, "dropout", self.dropout, "use a value in [0, 1)")
        check(self.tokenizer != "tiny" or self.backbone == "tiny", "tokenizer", self.tokenizer,
               f"a hub backbone needs its own tokenizer: set tokenizer={self.backbone!r}")


@dataclasses.dataclass(frozen=True)
class RankConfig(Section):
    """Semantic ranks, the rank classifier and the MoCo candidate pool.

    Taught in: notebooks/03_ranks_and_gmm.ipynb. Book: :ref:`algorithm-ranks` to :ref:`algorithm-moco`.
    """

    num_ranks: int = 4  # N ordinal ranks: N - 1 = translation, 0 = unrelated
    tau_low: float = 0.05  # temperature of the top rank (rank_temperatures)
    tau_high: float = 0.1  # temperature of the lowest positive rank
    rank_confidence: float = 0.3  # epsilon, label smoothing of the rank cross-entropy
    rank_mean_ema: float = 0.001  # beta, EMA rate of the running rank_means
    queue_size: int = 768  # K, momentum-key queue length (need not divide the batch)
    momentum: float = 0.99  # m, key-encoder momentum (0.99 suits runs of a few hundred steps)
    classifier: str = "gmm"  # "gmm" (the paper's diagonal mixture) or "fc" (the ablation)
    labeller: str = "gmm"  # "gmm" (EMMA-X), controls, or a named variant: LABELLER_NAMES, labelling.py
    exclude_empty_rows: bool = False  # drop rows without a positive at some rank from ranking InfoNCE
    confidence_threshold: float | None = None  # ignore GMM labels below this max posterior (< 1 - epsilon)
    # labeller="noisy_oracle" (the precision-recall sweep): requested precision and recall of its top-rank labels
    oracle_precision: float = 1.0
    oracle_recall: float = 1.0

    def __post_init__(self) -> None:
        check(self.num_ranks >= 2, "num_ranks", self.num_ranks, "use num_ranks >= 2 (2 = plain InfoNCE)")
        check_positive(self, "tau_low", "tau_high", "queue_size")
        check(self.tau_low <= self.tau_high, "tau_low", self.tau_low, f"use tau_low <= tau_high={self.tau_high}")
        top = (self.num_ranks - 1) / self.num_ranks  # beyond it the label gets less weight than another rank
        check(0 <= self.rank_confidence <= top and self.rank_confidence < 1, "rank_confidence", self.rank_confidence,
              f"use a value in [0, {top:g}] with num_ranks={self.num_ranks}")
        check(0 < self.rank_mean_ema <= 1, "rank_mean_ema", self.rank_mean_ema, "use a value in (0, 1]")
        check(0 <= self.momentum < 1, "momentum", self.momentum, "use a value in [0, 1)")
        check_choice("classifier", self.classifier, ("gmm", "fc"))
        check_choice("labeller", self.labeller, LABELLER_NAMES)
        threshold = self.confidence_threshold
        check(threshold is None or 0 < threshold < 1, "confidence_threshold", threshold, "use null or a value in (0, 1)")
        check(0 < self.oracle_precision <= 1, "oracle_precision", self.oracle_precision, "use a value in (0, 1]")
        check(0 <= self.oracle_recall <= 1, "oracle_recall", self.oracle_recall, "use a value in [0, 1]")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
    """Optimisation and schedule of the three stages (encoder init, GMM init, EM iterations).

    Taught in: notebooks/05_em_iterations.ipynb.
    Book: :ref:`algorithm-stages`, :ref:`algorithm-hyperparameters`.
    """

    seed: int = 0  # torch, numpy, batching and held-out draws
    lr: float = 5e-4  # AdamW learning rate of the encoder
    gmm_lr: float = 1e-2  # the rank classifier's own lr (a deviation: book page "Fidelity and deviations")
    weight_decay: float = 0.01  # AdamW weight decay of the encoder
    warmup_steps: int = 100  # linear warm-up of stage 1, then linear decay
    em_warmup_steps: int = 20  # linear warm-up of stage 3
    init_steps: int = 400  # stage 1: InfoNCE on parallel pairs
    gmm_steps: int = 30  # stage 2: classifier warm-up (>= queue_size / batch, so the queue holds real keys)
    em_steps: int = 100  # stage 3: EM iterations
    init_pairs_per_batch: int = 64  # translation pairs per stage-1 batch
    em_pairs_per_batch: int = 24  # parallel pairs per stage-2/3 batch
    em_mono_per_batch: int = 48  # unaligned monolingual sentences per stage-2/3 batch (share <= 50%)
    init_temperature: float = 0.05  # InfoNCE temperature of stage 1
    mlm_weight: float = 0.0  # weight of the MLM loss (0 = off)
    mlm_probability: float = 0.1  # share of tokens masked for MLM
    mixed_precision: str = "auto"  # "auto" (bf16, else fp16 on CUDA, else "no"), "no", "bf16" or "fp16"
    gradient_accumulation_steps: int = 1  # micro-batches per optimiser step (Accelerate)
    log_every: int = 10  # steps between history records (> 0)
    checkpoint_every: int = 50  # steps between mid-stage resumable checkpoints (0 = none)

    def __post_init__(self) -> None:
        check_positive(self, "lr", "gmm_lr", "init_temperature", "gradient_accumulation_steps", "init_pairs_per_batch",
                  "em_pairs_per_batch", "log_every")
        check_positive(self, "weight_decay", "warmup_steps", "em_warmup_steps", "init_steps", "gmm_steps", "em_steps",
                  "em_mono_per_batch", "mlm_weight", "checkpoint_every", allow_zero=True)
        check(0 < self.mlm_probability < 1, "mlm_probability", self.mlm_probability, "use a value in (0, 1)")
        check_choice("mixed_precision", self.mixed_precision, ("auto", "no", "bf16", "fp16"))


@dataclasses.dataclass(frozen=True)
class DataConfig(Section):
    """Which text trains which stage. Book: :ref:`experiment-groups`, :ref:`fidelity-data`.

    Taught in: notebooks/01_corpus.ipynb
    """

    sources: tuple[str, ...] | None = None  # corpus sources of the warm-up (None = all shipped)
    # Sources of the GMM warm-up and EM batches. A small pool of meanings makes a sentence's translations
    # likely to be among its candidates.
    em_sources: tuple[str, ...] | None = ("udhr", "sphinx")
    parallel_langs: tuple[str, ...] | None = None  # PARALLEL languages (None = default_language_split())
    non_parallel_langs: tuple[str, ...] | None = None  # NON-PARALLEL languages (None = from fold)
    unseen_langs: tuple[str, ...] | None = None  # UNSEEN languages (None = from fold)
    fold: str = "A"  # "A": group A is NON-PARALLEL and group B UNSEEN; "B": swapped
    pivot: str = "eng"  # language every parallel pair is aligned with
    leak_free: bool = True  # keep held-out evaluation units out of the EM monolingual pools
    udhr_batch_prob: float = 0.2  # probability that a warm-up batch comes from UDHR (else catalogs)
    pairs: str = "pivot"  # warm-up pairs: "pivot" (xx-eng, the paper) or "multiway" (xx-yy of PARALLEL + pivot)
    mlm_text: str = "batch"  # MLM input: "batch" (the batch's sentences) or "all" (every language's text)

    def __post_init__(self) -> None:
        check_choice("fold", self.fold, ("A", "B"))
        check_choice("pairs", self.pairs, ("pivot", "multiway"))
        check_choice("mlm_text", self.mlm_text, ("batch", "all"))
        check(0 <= self.udhr_batch_prob <= 1, "udhr_batch_prob", self.udhr_batch_prob, "use a probability in [0, 1]")
        for name in ("sources", "em_sources", "parallel_langs", "non_parallel_langs", "unseen_langs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):  # lists would break hashing
                object.__setattr__(self, name, tuple(value))


_SECTIONS = {"encoder": EncoderConfig, "ranks": RankConfig, "train": TrainConfig, "data": DataConfig}


@dataclasses.dataclass(frozen=True)
class EMMAXConfig:
    """Everything one EMMA-X run needs: `encoder`, `ranks`, `train` and `data` sections.

    Example:
        >>> cfg = tiny().replace(ranks={"num_ranks": 2})
        >>> cfg.ranks.num_ranks
        2

    Taught in: notebooks/02_encoders_and_init.ipynb
    """

    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    ranks: RankConfig = dataclasses.field(default_factory=RankConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        check(self.train.mlm_weight == 0 or self.encoder.mlm, "train.mlm_weight", self.train.mlm_weight,
               "an MLM loss needs the LM head: set encoder.mlm=True (or mlm_weight=0)")

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return nested plain dicts `{"encoder": {...}, "ranks": {...}, ...}`."""
        return {name: getattr(self, name).to_dict() for name in _SECTIONS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EMMAXConfig:
        """Build from nested dicts; missing sections/keys take defaults, unknown keys raise `ValueError`."""
        check(isinstance(values, dict), "config", values, "use a mapping with sections " + ", ".join(_SECTIONS))
        unknown = [k for k in values if k not in _SECTIONS]
        if unknown:
            raise unknown_key_error("section", unknown[0], list(_SECTIONS))
        return cls(**{k: _SECTIONS[k].from_dict(v or {}, prefix=f"{k}.") for k, v in values.items()})

    def replace(self, **sections: Any) -> EMMAXConfig:
        """Return a copy; each keyword is a section given as a dict of changes or as a whole section.

        Example: `cfg.replace(ranks={"num_ranks": 2}, train={"em_steps": 10})`.
        """
        merged = self.to_dict()
        for name, change in sections.items():
            if name not in _SECTIONS:
                raise unknown_key_error("section", name, list(_SECTIONS))
            merged[name] = change.to_dict() if isinstance(change, Section) else {**merged[name], **change}
        return EMMAXConfig.from_dict(merged)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> EMMAXConfig:
        """Load a YAML file written by `to_yaml` (or by hand; comments allowed)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} not found: pass the path of an existing YAML file "
                                    "(the presets live in configs/*.yaml, e.g. configs/tiny.yaml)")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ValueError(f"config file {str(path)!r} is not valid YAML{at} ({getattr(error, 'problem', error)}): "
                             "fix the syntax; configs/tiny.yaml shows the format") from error
        return cls.from_dict(values or {})

    def to_yaml(self, path: str | os.PathLike | None = None, header: str | None = None) -> str:
        """Return the config as YAML text (with `header` as `#` comment lines); also write it to `path`."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if header:
            text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + text
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def tiny() -> EMMAXConfig:
    """The default CPU/offline profile: a small model and short runs, sized for 2 CPU cores.

    L2 H128 XLM-R with a 16k byte-level BPE, 400 warm-up steps of 64 pairs, 30 GMM steps, 100 EM steps
    of 24 pairs + 48 monolingual sentences, K=768, m=0.99, N=4, beta=0.001. Steps and batches are sized so
    a chapter trains within its 3-minute budget on 2 cores; half of each EM batch is monolingual and the
    queue holds 8 batches. Book: :ref:`fidelity-tiny-profile`.
    """
    return EMMAXConfig()


def colab() -> EMMAXConfig:
    """The single-GPU profile: `xlm-roberta-base` from the hub, bf16/fp16 chosen automatically.

    Mean pooling (not the reference's cls_pooler + projection, which starts from an untrained pooler and
    needs long runs); shapes record xlm-roberta-base's; queue 4096, lr 2e-5.
    """
    base = "FacebookAI/xlm-roberta-base"
    return EMMAXConfig(
        encoder=EncoderConfig(backbone=base, tokenizer=base, hidden_size=768, num_layers=12, num_heads=12,
                              intermediate_size=3072, vocab_size=250002),
        ranks=RankConfig(queue_size=4096),
        train=TrainConfig(lr=2e-5, warmup_steps=100, em_warmup_steps=50, init_steps=1000, gmm_steps=50,
                          em_steps=500, init_pairs_per_batch=128, em_pairs_per_batch=64, em_mono_per_batch=128,
                          log_every=20, checkpoint_every=200),
    )


def paper() -> EMMAXConfig:
    """The reference code's values at paper scale. Book: :ref:`algorithm-hyperparameters`.

    From the reference code (the paper itself confirms none of them): N=4, tau 0.05/0.1, epsilon 0.3,
    beta 0.001, queue 768 (its help text says 65536), momentum 0.999, cls_pooler + extra dense, MLM on
    (probability 0.1, loss weights 1:1:1), lr 4e-5 shared by the GMM, weight decay 0, warm-up 8000, seed 42.
    Chosen here (neither the paper nor the code fixes them): the backbone (xlm-roberta-large; the code
    defaults to base), the batch sizes (the code's 3 pairs is a debugging value; its help says 256
    sentences), max_length 512 (the code does not truncate), every step count (the code runs 2 epochs per
    stage) and the monolingual batch share (the released code uses no monolingual text).
    """
    large = "FacebookAI/xlm-roberta-large"
    return EMMAXConfig(
        encoder=EncoderConfig(backbone=large, tokenizer=large, pooling="cls_pooler", projection=True,
                              hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096,
                              max_length=512, vocab_size=250002, mlm=True),
        ranks=RankConfig(queue_size=768, momentum=0.999),
        train=TrainConfig(seed=42, lr=4e-5, gmm_lr=4e-5, weight_decay=0.0, warmup_steps=8000,
                          em_warmup_steps=8000, init_steps=100000, gmm_steps=10000, em_steps=100000,
                          init_pairs_per_batch=128, em_pairs_per_batch=128, em_mono_per_batch=128,
                          mlm_weight=1.0, log_every=100, checkpoint_every=5000),
    )


def preset(name: str) -> EMMAXConfig:
    """Return the preset called `name` ("tiny", "colab" or "paper")."""
    check_choice("profile", name, PROFILES)
    return {"tiny": tiny, "colab": colab, "paper": paper}[name]()


def resolve_profile() -> str:
    """Pick the profile: `EMMAX_PROFILE`, else "colab" with CUDA and `HF_HUB_OFFLINE` unset, else "tiny".

    Taught in: notebooks/10_scaling_up.ipynb
    """
    name = os.environ.get("EMMAX_PROFILE", "").strip()
    if name:
        check_choice("EMMAX_PROFILE", name, PROFILES)
        return name
    import torch  # lazily: reading a config should not need torch

    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")
    return "colab" if torch.cuda.is_available() and not offline else "tiny"
