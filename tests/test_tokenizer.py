"""Tokenizer: XLM-R specials, lossless round trips in many scripts, no <unk>, determinism, the tiny cache."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest
from conftest import FIXTURE_SCRIPTS, FIXTURE_TEXTS, UNSEEN_SCRIPT_TEXTS

from emmax_core import tokenizer as T


def test_fixture_covers_the_scripts_we_promise():
    wanted = {"Latn", "Cyrl", "Arab", "Hans", "Deva", "Thai", "Hang", "Ethi", "Grek", "Hebr", "Geor", "Taml"}
    assert wanted <= set(FIXTURE_SCRIPTS.values())


def test_special_tokens_follow_xlmr(tiny_tokenizer):
    tok = tiny_tokenizer
    assert [tok.convert_tokens_to_ids(t) for t in T.SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token == "<mask>" and tok.cls_token_id == 0 and tok.sep_token_id == 2
    ids = tok("Open the file")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and 0 not in ids[1:-1] and 2 not in ids[1:-1]
    pair = tok("Open the file", "Datei öffnen")["input_ids"]
    assert pair[0] == 0 and pair.count(2) == 3 and pair[-1] == 2


@pytest.mark.parametrize("lang", sorted(FIXTURE_TEXTS))
def test_round_trip_and_no_unk(tiny_tokenizer, lang):
    for text in FIXTURE_TEXTS[lang]:
        ids = tiny_tokenizer(text)["input_ids"]
        assert tiny_tokenizer.unk_token_id not in ids
        assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == text


def test_unseen_scripts_fall_back_to_bytes_without_unk(tiny_tokenizer):
    for text in UNSEEN_SCRIPT_TEXTS:
        ids = tiny_tokenizer(text)["input_ids"]
        assert tiny_tokenizer.unk_token_id not in ids
        assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == text
    # unseen scripts cost more tokens per character than a trained one
    seen = len(tiny_tokenizer(FIXTURE_TEXTS["rus"][8])["input_ids"]) / len(FIXTURE_TEXTS["rus"][8])
    unseen = len(tiny_tokenizer(UNSEEN_SCRIPT_TEXTS[0])["input_ids"]) / len(UNSEEN_SCRIPT_TEXTS[0])
    assert unseen > seen


def test_nfc_normalisation_merges_composed_and_decomposed(tiny_tokenizer):
    composed, decomposed = "é", "e\u0301"
    assert tiny_tokenizer(composed)["input_ids"] == tiny_tokenizer(decomposed)["input_ids"]


def test_training_is_deterministic_and_respects_vocab_size(fixture_texts, tiny_tokenizer):
    again = T.train_tokenizer(fixture_texts, vocab_size=1000)
    assert again.backend_tokenizer.to_str() == tiny_tokenizer.backend_tokenizer.to_str()
    small = T.train_tokenizer(fixture_texts, vocab_size=400)
    assert len(small) == 400 and len(tiny_tokenizer) <= 1000
    encoded = small(FIXTURE_TEXTS["eng"][8])["input_ids"]
    assert len(encoded) > len(tiny_tokenizer(FIXTURE_TEXTS["eng"][8])["input_ids"])


def test_training_is_deterministic_across_processes(fixture_texts, tiny_tokenizer):
    """Rust hash maps are randomly seeded per process; the trained merges must not depend on that."""
    code = ("import json, sys; from emmax_core.tokenizer import train_tokenizer; "
            "print(train_tokenizer(json.load(sys.stdin), vocab_size=1000).backend_tokenizer.to_str())")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(fixture_texts), capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.strip() == tiny_tokenizer.backend_tokenizer.to_str()


@pytest.mark.parametrize("texts, vocab_size, name", [(["a b"], 100, "vocab_size"), ([], 1000, "texts"),
                                                      (["", ""], 1000, "texts")])
def test_bad_training_input(texts, vocab_size, name):
    with pytest.raises(ValueError, match=name):
        T.train_tokenizer(texts, vocab_size=vocab_size)


@pytest.fixture
def fake_corpus(monkeypatch, fixture_corpus):
    """Stand-in for `emmax_core.corpus` with the fixture rows; UDHR article 26 is held out."""
    module = types.ModuleType("emmax_core.corpus")
    module.load_corpus = lambda: fixture_corpus
    module.held_out_units = lambda seed=123, fraction=0.2: {"udhr:a26.1"}
    monkeypatch.setitem(sys.modules, "emmax_core.corpus", module)
    trained = []
    real = T.train_tokenizer
    monkeypatch.setattr(T, "train_tokenizer", lambda texts, vocab_size: trained.append(texts) or real(texts, vocab_size))
    return trained


def test_tiny_tokenizer_trains_once_without_held_out_text(fake_corpus, fixture_rows, tmp_path):
    first = T.get_tokenizer("tiny", cache_dir=tmp_path, vocab_size=500)
    assert len(fake_corpus) == 1
    held_out = {r["text"] for r in fixture_rows if r["unit_id"] == "udhr:a26.1"}
    assert len(held_out) == 16 and not held_out & set(fake_corpus[0])
    assert len(fake_corpus[0]) == len(fixture_rows) - 16
    second = T.get_tokenizer("tiny", cache_dir=tmp_path, vocab_size=500)
    assert len(fake_corpus) == 1  # loaded from the cache
    assert second.backend_tokenizer.to_str() == first.backend_tokenizer.to_str()
    entries = sorted(p.name for p in tmp_path.iterdir())
    assert len(entries) == 1 and entries[0].startswith("tokenizer-")  # no temporary folders left behind
    T.get_tokenizer("tiny", cache_dir=tmp_path, vocab_size=600)
    assert len(fake_corpus) == 2 and len(list(tmp_path.iterdir())) == 2  # keyed by vocab size


def test_tiny_tokenizer_cache_env_override(fake_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("EMMAX_CACHE", str(tmp_path / "env-cache"))
    assert T.default_cache_dir() == tmp_path / "env-cache"
    T.get_tokenizer("tiny", vocab_size=500)
    assert any(p.name.startswith("tokenizer-") for p in (tmp_path / "env-cache").iterdir())


def test_local_folder_loads_the_same_tokenizer(tiny_tokenizer, tmp_path):
    tiny_tokenizer.save_pretrained(str(tmp_path / "tok"))
    loaded = T.get_tokenizer(str(tmp_path / "tok"))
    text = FIXTURE_TEXTS["kor"][8]
    assert loaded(text)["input_ids"] == tiny_tokenizer(text)["input_ids"]


@pytest.mark.parametrize("name", ["./no/such/dir", "/no/such/dir", "runs/x/final", "no-such-model-zz9"])
def test_missing_tokenizer_names_the_offline_default(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match='get_tokenizer\\("tiny"\\)'):
        T.get_tokenizer(name)
