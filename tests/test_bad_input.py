"""Bad input, counted: each bad input must raise an error whose message names the parameter and the fix.

`CASES` is the one list: each case is Python source run in `NAMESPACE` (the same text is the "input" column of
book/reliability.md), the exception type it must raise (exactly that type) and the substrings its message must
contain, the parameter's name and the fix. For argparse errors (`SystemExit`) the message is what the command
writes to stderr. `scripts/reliability_table.py` writes the page's table from `CASES` with `observe()`; the
last test checks that the page is up to date.

Every case is cheap: configs, tensors of a few numbers, a tokenizer trained on three sentences and an encoder
with hidden size 8, no training and no network. Files go to fresh temporary folders.
"""

# ruff: noqa: F401 - the cases' code runs with eval(), so the names it uses look unused to a linter
from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

import emmax_core.evaluate
import emmax_core.train
from emmax_core.config import DataConfig, EMMAXConfig, EncoderConfig, RankConfig, TrainConfig, preset, tiny
from emmax_core.corpus import held_out_units, list_languages, monolingual_pool, parallel_pairs, silver_rank
from emmax_core.encoder import SentenceEncoder
from emmax_core.evaluation import cosine_similarity_matrix, encode, rank_correlation, translation_accuracy
from emmax_core.fc_classifier import FullyConnectedRankClassifier
from emmax_core.gmm import GaussianMixtureRankClassifier
from emmax_core.labelling import encoder_labels
from emmax_core.losses import info_nce, mask_tokens, rank_cross_entropy, ranking_info_nce
from emmax_core.momentum import KeyQueue
from emmax_core.ranks import RankMeans, interpolate, rank_temperatures
from emmax_core.tokenizer import get_tokenizer, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
_SCRATCH_PREFIX = "emmax-bad-input-"


# Helpers the cases call --------------------------------------------------------------------------------------

def _scratch() -> Path:
    """A fresh temporary folder, removed when the process exits (messages show it as `<tmp>`)."""
    path = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.lru_cache(maxsize=1)
def tiny_encoder() -> SentenceEncoder:
    """A random encoder with hidden size 8 on a BPE tokenizer trained on three sentences."""
    tokenizer = train_tokenizer(["Open the file", "Datei öffnen", "Ouvrir le fichier"], vocab_size=300)
    config = EncoderConfig(hidden_size=8, num_layers=1, num_heads=1, intermediate_size=16, max_length=16,
                           vocab_size=300)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return SentenceEncoder.from_config(config, tokenizer=tokenizer).eval()


def saved_encoder(delete: str | None = None, emmax_config: str | None = None) -> str:
    """`tiny_encoder().save_pretrained` into a fresh folder; then delete one file or overwrite emmax_config.json."""
    path = _scratch() / "final"
    tiny_encoder().save_pretrained(path)
    if delete:
        (path / delete).unlink()
    if emmax_config is not None:
        (path / "emmax_config.json").write_text(emmax_config)
    return str(path)


def yaml_file(text: str) -> str:
    """Write `text` to `config.yaml` in a fresh folder and return its path."""
    path = _scratch() / "config.yaml"
    path.write_text(text)
    return str(path)


@contextlib.contextmanager
def _in_repository():
    """Run a command line from the repository root, where its documented paths (configs/...) resolve."""
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def train_main(argv: list[str]) -> int:
    """`python -m emmax_core.train ARGV`, in-process."""
    with _in_repository():
        return emmax_core.train.main(argv)


def evaluate_main(argv: list[str]) -> int:
    """`python -m emmax_core.evaluate ARGV`, in-process."""
    with _in_repository():
        return emmax_core.evaluate.main(argv)


NAMESPACE = {name: value for name, value in globals().items() if not name.startswith("_")}


# The cases -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """Bad input `code` (Python in `NAMESPACE`) must raise exactly `error` with every string of `needles`."""

    id: str
    area: str
    code: str
    error: type[BaseException]
    needles: tuple[str, ...]
    call: object = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = compile(self.code, f"<case {self.id}>", "eval")
        object.__setattr__(self, "call", lambda: eval(compiled, dict(NAMESPACE)))


_GMM = "GaussianMixtureRankClassifier(num_ranks=4, dim=8)"
_LABELS = "torch.zeros(2, 3, dtype=torch.long)"
_TRUTH = "torch.zeros(2, 3, dtype=torch.bool)"
_RUN = '"--config", "configs/tiny.yaml", "--output-dir", "runs/bad-input"'

CASES = [
    # Configuration: constructors, from_dict / replace, YAML files
    Case("config-unknown-key", "config", 'EMMAXConfig.from_dict({"ranks": {"num_rank": 2}})', ValueError,
         ("'ranks.num_rank'", "did you mean 'num_ranks'?")),
    Case("config-unknown-section", "config", 'tiny().replace(rank={"num_ranks": 2})', ValueError,
         ("'rank'", "did you mean 'ranks'?")),
    Case("config-num-ranks", "config", "RankConfig(num_ranks=1)", ValueError, ("num_ranks=1", "use num_ranks >= 2")),
    Case("config-tau-order", "config", "RankConfig(tau_low=0.2, tau_high=0.1)", ValueError,
         ("tau_low=0.2", "use tau_low <= tau_high=0.1")),
    Case("config-tau-zero", "config", "RankConfig(tau_low=0.0)", ValueError, ("tau_low=0.0", "use > 0")),
    Case("config-rank-confidence", "config", "RankConfig(num_ranks=2, rank_confidence=0.6)", ValueError,
         ("rank_confidence=0.6", "use a value in [0, 0.5] with num_ranks=2")),
    Case("config-momentum", "config", "RankConfig(momentum=1.0)", ValueError, ("momentum=1.0", "use a value in [0, 1)")),
    Case("config-labeller", "config", 'RankConfig(labeller="gmm2")', ValueError, ("labeller='gmm2'", "use one of")),
    Case("config-oracle-precision", "config", 'RankConfig(labeller="noisy_oracle", oracle_precision=0.0)', ValueError,
         ("oracle_precision=0.0", "use a value in (0, 1]")),
    Case("config-pooling", "config", 'EncoderConfig(pooling="max")', ValueError,
         ("pooling='max'", "use one of ['mean', 'cls_pooler']")),
    Case("config-num-heads", "config", "EncoderConfig(hidden_size=30, num_heads=4)", ValueError,
         ("num_heads=4", "use a divisor of hidden_size=30")),
    Case("config-hub-backbone", "config", 'EncoderConfig(backbone="FacebookAI/xlm-roberta-base")', ValueError,
         ("tokenizer='tiny'", "set tokenizer='FacebookAI/xlm-roberta-base'")),
    Case("config-mlm-head", "config", 'tiny().replace(train={"mlm_weight": 1.0})', ValueError,
         ("train.mlm_weight=1.0", "set encoder.mlm=True")),
    Case("config-type", "config", 'EMMAXConfig.from_dict({"train": {"lr": "fast"}})', ValueError,
         ("train.lr='fast'", "use a value of type float")),
    Case("config-bool-for-int", "config", 'EMMAXConfig.from_dict({"train": {"em_steps": True}})', ValueError,
         ("train.em_steps=True", "use a value of type int")),
    Case("config-string-for-list", "config", 'EMMAXConfig.from_dict({"data": {"sources": "udhr"}})', ValueError,
         ("data.sources='udhr'", "use a list of strings")),
    Case("config-fold", "config", 'DataConfig(fold="C")', ValueError, ("fold='C'", "use one of ['A', 'B']")),
    Case("config-precision", "config", 'TrainConfig(mixed_precision="fp8")', ValueError,
         ("mixed_precision='fp8'", "use one of")),
    Case("config-preset", "config", 'preset("large")', ValueError,
         ("profile='large'", "use one of ['tiny', 'colab', 'paper']")),
    Case("yaml-missing-file", "config", 'EMMAXConfig.from_yaml("configs/tiny.yml")', FileNotFoundError,
         ("config file 'configs/tiny.yml'", "pass the path of an existing YAML file")),
    Case("yaml-syntax", "config", 'EMMAXConfig.from_yaml(yaml_file("ranks: {num_ranks: 2\\n"))', ValueError,
         ("is not valid YAML", "fix the syntax")),
    Case("yaml-not-a-mapping", "config", 'EMMAXConfig.from_yaml(yaml_file("- tiny\\n"))', ValueError,
         ("config=['tiny']", "use a mapping with sections")),
    Case("yaml-section-not-a-mapping", "config", 'EMMAXConfig.from_yaml(yaml_file("ranks: 4\\n"))', ValueError,
         ("ranks=4", "use a mapping of keys to values")),
    Case("yaml-typo", "config", 'EMMAXConfig.from_yaml(yaml_file("train:\\n  em_step: 10\\n"))', ValueError,
         ("'train.em_step'", "did you mean 'em_steps'?")),
    # The shipped corpus
    Case("corpus-unknown-language", "corpus", 'parallel_pairs("klingon")', ValueError,
         ("langs has unknown language code(s) ['klingon']", "list_languages()")),
    Case("corpus-near-language", "corpus", 'monolingual_pool(["por"])', ValueError,
         ("langs has unknown language code(s) ['por']", "Did you mean por_BR")),
    Case("corpus-unknown-pivot", "corpus", 'parallel_pairs("spa", pivot="english")', ValueError,
         ("pivot has unknown language code(s)", "list_languages()")),
    Case("corpus-unknown-source", "corpus", 'list_languages(source="wikipedia")', ValueError,
         ("source must be a non-empty list of corpus sources", "use sources from ['")),
    Case("corpus-no-languages", "corpus", "monolingual_pool([])", ValueError,
         ("langs is empty", "pass at least one language code")),
    Case("corpus-only-the-pivot", "corpus", 'parallel_pairs("eng")', ValueError,
         ("langs holds only the pivot 'eng'", "pass other language codes")),
    Case("corpus-empty-pairs", "corpus", 'parallel_pairs("spa", units=[])', ValueError,
         ("no parallel units for langs ['spa']", "loosen units/exclude_units")),
    Case("corpus-empty-pool", "corpus", 'monolingual_pool("xho", sources=["django"])', ValueError,
         ("no text for langs ['xho'] with sources=['django']", "choose sources these languages have")),
    Case("corpus-fraction", "corpus", "held_out_units(fraction=1.0)", ValueError,
         ("fraction must be in [0, 1)", "0.2 holds out a fifth")),
    Case("corpus-unit-id", "corpus", 'silver_rank("open_file", "udhr:a01.1")', ValueError,
         ("unit_id 'open_file'", "'<source>:<key>' (e.g. 'udhr:a23.1'")),
    # Tokenizer and encoder
    Case("tokenizer-vocab-size", "encoder", 'train_tokenizer(["Open the file"], vocab_size=100)', ValueError,
         ("vocab_size=100", "use >= 300")),
    Case("tokenizer-no-texts", "encoder", "train_tokenizer([])", ValueError,
         ("texts is empty", "pass at least one non-empty string")),
    Case("tokenizer-missing-folder", "encoder", 'get_tokenizer("./no/such/tokenizer")', FileNotFoundError,
         ("tokenizer folder './no/such/tokenizer' does not exist", 'get_tokenizer("tiny")')),
    Case("encoder-missing-run-folder", "checkpoint", 'SentenceEncoder.from_pretrained("runs/no-such-run/final")',
         FileNotFoundError, ("model folder 'runs/no-such-run/final' does not exist", "use the offline default")),
    Case("encoder-pooling", "encoder",
         'SentenceEncoder(tiny_encoder().backbone, tiny_encoder().tokenizer, pooling="max")', ValueError,
         ("pooling='max'", "use one of ['mean', 'cls_pooler']")),
    Case("encoder-cls-pooler", "encoder",
         'SentenceEncoder(tiny_encoder().backbone, tiny_encoder().tokenizer, pooling="cls_pooler")', ValueError,
         ("pooling='cls_pooler' needs a backbone with a pooler", "use pooling='mean'")),
    Case("encoder-batch-size", "encoder", 'tiny_encoder().encode(["Open the file"], batch_size=0)', ValueError,
         ("batch_size=0", "use >= 1")),
    Case("encoder-not-text", "encoder", 'tiny_encoder().encode(["Open the file", 42])', ValueError,
         ("sentences must be a str or a list of str", "['int']", "pass text only")),
    Case("encoder-similarity-dims", "encoder", "tiny_encoder().similarity(torch.ones(2, 8), torch.ones(3, 5))",
         ValueError, ("a and b must be embeddings (n, H) and (m, H)", "(2, 8) and (3, 5)", "same model's encode()")),
    Case("encoder-similarity-3d", "encoder", "tiny_encoder().similarity(torch.ones(2, 3, 8), torch.ones(2, 8))",
         ValueError, ("a and b must be embeddings (n, H) and (m, H)", "(2, 3, 8)", "same model's encode()")),
    Case("encoder-no-mlm-head", "encoder", f"tiny_encoder().mlm_logits({_LABELS}, torch.ones(2, 3))", ValueError,
         ("no MLM head", "EncoderConfig(mlm=True)")),
    # Saved encoders (checkpoints)
    Case("saved-encoder-incomplete", "checkpoint",
         'SentenceEncoder.from_pretrained(saved_encoder(delete="model.safetensors"))', FileNotFoundError,
         ("path_or_hub_id=", "incomplete save_pretrained folder without ['model.safetensors']",
          "save the encoder again with save_pretrained")),
    Case("saved-encoder-corrupt", "checkpoint",
         'SentenceEncoder.from_pretrained(saved_encoder(emmax_config="{pooling: mean"))', ValueError,
         ("path_or_hub_id=", "emmax_config.json is corrupt", "save the encoder again with save_pretrained")),
    Case("saved-encoder-missing-keys", "checkpoint",
         'SentenceEncoder.from_pretrained(saved_encoder(emmax_config="{}"))', ValueError,
         ("emmax_config.json is corrupt", "pooling, projection and max_length", "save the encoder again")),
    # Rank classifiers, losses, ranks, queue, labels
    Case("gmm-num-ranks", "gmm", "GaussianMixtureRankClassifier(num_ranks=1, dim=8)", ValueError,
         ("num_ranks must be >= 2", "got 1")),
    Case("gmm-queries-shape", "gmm", f"{_GMM}.log_joint(torch.randn(2, 5), torch.randn(3, 8))", ValueError,
         ("queries must have shape (batch, 8)", "got (2, 5)")),
    Case("gmm-scale-shape", "gmm", f"{_GMM}.log_joint(torch.randn(2, 8), torch.randn(3, 8), scale=torch.ones(3, 2))",
         ValueError, ("scale must have shape (batch, num_candidates) = (2, 3)", "got (3, 2)")),
    Case("gmm-init-diffs", "gmm", f"{_GMM}.init_from_data(torch.randn(1, 8))", ValueError,
         ("diffs must have shape (n >= 2, 8)", "got (1, 8)")),
    Case("fc-num-ranks", "gmm", "FullyConnectedRankClassifier(num_ranks=1, dim=8)", ValueError,
         ("need num_ranks >= 2", "got 1")),
    Case("loss-shapes", "losses", f"ranking_info_nce(torch.randn(2, 4), {_LABELS}, rank_temperatures(4))",
         ValueError, ("sims and labels must both be (B, Q)", "(2, 4), (2, 3)")),
    Case("loss-float-labels", "losses", "ranking_info_nce(torch.randn(2, 3), torch.zeros(2, 3), rank_temperatures(4))",
         ValueError, ("labels must be an integer (long) tensor", "pass labels.long()")),
    Case("loss-label-range", "losses", f"ranking_info_nce(torch.randn(2, 3), {_LABELS} + 5, rank_temperatures(4))",
         ValueError, ("labels must lie in -1..3", "pass rank_temperatures(num_ranks)")),
    Case("loss-temperature", "losses", "info_nce(torch.randn(2, 3), torch.tensor([0, 1]), temperature=0.0)",
         ValueError, ("temperature must be positive", "use e.g. 0.05")),
    Case("loss-mask-hides-positive", "losses",
         "info_nce(torch.randn(2, 3), torch.tensor([0, 1]), mask=torch.eye(2, 3, dtype=torch.bool))", ValueError,
         ("mask hides a positive column", "mask only the columns to leave out")),
    Case("loss-rank-confidence", "losses", f"rank_cross_entropy(torch.randn(2, 3, 4), {_LABELS}, rank_confidence=1.0)",
         ValueError, ("rank_confidence must be in [0, 1)", "got 1.0")),
    Case("loss-posterior-shape", "losses", f"rank_cross_entropy(torch.randn(2, 3), {_LABELS})", ValueError,
         ("log_posteriors must be (B, Q, N) matching labels (B, Q)", "got (2, 3), (2, 3)")),
    Case("loss-mask-prob", "losses", f"mask_tokens({_LABELS}, mask_prob=1.5)", ValueError,
         ("mask_prob must be in [0, 1]", "got 1.5")),
    Case("loss-no-tokenizer", "losses", f"mask_tokens({_LABELS})", ValueError,
         ("pass a tokenizer", "special_ids, mask_token_id and vocab_size")),
    Case("ranks-num-ranks", "ranks", "rank_temperatures(1)", ValueError,
         ("num_ranks must be >= 2", "one negative and one positive rank")),
    Case("ranks-temperature", "ranks", "rank_temperatures(4, tau_low=0.0)", ValueError,
         ("temperatures must be positive", "tau_low=0.0")),
    Case("ranks-ema", "ranks", "RankMeans(4, ema=0.0)", ValueError, ("ema must be in (0, 1]", "the reference uses 0.001")),
    Case("ranks-assign-before-init", "ranks", "RankMeans(4).assign(torch.randn(2, 3))", RuntimeError,
         ("RankMeans.assign called before the rank means were set", "call init_from(")),
    Case("ranks-lam-shape", "ranks", "interpolate(torch.randn(2, 8), torch.randn(3, 8), lam=torch.rand(3, 2))",
         ValueError, ("lam must have shape (batch, num_candidates) = (2, 3)", "got (3, 2)")),
    Case("queue-size", "ranks", "KeyQueue(queue_size=0, dim=8)", ValueError, ("queue_size must be >= 1", "got 0")),
    Case("labeller-unknown", "ranks", f'encoder_labels("gmm2", torch.zeros(2, 3, 4), torch.tensor([0, 1]), '
         f'{_TRUTH}, 4)', ValueError, ("labeller='gmm2' is unknown", "use one of")),
    Case("labeller-oracle-nn-inputs", "ranks", f'encoder_labels("oracle_nn", torch.zeros(2, 3, 4), '
         f'torch.tensor([0, 1]), {_TRUTH}, 4)', ValueError,
         ("labeller='oracle_nn' needs", "sims, query_langs and cand_langs")),
    # Command lines
    Case("train-missing-config", "cli", 'train_main(["--config", "configs/missing.yaml", "--output-dir", "runs/x"])',
         SystemExit, ("--config configs/missing.yaml: no such file", "pass a YAML preset such as configs/tiny.yaml")),
    Case("train-no-config", "cli", 'train_main(["--output-dir", "runs/x"])', SystemExit,
         ("the following arguments are required: --config",)),
    Case("train-set-syntax", "cli", f'train_main([{_RUN}, "--set", "ranks.num_ranks"])', SystemExit,
         ("--set 'ranks.num_ranks'", "use SECTION.KEY=VALUE")),
    Case("train-set-unknown-key", "cli", f'train_main([{_RUN}, "--set", "ranks.num_rank=2"])', SystemExit,
         ("--set", "'ranks.num_rank'", "did you mean 'num_ranks'?")),
    Case("train-set-bad-value", "cli", f'train_main([{_RUN}, "--set", "ranks.num_ranks=1"])', SystemExit,
         ("--set", "num_ranks=1", "use num_ranks >= 2")),
    Case("train-stop-after-zero", "cli", f'train_main([{_RUN}, "--stop-after-steps", "0"])', SystemExit,
         ("--stop-after-steps 0", "use a positive number of optimizer steps")),
    Case("train-init-from-missing", "cli", f'train_main([{_RUN}, "--init-from", "runs/none"])', SystemExit,
         ("--init-from runs/none: no such folder", "pass a run folder (with encoder-init/)")),
    Case("train-unknown-stage", "cli", f'train_main([{_RUN}, "--stage", "finetune"])', SystemExit,
         ("argument --stage: invalid choice: 'finetune'", "choose from")),
    Case("train-seed-not-int", "cli", f'train_main([{_RUN}, "--seed", "one"])', SystemExit,
         ("argument --seed: invalid int value",)),
    Case("evaluate-no-model", "cli", "evaluate_main([])", SystemExit,
         ("the following arguments are required: --model",)),
    Case("evaluate-missing-model", "cli", 'evaluate_main(["--model", "runs/no-such-run"])', FileNotFoundError,
         ("--model 'runs/no-such-run' could not be loaded", "pass a training run folder")),
    # Evaluation
    Case("eval-dims", "evaluation", "cosine_similarity_matrix(np.ones((2, 8)), np.ones((3, 5)))", ValueError,
         ("a and b must have the same dim", "embed both with the same model")),
    Case("eval-unaligned", "evaluation", "translation_accuracy(np.ones((3, 8)), np.ones((2, 8)))", ValueError,
         ("source_embeddings and target_embeddings must be aligned", "pass the same number of rows")),
    Case("eval-no-texts", "evaluation", "encode(tiny_encoder(), [])", ValueError,
         ("texts is empty", "pass at least one sentence")),
    Case("eval-pair-lengths", "evaluation", "rank_correlation(np.ones((3, 8)), np.ones((3, 8)), [0, 1])", ValueError,
         ("embeddings1, embeddings2 and scores must have the same length", "one per pair")),
    Case("eval-constant-scores", "evaluation", "rank_correlation(np.ones((3, 8)), np.ones((3, 8)), [1, 1, 1])",
         ValueError, ("scores must hold at least 2 pairs with different values",)),
]


def observe(case: Case) -> tuple[type[BaseException] | None, str]:
    """Run a case; return the exception type and its message as the page shows it (one line, `<tmp>` paths).

    For `SystemExit` the message is argparse's last stderr line. argparse quotes the `choose from` list on
    some Python versions and not on others; the page shows it unquoted so that it does not depend on that.
    """
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            case.call()
    except BaseException as error:  # SystemExit (argparse) is one of the expected outcomes
        lines = stderr.getvalue().strip().splitlines()
        message = (lines[-1] if lines else "") if isinstance(error, SystemExit) else str(error)
        message = " ".join(message.split())
        message = re.sub(re.escape(tempfile.gettempdir()) + "/" + _SCRATCH_PREFIX + r"[^/'\" ]*", "<tmp>", message)
        message = re.sub(r"\(choose from ([^)]*)\)", lambda m: f"(choose from {m[1].replace(chr(39), '')})", message)
        return type(error), message
    return None, ""


# The tests -------------------------------------------------------------------------------------------------

def test_the_cases_have_unique_ids_and_cover_every_area():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert {case.area for case in CASES} == {"config", "corpus", "encoder", "checkpoint", "gmm", "losses", "ranks",
                                             "cli", "evaluation"}
    assert all(len(case.needles) >= 1 for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_names_the_parameter_and_the_fix(case, capsys):
    with pytest.raises(BaseException) as info:
        case.call()
    assert type(info.value) is case.error, f"{case.code} raised {type(info.value).__name__}: {info.value}"
    if case.error is SystemExit:
        assert info.value.code == 2  # argparse's usage error
        message = capsys.readouterr().err
    else:
        message = str(info.value)
    missing = [needle for needle in case.needles if needle not in message]
    assert not missing, f"the message of {case.code} lacks {missing}:\n{message}"


def test_the_reliability_page_shows_every_case():
    spec = importlib.util.spec_from_file_location("reliability_table", ROOT / "scripts" / "reliability_table.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    page = (ROOT / "book" / "reliability.md").read_text(encoding="utf-8")
    assert script.current_table(page) == script.render_table(CASES, observe), (
        "book/reliability.md is out of date: run `python scripts/reliability_table.py`")
