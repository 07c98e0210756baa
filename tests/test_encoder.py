"""SentenceEncoder: pooling oracles, sentence-transformers `encode` semantics, save/load, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import FIXTURE_TEXTS

from emmax_core.config import EncoderConfig
from emmax_core.encoder import SentenceEncoder

SENTENCES = [FIXTURE_TEXTS[lang][i] for lang, i in
             [("eng", 8), ("deu", 0), ("cmn", 9), ("amh", 2), ("tha", 10), ("eng", 6), ("rus", 3), ("kor", 8)]]


def test_shapes_and_unit_norm(tiny_encoder):
    emb = tiny_encoder.encode(SENTENCES)
    assert isinstance(emb, np.ndarray) and emb.shape == (len(SENTENCES), 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert tiny_encoder.get_sentence_embedding_dimension() == 32 and tiny_encoder.max_seq_length == 64
    one = tiny_encoder.encode(SENTENCES[0])
    assert one.shape == (32,)
    np.testing.assert_allclose(one, emb[0], atol=1e-5)


def test_mean_pooling_matches_explicit_masked_mean(tiny_encoder):
    batch = tiny_encoder.tokenize(SENTENCES[:3])
    with torch.no_grad():
        out = tiny_encoder(batch["input_ids"], batch["attention_mask"], normalize=False)
        for row, (ids, mask) in enumerate(zip(batch["input_ids"], batch["attention_mask"])):
            n = int(mask.sum())  # the sentence alone, without padding, must give the same vector
            states = tiny_encoder.backbone(input_ids=ids[None, :n]).last_hidden_state[0]
            torch.testing.assert_close(out[row], states.mean(0), atol=1e-5, rtol=1e-4)


def test_cls_pooler_with_projection_matches_reference_formula(make_tiny_encoder):
    model = make_tiny_encoder(pooling="cls_pooler", projection=True).eval()
    assert model.projection is not None and model.backbone.pooler is not None
    batch = model.tokenize(SENTENCES[:3])
    with torch.no_grad():
        h_cls = model.backbone(**batch).last_hidden_state[:, 0]
        pooled = torch.tanh(model.backbone.pooler.dense(h_cls))
        expected = torch.nn.functional.normalize(model.projection(pooled), dim=-1)
        torch.testing.assert_close(model(batch["input_ids"], batch["attention_mask"]), expected)
    mean = make_tiny_encoder()
    assert mean.backbone.pooler is None and mean.projection is None  # no unused parameters for DDP


def test_order_is_restored_after_length_sorting(tiny_encoder):
    rng = np.random.default_rng(0)
    shuffled = [SENTENCES[i] for i in rng.permutation(len(SENTENCES))]
    batched = tiny_encoder.encode(shuffled, batch_size=3)
    one_by_one = np.stack([tiny_encoder.encode(s) for s in shuffled])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_output_types(tiny_encoder):
    tensor = tiny_encoder.encode(SENTENCES[:2], convert_to_tensor=True, convert_to_numpy=True)
    assert torch.is_tensor(tensor) and tensor.shape == (2, 32) and not tensor.requires_grad
    assert torch.is_tensor(tiny_encoder.encode("x", convert_to_tensor=True))
    as_list = tiny_encoder.encode(SENTENCES[:2], convert_to_numpy=False)
    assert isinstance(as_list, list) and len(as_list) == 2 and as_list[0].shape == (32,)
    assert tiny_encoder.encode([]).shape == (0, 32)
    raw = tiny_encoder.encode(SENTENCES[:2], normalize_embeddings=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)


def test_encode_uses_eval_and_no_grad_and_restores_training_mode(make_tiny_encoder):
    model = make_tiny_encoder().train()
    first, second = model.encode(SENTENCES), model.encode(SENTENCES)
    np.testing.assert_array_equal(first, second)  # dropout off while encoding
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    model.encode(SENTENCES[:2])
    assert not model.training


def test_bad_encode_input(tiny_encoder):
    with pytest.raises(ValueError, match="batch_size"):
        tiny_encoder.encode(SENTENCES, batch_size=0)
    with pytest.raises(ValueError, match="str"):
        tiny_encoder.encode([1, 2])


def test_truncation_to_max_length(tiny_encoder):
    batch = tiny_encoder.tokenize([" ".join(FIXTURE_TEXTS["eng"]) * 5, "Cancel"])
    assert batch["input_ids"].shape[1] == tiny_encoder.max_seq_length
    assert batch["input_ids"][1, -1] == tiny_encoder.tokenizer.pad_token_id


def test_similarity_is_the_cosine_matrix(tiny_encoder):
    a, b = tiny_encoder.encode(SENTENCES[:3]), tiny_encoder.encode(SENTENCES[3:8])
    sims = tiny_encoder.similarity(a, b)
    assert tiny_encoder.similarity_fn_name == "cosine" and sims.shape == (3, 5)
    np.testing.assert_allclose(sims.numpy(), a @ b.T, atol=1e-5)
    assert tiny_encoder.similarity(a[0], torch.from_numpy(b)).shape == (1, 5)


@pytest.mark.parametrize("changes", [{}, {"pooling": "cls_pooler", "projection": True, "mlm": True}])
def test_save_load_round_trip(make_tiny_encoder, tmp_path, changes):
    model = make_tiny_encoder(seed=3, **changes)
    with torch.no_grad():  # make the heads differ from a fresh init so loading them is really tested
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.save_pretrained(tmp_path / "enc")
    files = {p.name for p in (tmp_path / "enc").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "emmax_config.json", "README.md"} <= files
    assert ("emmax_heads.safetensors" in files) == bool(changes)
    settings = json.loads((tmp_path / "enc" / "emmax_config.json").read_text())
    assert settings["pooling"] == model.pooling and settings["projection"] == bool(changes)
    assert {"emmax_core", "torch", "transformers"} <= set(settings["versions"])
    loaded = SentenceEncoder.from_pretrained(tmp_path / "enc")
    np.testing.assert_array_equal(loaded.encode(SENTENCES), model.encode(SENTENCES))
    if changes:
        torch.testing.assert_close(loaded.projection.weight, model.projection.weight)
        batch = model.tokenize(SENTENCES[:2])
        torch.testing.assert_close(loaded.eval().mlm_logits(**batch), model.eval().mlm_logits(**batch))
    model.save_pretrained(tmp_path / "enc")  # overwriting an existing folder works and leaves no temp dirs
    assert [p.name for p in tmp_path.iterdir()] == ["enc"]


def test_mlm_head_is_tied_to_input_embeddings(make_tiny_encoder):
    model = make_tiny_encoder(mlm=True)
    batch = model.tokenize(SENTENCES[:2])
    logits = model.mlm_logits(**batch)
    assert logits.shape == (*batch["input_ids"].shape, len(model.tokenizer))
    logits.sum().backward()
    assert model.backbone.get_input_embeddings().weight.grad is not None
    with pytest.raises(ValueError, match="mlm=True"):
        make_tiny_encoder().mlm_logits(**batch)
    model.eval()
    positions = batch["attention_mask"].bool() & (torch.rand(batch["input_ids"].shape) < 0.5)
    with torch.no_grad():  # only the masked tokens through the LM head: the same logits, fewer of them
        torch.testing.assert_close(model.mlm_logits(**batch, positions=positions), model.mlm_logits(**batch)[positions])


@pytest.mark.parametrize("path", ["./missing-model", "/no/such/model", "runs/no-such-run-3f9c/final"])
def test_missing_path_names_the_offline_default(path):
    with pytest.raises(FileNotFoundError) as info:
        SentenceEncoder.from_pretrained(path)
    assert "EncoderConfig()" in str(info.value) and "tiny()" in str(info.value)


def test_offline_hub_id_names_the_offline_default(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        SentenceEncoder.from_pretrained("no-such-org-zz9/no-such-model")


def test_constructor_validation(tiny_encoder):
    with pytest.raises(ValueError, match="pooling"):
        SentenceEncoder(tiny_encoder.backbone, tiny_encoder.tokenizer, pooling="max")
    with pytest.raises(ValueError, match="add_pooling_layer"):
        SentenceEncoder(tiny_encoder.backbone, tiny_encoder.tokenizer, pooling="cls_pooler")


def test_from_config_defaults_to_the_tiny_architecture(tiny_tokenizer):
    model = SentenceEncoder.from_config(EncoderConfig(num_layers=1), tokenizer=tiny_tokenizer)
    cfg = model.backbone.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (128, 1, 4, 512)
    assert cfg.vocab_size == len(tiny_tokenizer) and cfg.pad_token_id == 1
