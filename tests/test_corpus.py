"""The shipped corpus (emmax_core.corpus) and the parsers of scripts/build_corpus.py that make it.

Offline and fast: reads the packaged parquet once; the build script is only imported for its parsers,
which run on the small fixtures in tests/fixtures/corpus/.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "corpus"


@pytest.fixture(scope="module")
def corpus():
    from emmax_core import corpus

    start = time.perf_counter()
    corpus.load_corpus()
    print(f"load_corpus: {time.perf_counter() - start:.2f} s")  # the budget is < 10 s
    return corpus


@pytest.fixture(scope="module")
def frame(corpus):
    return corpus.load_corpus().to_pandas()


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("build_corpus", ROOT / "scripts" / "build_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ shipped data
def test_corpus_size_and_coverage(corpus, frame):
    assert list(frame.columns) == ["source", "unit_id", "lang", "script", "text"]
    assert frame["lang"].nunique() >= 100
    assert frame["script"].nunique() >= 10
    assert frame["unit_id"].nunique() >= 3000
    assert {"udhr", "sphinx", "django"} <= set(frame["source"])
    assert frame.loc[frame["source"] != "udhr", "lang"].nunique() >= 60
    assert corpus.load_corpus() is corpus.load_corpus()  # cached in-process


def test_rows_are_well_formed(frame):
    assert frame["text"].str.strip().str.len().min() > 0
    assert not frame.duplicated(["unit_id", "lang"]).any()
    english = set(frame.loc[frame["lang"] == "eng", "unit_id"])
    assert set(frame["unit_id"]) == english
    prefixes = frame["unit_id"].str.split(":").str[0]
    assert (prefixes == frame["source"]).all()
    udhr = frame.loc[frame["source"] == "udhr", "unit_id"]
    assert udhr.str.fullmatch(r"udhr:(pre|a(0[1-9]|[12]\d|30))\.\d+").all()
    assert frame.loc[frame["source"] != "udhr", "unit_id"].str.fullmatch(r"[a-z_]+:[\w.]+/[0-9a-f]{10}").all()
    assert (frame.groupby("unit_id")["lang"].nunique() >= 2).all()  # every unit has a translation


def test_udhr_paragraph_lengths_follow_english(frame):
    """Misaligned sections would pair unrelated paragraphs: their lengths would not correlate."""
    udhr = frame[frame["source"] == "udhr"]
    en_len = udhr[udhr["lang"] == "eng"].set_index("unit_id")["text"].str.len()
    assert len(en_len) == 60
    bad = {}
    for lang, rows in udhr[udhr["lang"] != "eng"].groupby("lang"):
        if len(rows) >= 20:
            x = np.log(en_len.loc[rows["unit_id"]].to_numpy())
            r = np.corrcoef(x, np.log(rows["text"].str.len().to_numpy()))[0, 1]
            if not r > 0.3:
                bad[lang] = round(float(r), 2)
    assert not bad, f"UDHR languages whose paragraph lengths do not follow English: {bad}"


def test_languages_json_matches_rows(corpus, frame):
    counts = frame.groupby("lang").size()
    info = corpus.language_info()
    assert sorted(info["lang"]) == corpus.list_languages() == sorted(counts.index)
    assert (info.set_index("lang")["n_units"] == counts).all()
    scripts = frame.groupby("lang")["script"].agg(lambda s: set(s))
    assert all(scripts[row.lang] == {row.script} for row in info.itertuples())
    spa = corpus.language_info("spa")
    assert spa["iso639_3"] == "spa" and spa["script"] == "Latn" and "udhr" in spa["sources"]
    assert corpus.language_info("jpn")["script"] == "Jpan" and corpus.language_info("rus")["script"] == "Cyrl"
    assert set(corpus.list_languages("sphinx")) < set(corpus.list_languages())
    assert "fra" in corpus.list_languages("django")


def test_bad_languages_and_sources_raise(corpus):
    with pytest.raises(ValueError, match=r"xx_not_a_lang.*list_languages\(\)"):
        corpus.parallel_pairs(["spa", "xx_not_a_lang"])
    with pytest.raises(ValueError, match="deu_1996"):  # a near match is suggested
        corpus.language_info("deu")
    with pytest.raises(ValueError, match="empty"):
        corpus.monolingual_pool([])
    with pytest.raises(ValueError, match="no parallel units.*dsb"):
        corpus.parallel_pairs("dsb", sources=["udhr"])  # Lower Sorbian has catalogs only
    with pytest.raises(ValueError, match="only the pivot"):
        corpus.parallel_pairs(["eng"])
    with pytest.raises(ValueError, match="sources"):
        corpus.parallel_pairs("spa", sources=["nope"])
    with pytest.raises(ValueError, match="source"):
        corpus.list_languages("nope")


# ------------------------------------------------------------------------------------------ helpers
def test_parallel_pairs_match_an_explicit_join(corpus, frame):
    pairs = corpus.parallel_pairs(["spa", "jpn", "eng"], sources=["udhr", "sphinx"]).to_pandas()
    assert list(pairs.columns) == ["unit_id", "source", "lang", "text", "pivot_text"]
    text = {(u, g): t for u, g, t in zip(frame["unit_id"], frame["lang"], frame["text"])}
    expected = sorted((u, g) for (u, g) in text if g in ("spa", "jpn") and (u, "eng") in text
                      and u.split(":")[0] in ("udhr", "sphinx"))
    assert sorted(zip(pairs["unit_id"], pairs["lang"])) == expected
    assert all(text[(u, "eng")] == p and text[(u, g)] == t
               for u, g, t, p in zip(pairs["unit_id"], pairs["lang"], pairs["text"], pairs["pivot_text"]))
    assert pairs[["lang", "unit_id"]].values.tolist() == sorted(pairs[["lang", "unit_id"]].values.tolist())

    one_shot = (u for u in ["udhr:a01.1", "udhr:a02.1"])  # a generator is read once, for both languages
    spa_fra = corpus.parallel_pairs("spa", pivot="fra", units=one_shot).to_pandas()
    assert list(spa_fra["unit_id"]) == ["udhr:a01.1", "udhr:a02.1"]
    assert spa_fra["pivot_text"].iloc[0] == text[("udhr:a01.1", "fra")]


def test_held_out_units_and_leak_free_pools(corpus, frame):
    held = corpus.held_out_units()
    assert held == corpus.held_out_units(seed=123) and held != corpus.held_out_units(seed=7)
    udhr = {u for u in held if u.startswith("udhr:")}
    assert len(udhr) == 17 and all(23 <= int(u[6:8]) <= 30 for u in udhr)
    per_source = frame[frame["lang"] == "eng"].groupby("source")["unit_id"].agg(set)
    for source, units in per_source.items():
        if source != "udhr":
            assert abs(len(units & held) - 0.2 * len(units)) <= 1, source
    assert corpus.held_out_units(fraction=0.0) == udhr
    with pytest.raises(ValueError, match="fraction"):
        corpus.held_out_units(fraction=1.5)

    split = corpus.default_language_split()
    pairs = corpus.parallel_pairs(split["parallel"], exclude_units=held).to_pandas()
    pool = corpus.monolingual_pool(split["group_a"] + ["eng"], exclude_units=held).to_pandas()
    assert not (set(pairs["unit_id"]) | set(pool["unit_id"])) & held
    assert set(pairs["lang"]) == set(split["parallel"])


def test_monolingual_pool_is_shuffled_and_complete(corpus, frame):
    pool = corpus.monolingual_pool(["kat", "kor"], sources=["udhr", "django"], seed=0).to_pandas()
    assert list(pool.columns) == ["unit_id", "source", "lang", "text"]
    oracle = frame[frame["lang"].isin(["kat", "kor"]) & frame["source"].isin(["udhr", "django"])]
    assert Counter(zip(pool["unit_id"], pool["lang"])) == Counter(zip(oracle["unit_id"], oracle["lang"]))
    again = corpus.monolingual_pool(["kat", "kor"], sources=["udhr", "django"], seed=0).to_pandas()
    other = corpus.monolingual_pool(["kat", "kor"], sources=["udhr", "django"], seed=1).to_pandas()
    assert pool.equals(again) and not pool.equals(other)
    assert list(pool["unit_id"]) != sorted(pool["unit_id"])
    few = corpus.monolingual_pool("kat", exclude_units=["udhr:a01.1"]).to_pandas()
    assert "udhr:a01.1" not in set(few["unit_id"]) and set(few["lang"]) == {"kat"}


def test_silver_ranks_known_cases(corpus):
    assert corpus.silver_rank("udhr:a23.1", "udhr:a23.1") == 3
    assert corpus.silver_rank("udhr:a23.1", "udhr:a23.4") == 2
    assert corpus.silver_rank("udhr:a23.1", "udhr:a26.2") == 1   # both social/economic/cultural
    assert corpus.silver_rank("udhr:a03.1", "udhr:a05.1") == 1
    assert corpus.silver_rank("udhr:a01.1", "udhr:a03.1") == 0
    assert corpus.silver_rank("udhr:pre.1", "udhr:pre.7") == 2
    assert corpus.silver_rank("django:admin/0123456789", "django:admin/abcdefabcd") == 2
    assert corpus.silver_rank("django:admin/0123456789", "django:auth/abcdefabcd") == 1
    assert corpus.silver_rank("django:admin/0123456789", "wagtail:admin/0123456789") == 0
    assert corpus.silver_rank("udhr:a01.1", "sphinx:core/0123456789") == 0
    with pytest.raises(ValueError, match="unit_id"):
        corpus.silver_rank("udhr:a99.1", "udhr:a01.1")
    with pytest.raises(ValueError, match="unit_id"):
        corpus.silver_rank("not-a-unit", "udhr:a01.1")


def test_silver_ranks_equal_pairwise_loop(corpus, frame):
    units = sorted(set(frame["unit_id"]))
    rng = np.random.default_rng(0)
    a = list(rng.choice(units, 40)) + ["udhr:a01.1", "udhr:a02.1"]
    b = list(rng.choice(units, 30)) + ["udhr:a01.1", "udhr:a02.2"] + a[:5]
    ranks = corpus.silver_ranks(a, b)
    assert ranks.shape == (42, 37) and ranks.dtype == np.int64
    assert ranks.tolist() == [[corpus.silver_rank(x, y) for y in b] for x in a]
    assert set(np.unique(ranks)) >= {0, 1, 2, 3}


def test_default_language_split(corpus):
    split = corpus.default_language_split()
    par, a, b = split["parallel"], split["group_a"], split["group_b"]
    assert (len(par), len(a), len(b)) == (36, 15, 15)
    assert len(set(par) | set(a) | set(b)) == 66 and "eng" not in par + a + b
    info = corpus.language_info().set_index("lang")
    for group in (a, b):
        assert info.loc[group, "script"].nunique() >= 5
        assert sum(set(s) != {"udhr"} for s in info.loc[group, "sources"]) >= 12  # most have catalogs
    split["parallel"].append("xxx")
    assert "xxx" not in corpus.default_language_split()["parallel"]


# ------------------------------------------------------------------------------------------ build script
def test_udhr_html_parser_and_alignment(build):
    english = build.parse_udhr_html((FIXTURES / "eng.html").read_text(encoding="utf-8"))
    spanish_text = (FIXTURES / "spa.html").read_text(encoding="utf-8")
    spanish = build.parse_udhr_html(spanish_text)
    assert spanish == build.parse_udhr_html(spanish_text)
    assert {k: len(v) for k, v in english.items()} == {"pre": 2, "a01": 1, "a02": 2, "a03": 1, "a26": 2}
    assert english["a26"][0] == "Everyone has the right to education."
    assert spanish["a01"] == ["Todos los seres humanos nacen libres e iguales en dignidad y derechos."]
    pairs = build.align_udhr(english, spanish)
    # a02 has 1 paragraph instead of 2 and a03 only a placeholder "@": both sections are dropped whole
    assert [k for k, _ in pairs] == ["pre.1", "pre.2", "a01.1", "a26.1", "a26.2"]
    assert dict(pairs)["a26.2"].startswith("La educación tendrá")
    r = build.length_correlation(english, pairs)
    assert -1 <= r <= 1 and not math.isnan(r)


def test_udhr_index_and_codes(build):
    js = """export const udhr = [
  {bcp47: 'es', code: '042', iso6393: 'spa', name: 'Spanish (042)', stage: 4},
  {bcp47: 'es', code: 'spa', iso6393: 'spa', name: 'Spanish', stage: 4},
  {bcp47: 'kab', code: '071', iso6393: 'kab', name: "Kabyle's", stage: 4},
  {bcp47: 'cv', code: 'chv', iso6393: 'chv', name: 'Chuvash', latitude: 55.5, stage: 1}
]"""
    records = build.parse_udhr_index(js)
    assert [r["code"] for r in records] == ["042", "spa", "071", "chv"]
    assert records[2]["name"] == "Kabyle's" and records[3]["stage"] == 1 and records[3]["latitude"] == 55.5
    assert build.udhr_lang_codes(records) == {"042": "spa_042", "spa": "spa", "071": "kab", "chv": "chv"}


def test_po_parser(build):
    text = (FIXTURES / "sample.po").read_text(encoding="utf-8")
    entries = build.parse_po(text)
    assert entries == build.parse_po(text)
    assert entries == [
        {"msgctxt": None, "msgid": "Save changes", "msgstr": "Änderungen speichern"},
        {"msgctxt": None, "msgid": "The file %(name)s could not be opened.",
         "msgstr": "Die Datei %(name)s konnte nicht geöffnet werden."},
        {"msgctxt": "menu", "msgid": "Open &File", "msgstr": "&Datei öffnen"},
        {"msgctxt": None, "msgid": 'Say "hello"\tnow', "msgstr": 'Sag "hallo"\tjetzt'},
        {"msgctxt": None, "msgid": "Not translated yet", "msgstr": ""},
        {"msgctxt": None, "msgid": "<b>Bold</b> text with {count} items",
         "msgstr": "<b>Fetter</b> Text mit {count} Elementen"},
    ]  # fuzzy, plural, malformed and obsolete (#~) entries are skipped
    cleaned = [(build.clean_text(e["msgid"]), build.clean_text(e["msgstr"])) for e in entries]
    assert cleaned[1] == ("The file could not be opened.", "Die Datei konnte nicht geöffnet werden.")
    assert cleaned[2] == ("Open File", "Datei öffnen")
    assert cleaned[3] == ('Say "hello" now', 'Sag "hallo" jetzt')
    assert cleaned[5] == ("Bold text with items", "Fetter Text mit Elementen")
    kept = [(en, tr) for en, tr in cleaned if build.keep_english(en) and build.keep_translation(en, tr)]
    assert len(kept) == 5  # "Not translated yet" has no translation
    assert build.decode_po(text.encode("utf-8")) == text


def test_text_filters_and_scripts(build):
    assert build.clean_text("Deleted %(count)d of %s items (%%) in {0} {{ name }} '%(x)s'") == "Deleted of items in"
    assert build.clean_text("&amp; <i>x</i>  y_z _Save") == "& x y_z Save"
    assert not build.keep_english("Settings") and build.keep_english("Save changes")
    assert not build.keep_english("x " * 200)
    assert not build.keep_translation("Save changes", "save changes")
    assert not build.keep_translation("Save changes", "!!!") and build.keep_translation("Save it", "Guardar")
    assert build.dedupe_key("Save changes.") == build.dedupe_key("save  changes")
    counts = build.script_counts
    assert build.dominant_script(counts(["Привет, мир (hello)"])) == "Cyrillic"
    assert build.dominant_script(counts(["ファイルを開く"])) == "Japanese"
    assert build.dominant_script(counts(["打开文件"])) == "Han"
    assert build.dominant_script(counts(["파일 열기"])) == "Hangul"
    assert build.dominant_script(counts(["123 !!"])) == "Unknown"
    assert build.script_compatible("Han", "Japanese") and not build.script_compatible("Latin", "Cyrillic")
    assert build.locale_lang("pt_BR") == ("por_BR", 0) and build.locale_lang("zh_Hant") == ("cmn_hant", 0)
    assert build.locale_lang("sr@latin") == ("srp_latn", 0) and build.locale_lang("es_AR") == ("spa", 1)
    assert build.locale_lang("en_GB") is None and build.locale_lang("zh_CN.GB2312") == ("cmn_hans", 0)
    assert build.catalog_app("django/contrib/admin") == "admin" and build.catalog_app("django/conf") == "core"


def test_catalog_rows_dedupe_and_choose(build):
    entries = [
        ("admin", "de", "Save changes", "Änderungen speichern"),
        ("auth", "de", "Save changes.", "Speichern"),          # near-duplicate English: same unit
        ("admin", "de_AT", "Save changes", "Änderungen sichern"),  # regional variant loses to "de"
        ("admin", "fr", "Save changes", "Save changes"),          # untranslated copy: dropped
        ("admin", "ru", "Delete the item", "Delete the item now"),  # wrong script for Russian: dropped
        ("admin", "de", "Delete the item", "Element löschen"),
    ]
    scripts = {"deu_1996": "Latin", "fra": "Latin", "rus": "Cyrillic"}
    build.MIN_CATALOG_ROWS, saved = 1, build.MIN_CATALOG_ROWS
    try:
        seen: set[str] = set()
        rows = build.catalog_rows("demo", entries, scripts, seen)
    finally:
        build.MIN_CATALOG_ROWS = saved
    by = defaultdict(dict)
    for r in rows:
        by[r["unit_id"]][r["lang"]] = r["text"]
    assert len(by) == 2 and all(u.startswith("demo:admin/") for u in by)
    assert sorted(tuple(sorted(v.items())) for v in by.values()) == [
        (("deu_1996", "Element löschen"), ("eng", "Delete the item")),
        (("deu_1996", "Änderungen speichern"), ("eng", "Save changes")),
    ]
    assert seen == {"save changes", "delete the item"}
    assert build.catalog_rows("later", entries, scripts, seen) == []  # already used by an earlier source
