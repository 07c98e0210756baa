"""Hub loaders on small local files in the hub's schema (tests/fixtures/hub), and the offline error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emmax_core.evaluation import (
    HubDatasetUnavailableError,
    RankCorrelationEvaluator,
    ZeroShotClassificationEvaluator,
    evaluate_bitext_by_language,
    geometry_report,
    load_flores,
    load_sts17,
    load_tatoeba,
    load_xnli,
    nli_inputs,
)

FIXTURES = Path(__file__).parent / "fixtures" / "hub"
CORPUS_COLUMNS = ["source", "unit_id", "lang", "script", "text"]


class UnitModel:
    """Maps each text to its unit's vector plus a little noise: a perfect multilingual encoder."""

    def __init__(self, texts, keys, dim=16, seed=0):
        rng = np.random.default_rng(seed)
        centres = {k: rng.normal(size=dim) for k in dict.fromkeys(keys)}
        self.table = {t: centres[k] + 0.01 * rng.normal(size=dim) for t, k in zip(texts, keys)}

    def encode(self, sentences, batch_size=32, convert_to_numpy=True):
        return np.stack([self.table[s] for s in sentences])


def test_tatoeba_local_dir_and_data_files():
    ds = load_tatoeba(["deu", "fra"], local_dir=FIXTURES / "tatoeba")
    assert ds.column_names == CORPUS_COLUMNS and len(ds) == 2 * (4 + 3)
    assert ds[0] == {
        "source": "tatoeba",
        "unit_id": "tatoeba:deu-eng/0",
        "lang": "deu",
        "script": "",
        "text": "Ich habe Hunger.",
    }
    assert (
        ds[4]["lang"] == "eng" and ds[4]["unit_id"] == "tatoeba:deu-eng/0" and ds[4]["text"] == "I am hungry."
    )
    one = load_tatoeba(
        "fra", data_files=FIXTURES / "tatoeba" / "fra-eng" / "test-00000-of-00001.parquet", limit=2
    )
    assert len(one) == 4 and set(one["lang"]) == {"fra", "eng"}
    with pytest.raises(ValueError, match="no parquet/json files"):
        load_tatoeba("ita", local_dir=FIXTURES / "tatoeba")
    with pytest.raises(ValueError, match="single lang"):
        load_tatoeba(["deu", "fra"], data_files="x.parquet")


def test_flores_rows_feed_bitext_and_geometry():
    ds = load_flores(["eng_Latn", "deu_Latn", "fra_Latn"], local_dir=FIXTURES / "flores")
    assert ds.column_names == CORPUS_COLUMNS and len(ds) == 9
    assert set(ds["lang"]) == {"eng", "deu", "fra"} and set(ds["script"]) == {"Latn"}
    assert ds.filter(lambda r: r["lang"] == "deu")["unit_id"] == [f"flores:devtest/{i}" for i in (1, 2, 3)]
    assert len(load_flores(["eng_Latn", "deu_Latn"], split="dev", local_dir=FIXTURES / "flores")) == 4
    files = {code: FIXTURES / "flores" / "dev" / f"{code}.parquet" for code in ("eng_Latn", "fra_Latn")}
    assert (
        load_flores(["eng_Latn", "fra_Latn"], split="dev", data_files=files)["lang"]
        == ["eng"] * 2 + ["fra"] * 2
    )
    with pytest.raises(ValueError, match="deu_Latn"):
        load_flores(["eng_Latn", "deu_Latn"], data_files=files)
    model = UnitModel(ds["text"], ds["unit_id"])
    out = evaluate_bitext_by_language(model, ds, groups={"all": ["deu", "fra"]})
    assert (
        out["group=all/mean_accuracy"] == 1.0 and out["source=flores/lang=fra/many_src2trg_accuracy"] == 1.0
    )
    emb = model.encode(list(ds["text"]))
    report = geometry_report(emb, ds["lang"], ds["unit_id"], language_id=False)
    assert report["cosine_gap"] > 0.5


def test_sts17_jsonl_gz_into_rank_correlation():
    ds = load_sts17("en-de", local_dir=FIXTURES / "sts17")
    assert ds.column_names == ["sentence1", "sentence2", "score", "lang1", "lang2"] and len(ds) == 3
    assert ds["score"] == [5.0, 0.8, 3.6] and set(ds["lang1"]) == {"en"} and set(ds["lang2"]) == {"de"}
    assert ds.features["score"].dtype == "float64"
    keys = list(range(len(ds)))
    model = UnitModel(list(ds["sentence1"]) + list(ds["sentence2"]), keys + [k + 10 for k in keys])
    metrics = RankCorrelationEvaluator(ds["sentence1"], ds["sentence2"], ds["score"])(model)
    assert set(metrics) == {"cosine_spearman", "cosine_pearson"}


def test_xnli_pairs_into_zero_shot_classifier():
    en = load_xnli("en", local_dir=FIXTURES / "xnli")
    de = load_xnli("de", local_dir=FIXTURES / "xnli")
    assert en.column_names == ["premise", "hypothesis", "label", "lang"] and en["label"] == [0, 1, 2]
    assert set(de["lang"]) == {"de"}
    assert en.features["label"].dtype == de.features["label"].dtype == "int64"
    pairs, labels = nli_inputs(en)
    assert pairs[0] == ("The cat sleeps on the sofa.", "An animal is resting.") and labels == [0, 1, 2]
    texts = list(en["premise"]) + list(en["hypothesis"]) + list(de["premise"]) + list(de["hypothesis"])
    # Translations share a vector: the English probe must then transfer perfectly to German.
    keys = ["p"] * 3 + ["h0", "h1", "h2"] + ["p"] * 3 + ["h0", "h1", "h2"]
    evaluator = ZeroShotClassificationEvaluator(pairs, labels, {"de": nli_inputs(de)}, C=100.0)
    assert evaluator(UnitModel(texts, keys))["lang=de/accuracy"] == 1.0
    with pytest.raises(ValueError, match="all_languages"):
        load_xnli("all_languages")


def test_offline_without_local_files_gives_actionable_error(monkeypatch):
    import datasets
    import huggingface_hub

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubDatasetUnavailableError, match="needs network access") as info:
        load_tatoeba("deu")
    assert "data_files=" in str(info.value) and "local_dir=" in str(info.value)
    assert isinstance(info.value, ConnectionError)
