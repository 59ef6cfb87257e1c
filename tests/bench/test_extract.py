"""Answer extraction on messy model outputs in the six scripts: the expected letter, or a counted failure."""

from __future__ import annotations

import pytest

from mmdata.bench.extract import extract, fold

OPTIONS = {
    "en": {"A": "red circle", "B": "blue square", "C": "green star", "D": "yellow cross"},
    "zh": {"A": "红色的圆形", "B": "蓝色的正方形", "C": "绿色的星形", "D": "黄色的十字形"},
    "pt": {"A": "círculo vermelho", "B": "quadrado azul", "C": "estrela verde", "D": "cruz amarela"},
    "ar": {"A": "دائرة حمراء", "B": "مربع أزرق", "C": "نجمة خضراء", "D": "صليب أصفر"},
    "tr": {"A": "kırmızı daire", "B": "mavi kare", "C": "yeşil yıldız", "D": "sarı artı"},
    "ru": {"A": "красный круг", "B": "синий квадрат", "C": "зелёная звезда", "D": "жёлтый крест"},
}
COUNTS = {"A": "2", "B": "3", "C": "1", "D": "12"}

# (language, model output, expected letter or None for a failure, expected method)
CASES = [
    # English
    ("en", "B", "B", "letter"),
    ("en", "The answer is (B).", "B", "letter"),
    ("en", "(c)", "C", "letter"),
    ("en", "Answer: D", "D", "letter"),
    ("en", "**D**", "D", "letter"),
    ("en", "Ｃ", "C", "letter"),
    ("en", "Option B", "B", "letter"),
    ("en", "Answer: (D) yellow cross", "D", "letter"),
    ("en", "blue square", "B", "text"),
    ("en", "It is a blue square.", "B", "text"),
    ("en", "A red circle.", "A", "text"),
    ("en", "There is a green star in the picture.", "C", "text"),
    ("en", "B. The blue square is in the top left corner of the image, next to the red circle.", "B", "letter"),
    ("en", "The correct option is D because the cross is yellow and it is the only cross.", "D", "answer_is"),
    ("en", "Let me think step by step. The star is green and the circle is red. Option A is the red circle and "
           "option C is the green star. The question asks about the star, so the correct answer is C, since "
           "nothing else in the image matches the description given in the question.", "C", "answer_is"),
    ("en", "The final answer is b.", "B", "answer_is"),
    ("en", "A or B", None, "none"),
    ("en", "I think it's B, but it could also be C.", None, "none"),
    ("en", "Both the red circle and the blue square are visible.", None, "none"),
    ("en", "I'm sorry, I can't determine the answer from this image.", None, "none"),
    ("en", "As an AI, I cannot see images.", None, "none"),
    ("en", "", None, "none"),
    ("en", "   ", None, "none"),
    ("en", "None of the options are correct.", None, "none"),
    # Chinese
    ("zh", "答案是B", "B", "letter"),
    ("zh", "B。蓝色的正方形", "B", "letter"),
    ("zh", "蓝色的正方形", "B", "text"),
    ("zh", "是蓝色的正方形。", "B", "text"),
    ("zh", "正确答案：（Ｃ）", "C", "letter"),
    ("zh", "选D", "D", "letter"),
    ("zh", "图中是绿色的星形，所以选C", "C", "letter"),
    ("zh", "选项A是红色的圆形，选项B是蓝色的正方形。仔细观察图片后可以看到图中只有一个星形，它是绿色的，因此答案是C，其他选项都不符合。", "C", "answer_is"),
    ("zh", "我无法确定答案。", None, "none"),
    # Portuguese
    ("pt", "A resposta correta é a C.", "C", "letter"),
    ("pt", "Quadrado azul", "B", "text"),
    ("pt", "Opção D", "D", "letter"),
    ("pt", "É a estrela verde.", "C", "text"),
    ("pt", "Não consigo ver a imagem.", None, "none"),
    # Arabic
    ("ar", "ب", "B", "letter"),
    ("ar", "الإجابة هي ب", "B", "answer_is"),
    ("ar", "الإجابة الصحيحة هي (C)", "C", "letter"),
    ("ar", "مُرَبَّعٌ أَزْرَقُ", "B", "text"),
    ("ar", "الدائرة الحمراء", "A", "text"),
    ("ar", "الخيار د", "D", "letter"),
    ("ar", "لا أستطيع تحديد الإجابة", None, "none"),
    # Turkish
    ("tr", "Doğru cevap B'dir.", "B", "letter"),
    ("tr", "Cevap: C", "C", "letter"),
    ("tr", "Büyük yeşil yıldız", "C", "text"),
    ("tr", "KIRMIZI DAİRE", "A", "text"),
    ("tr", "Mavi kare.", "B", "text"),
    ("tr", "Bilmiyorum.", None, "none"),
    # Russian
    ("ru", "В", "B", "letter"),
    ("ru", "Правильный ответ: С", "C", "answer_is"),
    ("ru", "Ответ: D", "D", "letter"),
    ("ru", "желтый крест", "D", "text"),
    ("ru", "В левом верхнем углу находится красный круг.", "A", "text"),
    ("ru", "Не знаю ответа.", None, "none"),
    ("ru", "Не могу ответить на этот вопрос.", None, "none"),
]


@pytest.mark.parametrize(("lang", "output", "letter", "method"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_messy_outputs(lang, output, letter, method):
    got = extract(output, OPTIONS[lang], language=lang)
    assert (got.letter, got.method) == (letter, method)
    assert got.failed == (letter is None)


def test_case_count_and_scripts():
    assert len(CASES) >= 40
    assert {c[0] for c in CASES} == set(OPTIONS)
    assert sum(c[2] is None for c in CASES) >= 10  # refusals and ambiguous answers are failures


@pytest.mark.parametrize(
    ("output", "letter"),
    [("There are 12 crosses.", "D"), ("I count 2.", "A"), ("٣", "B"), ("There are 2 circles and 3 stars.", None)],
)
def test_numbers_are_word_bounded(output, letter):
    assert extract(output, COUNTS).letter == letter


def test_option_contained_in_a_longer_option_counts_once():
    opts = {"A": "red", "B": "dark red", "C": "blue", "D": "green"}
    assert extract("It is dark red.", opts).letter == "B"
    assert extract("It is red.", opts).letter == "A"


def test_failure_is_never_a_random_pick_and_judge_is_opt_in():
    calls = []

    def judge(question, options, output, language):
        calls.append((question, output, language))
        return "c"

    out = "Hmm, hard to say."
    assert extract(out, OPTIONS["en"]).failed
    got = extract(out, OPTIONS["en"], language="en", question="Q?", judge=judge)
    assert (got.letter, got.method) == ("C", "judge") and calls == [("Q?", out, "en")]
    assert extract("B", OPTIONS["en"], judge=judge).method == "letter" and len(calls) == 1  # judge only as a fallback
    assert extract(out, OPTIONS["en"], judge=lambda *a: "Z").failed  # a judge answer must be an option


def test_fold_is_script_aware():
    assert fold("ＡＢＣ") == "abc"
    assert fold("KIRMIZI") == fold("kırmızı") == fold("Kirmizi")
    assert fold("İstanbul") == "istanbul"
    assert fold("مُرَبَّعٌ") == fold("مربع")
    assert fold("жёлтый") == "желтый"
    assert fold("Hello, World!") == "hello world"
