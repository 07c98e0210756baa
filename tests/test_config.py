"""Config: presets <-> YAML files, round trips, unknown keys and value validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from emmax_core import config as C
from emmax_core.config import DataConfig, EMMAXConfig, EncoderConfig, RankConfig, TrainConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", C.PROFILES)
def test_yaml_files_mirror_presets(name):
    assert EMMAXConfig.from_yaml(CONFIGS / f"{name}.yaml") == C.preset(name)


@pytest.mark.parametrize("name", C.PROFILES)
def test_yaml_and_dict_round_trip(name, tmp_path):
    cfg = C.preset(name)
    cfg.to_yaml(tmp_path / "c.yaml", header="a header\nover two lines")
    text = (tmp_path / "c.yaml").read_text()
    assert text.startswith("# a header\n# over two lines\n")
    assert EMMAXConfig.from_yaml(tmp_path / "c.yaml") == cfg
    assert EMMAXConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_yaml() == text.split("lines\n", 1)[1]


def test_tiny_defaults_match_measured_settings():
    cfg = C.tiny()
    assert (cfg.encoder.hidden_size, cfg.encoder.num_layers, cfg.encoder.vocab_size) == (128, 2, 16000)
    assert (cfg.encoder.pooling, cfg.encoder.backbone, cfg.encoder.tokenizer) == ("mean", "tiny", "tiny")
    assert (cfg.ranks.num_ranks, cfg.ranks.queue_size, cfg.ranks.momentum) == (4, 768, 0.99)
    assert cfg.ranks.rank_mean_ema == 0.001 and cfg.ranks.confidence_threshold is None
    t = cfg.train
    assert (t.init_steps, t.gmm_steps, t.em_steps, t.lr, t.gmm_lr) == (400, 30, 100, 5e-4, 1e-2)
    assert (t.init_pairs_per_batch, t.em_pairs_per_batch, t.em_mono_per_batch) == (64, 24, 48)
    assert t.em_mono_per_batch <= 2 * t.em_pairs_per_batch  # monolingual share <= 50%


def test_colab_and_paper_use_hub_backbones_with_their_tokenizer():
    colab, paper = C.colab(), C.paper()
    assert "xlm-roberta-base" in colab.encoder.backbone and colab.encoder.tokenizer == colab.encoder.backbone
    assert colab.encoder.hidden_size == 768 and colab.ranks.queue_size == 4096 and colab.train.lr == 2e-5
    assert paper.encoder.pooling == "cls_pooler" and paper.encoder.projection and paper.encoder.mlm
    assert paper.train.mlm_weight > 0 and paper.ranks.momentum == 0.999


def test_configs_are_frozen_and_hashable():
    cfg = C.tiny()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.ranks.num_ranks = 2
    assert hash(cfg.data) == hash(DataConfig())


def test_replace_nested_and_whole_sections():
    cfg = C.tiny().replace(ranks={"num_ranks": 2}, train={"em_steps": 7})
    assert cfg.ranks.num_ranks == 2 and cfg.train.em_steps == 7
    assert cfg.ranks.queue_size == 768 and cfg.encoder == C.tiny().encoder
    whole = C.tiny().replace(encoder=EncoderConfig(hidden_size=64))
    assert whole.encoder.hidden_size == 64
    assert RankConfig().replace(num_ranks=8).num_ranks == 8
    with pytest.raises(ValueError, match="num_ranks"):
        C.tiny().replace(ranks={"num_ranks": 1})


@pytest.mark.parametrize("values, key", [
    ({"ranks": {"num_rank": 2}}, "ranks.num_rank"),
    ({"encoder": {"layers": 2}}, "encoder.layers"),
    ({"rank": {"num_ranks": 2}}, "rank"),
])
def test_unknown_keys_name_the_key_and_list_valid_keys(values, key):
    with pytest.raises(ValueError) as info:
        EMMAXConfig.from_dict(values)
    message = str(info.value)
    assert repr(key) in message and "valid keys" in message
    assert ("num_ranks" in message) if key.startswith("ranks") else True
    assert ("encoder, ranks, train, data" in message) if key == "rank" else True


def test_replace_rejects_unknown_section_and_key():
    with pytest.raises(ValueError, match="unknown section 'rank'"):
        C.tiny().replace(rank={"num_ranks": 2})
    with pytest.raises(ValueError, match="'train.learning_rate'.*valid keys: seed, lr"):
        C.tiny().replace(train={"learning_rate": 1.0})


@pytest.mark.parametrize("section, changes, name, fix", [
    (RankConfig, {"num_ranks": 1}, "num_ranks", ">= 2"),
    (RankConfig, {"rank_confidence": 1.0}, "rank_confidence", "[0, 0.75]"),
    (RankConfig, {"rank_confidence": -0.1}, "rank_confidence", "[0, 0.75]"),
    (RankConfig, {"num_ranks": 2, "rank_confidence": 0.6}, "rank_confidence", "[0, 0.5] with num_ranks=2"),
    (RankConfig, {"tau_low": 0.2, "tau_high": 0.1}, "tau_low", "tau_high"),
    (RankConfig, {"labeller": "magic"}, "labeller", "oracle"),
    (RankConfig, {"confidence_threshold": 1.5}, "confidence_threshold", "null"),
    (EncoderConfig, {"pooling": "max"}, "pooling", "cls_pooler"),
    (EncoderConfig, {"hidden_size": 30, "num_heads": 4}, "num_heads", "divisor"),
    (EncoderConfig, {"backbone": "FacebookAI/xlm-roberta-base"}, "tokenizer", "set tokenizer="),
    (TrainConfig, {"mixed_precision": "fp32"}, "mixed_precision", "bf16"),
    (TrainConfig, {"lr": 0.0}, "lr", "> 0"),
    (TrainConfig, {"em_steps": -1}, "em_steps", ">= 0"),
    (DataConfig, {"fold": "C"}, "fold", "'A', 'B'"),
])
def test_invalid_values_name_parameter_and_fix(section, changes, name, fix):
    with pytest.raises(ValueError) as info:
        section(**changes)
    assert str(info.value).startswith(f"{name}=") and fix in str(info.value)


def test_yaml_types_are_checked_and_coerced(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 5e-4\ndata:\n  sources: [udhr]\nranks:\n  confidence_threshold: 0.5\n")
    cfg = EMMAXConfig.from_yaml(path)
    assert cfg.train.lr == 5e-4 and isinstance(cfg.train.lr, float)  # YAML 1.1 reads 5e-4 as a string
    assert cfg.data.sources == ("udhr",) and cfg.ranks.confidence_threshold == 0.5
    for bad, name in [("ranks: {num_ranks: 2.5}", "num_ranks"), ("encoder: {mlm: 'yes'}", "mlm"),
                      ("train: {lr: fast}", "lr"), ("data: {sources: udhr}", "sources")]:
        path.write_text(bad)
        with pytest.raises(ValueError, match=name):
            EMMAXConfig.from_yaml(path)


def test_missing_yaml_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="configs/"):
        EMMAXConfig.from_yaml(tmp_path / "nope.yaml")


def test_empty_yaml_gives_defaults(tmp_path):
    (tmp_path / "e.yaml").write_text("# nothing\n")
    assert EMMAXConfig.from_yaml(tmp_path / "e.yaml") == C.tiny()


def test_resolve_profile(monkeypatch):
    import torch

    monkeypatch.setenv("EMMAX_PROFILE", "paper")
    assert C.resolve_profile() == "paper"
    monkeypatch.setenv("EMMAX_PROFILE", "huge")
    with pytest.raises(ValueError, match="EMMAX_PROFILE"):
        C.resolve_profile()
    monkeypatch.delenv("EMMAX_PROFILE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert C.resolve_profile() == "tiny"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert C.resolve_profile() == "colab"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert C.resolve_profile() == "tiny"
