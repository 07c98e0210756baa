"""Shared, session-scoped test fixtures: a small multi-script corpus, a tiny tokenizer and a tiny encoder.

Everything here is offline and takes well under a second: the tokenizer trains on 192 fixture sentences
(12 meanings x 16 languages in 13 scripts) and the encoder is a random XLM-R with hidden size 32 and one
layer. The sentences are short UI strings and UDHR sentences; translations are close but not curated, so
use them for shapes, scripts and alignment structure, not for linguistic claims.

Fixtures: `fixture_rows`, `fixture_texts`, `fixture_corpus` (a `datasets.Dataset` in the corpus schema),
`tiny_tokenizer`, `tiny_encoder_config`, `make_tiny_encoder` (fresh encoders; use it when a test trains
or changes the model) and `tiny_encoder` (shared; do not modify it).
"""

from __future__ import annotations

import hashlib
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")

# Meaning keys in the order of every FIXTURE_TEXTS row; "udhr:..." keys are UDHR paragraphs.
FIXTURE_UNITS = (
    "open_file", "save_changes", "password_incorrect", "page_not_found", "search_results", "delete_item",
    "settings", "welcome_back", "udhr:a01.1", "udhr:a26.1", "udhr:a03.1", "cancel",
)
FIXTURE_SCRIPTS = {
    "eng": "Latn", "spa": "Latn", "deu": "Latn", "fra": "Latn", "rus": "Cyrl", "ell": "Grek", "arb": "Arab",
    "heb": "Hebr", "hin": "Deva", "tha": "Thai", "cmn": "Hans", "jpn": "Jpan", "kor": "Hang", "amh": "Ethi",
    "kat": "Geor", "tam": "Taml",
}
FIXTURE_TEXTS = {
    "eng": ["Open the file", "Save changes", "The password is incorrect.", "Page not found", "Search results",
            "Delete this item?", "Settings", "Welcome back!",
            "All human beings are born free and equal in dignity and rights.",
            "Everyone has the right to education.",
            "Everyone has the right to life, liberty and security of person.", "Cancel"],
    "spa": ["Abrir el archivo", "Guardar cambios", "La contraseña es incorrecta.", "Página no encontrada",
            "Resultados de búsqueda", "¿Eliminar este elemento?", "Configuración", "¡Bienvenido de nuevo!",
            "Todos los seres humanos nacen libres e iguales en dignidad y derechos.",
            "Toda persona tiene derecho a la educación.",
            "Todo individuo tiene derecho a la vida, a la libertad y a la seguridad de su persona.", "Cancelar"],
    "deu": ["Datei öffnen", "Änderungen speichern", "Das Passwort ist falsch.", "Seite nicht gefunden",
            "Suchergebnisse", "Dieses Element löschen?", "Einstellungen", "Willkommen zurück!",
            "Alle Menschen sind frei und gleich an Würde und Rechten geboren.",
            "Jeder hat das Recht auf Bildung.",
            "Jeder hat das Recht auf Leben, Freiheit und Sicherheit der Person.", "Abbrechen"],
    "fra": ["Ouvrir le fichier", "Enregistrer les modifications", "Le mot de passe est incorrect.",
            "Page introuvable", "Résultats de la recherche", "Supprimer cet élément ?", "Paramètres",
            "Bon retour !",
            "Tous les êtres humains naissent libres et égaux en dignité et en droits.",
            "Toute personne a droit à l'éducation.",
            "Tout individu a droit à la vie, à la liberté et à la sûreté de sa personne.", "Annuler"],
    "rus": ["Открыть файл", "Сохранить изменения", "Неверный пароль.", "Страница не найдена",
            "Результаты поиска", "Удалить этот элемент?", "Настройки", "С возвращением!",
            "Все люди рождаются свободными и равными в своем достоинстве и правах.",
            "Каждый человек имеет право на образование.",
            "Каждый человек имеет право на жизнь, на свободу и на личную неприкосновенность.", "Отмена"],
    "ell": ["Άνοιγμα αρχείου", "Αποθήκευση αλλαγών", "Ο κωδικός πρόσβασης είναι λανθασμένος.",
            "Η σελίδα δεν βρέθηκε", "Αποτελέσματα αναζήτησης", "Διαγραφή αυτού του στοιχείου;", "Ρυθμίσεις",
            "Καλώς ήρθατε ξανά!",
            "Όλοι οι άνθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα.",
            "Κάθε άνθρωπος έχει δικαίωμα στην εκπαίδευση.",
            "Κάθε άτομο έχει δικαίωμα στη ζωή, την ελευθερία και την προσωπική ασφάλεια.", "Ακύρωση"],
    "arb": ["افتح الملف", "حفظ التغييرات", "كلمة المرور غير صحيحة.", "الصفحة غير موجودة", "نتائج البحث",
            "حذف هذا العنصر؟", "الإعدادات", "مرحبًا بعودتك!",
            "يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق.", "لكل شخص الحق في التعلم.",
            "لكل فرد الحق في الحياة والحرية وسلامة شخصه.", "إلغاء"],
    "heb": ["פתח את הקובץ", "שמור שינויים", "הסיסמה שגויה.", "הדף לא נמצא", "תוצאות חיפוש",
            "למחוק את הפריט הזה?", "הגדרות", "ברוך שובך!",
            "כל בני האדם נולדו בני חורין ושווים בערכם ובזכויותיהם.", "כל אדם זכאי לחינוך.",
            "כל אדם יש לו הזכות לחיים, לחירות ולבטחון אישי.", "ביטול"],
    "hin": ["फ़ाइल खोलें", "परिवर्तन सहेजें", "पासवर्ड गलत है।", "पृष्ठ नहीं मिला", "खोज परिणाम",
            "क्या यह आइटम हटाएँ?", "सेटिंग्स", "वापसी पर स्वागत है!",
            "सभी मनुष्यों को गौरव और अधिकारों के मामले में जन्मजात स्वतन्त्रता और समानता प्राप्त है।",
            "हर व्यक्ति को शिक्षा का अधिकार है।",
            "प्रत्येक व्यक्ति को जीवन, स्वाधीनता और वैयक्तिक सुरक्षा का अधिकार है।", "रद्द करें"],
    "tha": ["เปิดไฟล์", "บันทึกการเปลี่ยนแปลง", "รหัสผ่านไม่ถูกต้อง", "ไม่พบหน้า", "ผลการค้นหา",
            "ลบรายการนี้หรือไม่?", "การตั้งค่า", "ยินดีต้อนรับกลับ!",
            "มนุษย์ทั้งหลายเกิดมามีอิสระและเสมอภาคกันในเกียรติศักดิ์และสิทธิ", "ทุกคนมีสิทธิในการศึกษา",
            "บุคคลมีสิทธิในการดำรงชีวิต เสรีภาพ และความมั่นคงแห่งร่างกาย", "ยกเลิก"],
    "cmn": ["打开文件", "保存更改", "密码不正确。", "找不到页面", "搜索结果", "删除此项目？", "设置", "欢迎回来！",
            "人人生而自由，在尊严和权利上一律平等。", "人人都有受教育的权利。",
            "人人有权享有生命、自由和人身安全。", "取消"],
    "jpn": ["ファイルを開く", "変更を保存", "パスワードが正しくありません。", "ページが見つかりません", "検索結果",
            "この項目を削除しますか？", "設定", "おかえりなさい！",
            "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。",
            "すべて人は、教育を受ける権利を有する。", "すべて人は、生命、自由及び身体の安全に対する権利を有する。",
            "キャンセル"],
    "kor": ["파일 열기", "변경 사항 저장", "비밀번호가 올바르지 않습니다.", "페이지를 찾을 수 없습니다", "검색 결과",
            "이 항목을 삭제하시겠습니까?", "설정", "다시 오신 것을 환영합니다!",
            "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다.",
            "모든 사람은 교육을 받을 권리를 가진다.", "모든 사람은 생명과 신체의 자유와 안전에 대한 권리를 가진다.",
            "취소"],
    "amh": ["ፋይሉን ክፈት", "ለውጦችን አስቀምጥ", "የይለፍ ቃሉ ትክክል አይደለም።", "ገጹ አልተገኘም", "የፍለጋ ውጤቶች",
            "ይህን ንጥል ይሰርዙ?", "ቅንብሮች", "እንኳን ደህና መጡ!",
            "የሰው ልጅ ሁሉ ሲወለድ ነጻና በክብርና በመብትም እኩልነት ያለው ነው።", "ማንኛውም ሰው የመማር መብት አለው።",
            "እያንዳንዱ ሰው በሕይወት የመኖር፣ የነጻነትና የደኅንነት መብት አለው።", "ሰርዝ"],
    "kat": ["ფაილის გახსნა", "ცვლილებების შენახვა", "პაროლი არასწორია.", "გვერდი ვერ მოიძებნა",
            "ძიების შედეგები", "წავშალო ეს ელემენტი?", "პარამეტრები", "კეთილი იყოს თქვენი დაბრუნება!",
            "ყველა ადამიანი იბადება თავისუფალი და თანასწორი თავისი ღირსებითა და უფლებებით.",
            "ყველა ადამიანს აქვს განათლების უფლება.",
            "ყველა ადამიანს აქვს სიცოცხლის, თავისუფლებისა და პირადი ხელშეუხებლობის უფლება.", "გაუქმება"],
    "tam": ["கோப்பைத் திற", "மாற்றங்களைச் சேமி", "கடவுச்சொல் தவறானது.", "பக்கம் கிடைக்கவில்லை",
            "தேடல் முடிவுகள்", "இந்த உருப்படியை நீக்கவா?", "அமைப்புகள்", "மீண்டும் வருக!",
            "மனிதப் பிறவியினர் சகலரும் சுதந்திரமாகவே பிறக்கின்றனர்; அவர்கள் மதிப்பிலும், உரிமைகளிலும் சமமானவர்கள்.",
            "ஒவ்வொருவருக்கும் கல்வி பெறும் உரிமை உண்டு.",
            "வாழ்வதற்கும், சுதந்திரத்துக்கும், பாதுகாப்புக்கும் ஒவ்வொருவருக்கும் உரிமையுண்டு.", "ரத்துசெய்"],
}
# Scripts the fixture tokenizer never sees (byte-level BPE must still give no <unk>).
UNSEEN_SCRIPT_TEXTS = [
    "មនុស្សទាំងអស់កើតមកមានសេរីភាព",  # Khmer
    "మానవులెల్లరును జన్మతః స్వతంత్రులు",  # Telugu
    "Բոլոր մարդիկ ծնվում են ազատ",  # Armenian
    "ᏂᎦᏓ ᎠᏂᏴᏫ",  # Cherokee
    "emoji 🙂 and math ∑ x²",
]


def _unit_id(key: str) -> str:
    """Corpus-schema unit ids: UDHR keys as they are, UI strings as `fixture:ui/<hash10>` of the English."""
    if key.startswith("udhr:"):
        return key
    english = FIXTURE_TEXTS["eng"][FIXTURE_UNITS.index(key)]
    return "fixture:ui/" + hashlib.sha1(english.encode("utf-8")).hexdigest()[:10]


@pytest.fixture(scope="session")
def fixture_rows() -> list[dict[str, str]]:
    """192 rows `{source, unit_id, lang, script, text}`; the same `unit_id` across languages = translations."""
    rows = []
    for lang, texts in FIXTURE_TEXTS.items():
        assert len(texts) == len(FIXTURE_UNITS), lang
        for key, text in zip(FIXTURE_UNITS, texts):
            unit = _unit_id(key)
            rows.append({"source": unit.split(":")[0], "unit_id": unit, "lang": lang,
                         "script": FIXTURE_SCRIPTS[lang], "text": text})
    return rows


@pytest.fixture(scope="session")
def fixture_texts(fixture_rows) -> list[str]:
    """The 192 fixture sentences, language by language."""
    return [row["text"] for row in fixture_rows]


@pytest.fixture(scope="session")
def fixture_corpus(fixture_rows):
    """The fixture rows as a `datasets.Dataset` with the columns of `emmax_core.corpus.load_corpus()`."""
    import datasets

    return datasets.Dataset.from_list(fixture_rows)


@pytest.fixture(scope="session")
def tiny_tokenizer(fixture_texts):
    """Byte-level BPE (target vocabulary 1000) trained on the fixture sentences; XLM-R special tokens."""
    from emmax_core.tokenizer import train_tokenizer

    return train_tokenizer(fixture_texts, vocab_size=1000)


@pytest.fixture(scope="session")
def tiny_encoder_config():
    """`EncoderConfig` of a one-layer XLM-R with hidden size 32 (2 heads, FFN 64, max_length 64)."""
    from emmax_core.config import EncoderConfig

    return EncoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=64,
                         vocab_size=1000)


@pytest.fixture(scope="session")
def make_tiny_encoder(tiny_tokenizer, tiny_encoder_config):
    """Factory `make(seed=0, **encoder_config_changes) -> SentenceEncoder`, a fresh random tiny encoder."""
    import torch

    from emmax_core.encoder import SentenceEncoder

    def make(seed: int = 0, **changes):
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG stream untouched
            torch.manual_seed(seed)
            return SentenceEncoder.from_config(tiny_encoder_config.replace(**changes), tokenizer=tiny_tokenizer)

    return make


@pytest.fixture(scope="session")
def tiny_encoder(make_tiny_encoder):
    """A shared tiny `SentenceEncoder` (mean pooling, seed 0) in eval mode; do not train or modify it."""
    return make_tiny_encoder().eval()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One model cache (`EMMAX_CACHE`) for the notebooks a session executes; empty when the session starts.

    tests/test_standalone.py executes every chapter alone into it first (see `pytest_collection_modifyitems`),
    and the book build of tests/test_book.py then loads those models instead of training them again.
    """
    return tmp_path_factory.mktemp("emmax-cache")


def pytest_collection_modifyitems(config, items):
    """Run tests/test_standalone.py first: its notebooks must start from an empty `model_cache`."""
    first = [item for item in items if item.path.name == "test_standalone.py"]
    if first:
        items[:] = first + [item for item in items if item.path.name != "test_standalone.py"]
