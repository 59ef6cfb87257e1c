"""Answer extraction for multiple-choice outputs, script-aware and without random fallbacks.

Passes, in order (the first that yields exactly one option wins):

1. **letter** — the whole answer is one option letter (``B``, ``(b)``, ``Ｂ``, Cyrillic ``В``, Arabic
   ``ب``); otherwise exactly one distinct option letter occurs as a whole token among the last
   :data:`NEAR_END` tokens (or as a leading label such as ``B. because …``). Tokens split at script
   boundaries, so ``答案是B`` yields ``B``, while accented Latin words stay whole (Turkish ``Büyük``
   is not a ``B``). An ``A`` used as an article (``A red circle``, Portuguese ``A resposta``) is not a letter.
2. **text** — exactly one option's text occurs in the answer (word-bounded for alphabetic scripts;
   an option contained in a longer matching option does not count twice). Skipped for very long answers.
3. **answer_is** — an explicit statement in any of the six languages: "the answer is (B)", "答案是B",
   "a resposta é C", "الإجابة هي ب", "doğru cevap D", "правильный ответ: В". The last one counts.
4. **judge** — an optional callable ``judge(question, options, output, language) -> letter | None``.
   None is configured by default.

Anything else is a failure (``letter=None``): scored wrong and counted per language, never replaced by a
random pick. Matching uses :func:`fold`: NFKC (full-width forms), case folding with Turkish dotted and
dotless i unified, Arabic diacritics and tatweel removed, Arabic letter variants unified, ё → е,
Arabic-Indic digits → ASCII, punctuation → space. Bump :data:`EXTRACTOR_VERSION` on any behaviour change.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

EXTRACTOR_VERSION = "mmdata-extract-v1"
NEAR_END = 4  # a letter counts in pass 1 when it is among the last NEAR_END tokens

Judge = Callable[[str, dict[str, str], str, str], "str | None"]

# Single characters that stand for an option letter when they make up the whole answer or follow an
# explicit "answer is": Latin either case, Cyrillic and Greek look-alikes, Arabic abjad labels (أ ب ج د).
_ALIASES = {c: c.upper() for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
_ALIASES.update({"А": "A", "В": "B", "С": "C", "Е": "E", "а": "A", "в": "B", "с": "C", "е": "E"})
_ALIASES.update({"Α": "A", "Β": "B", "Ε": "E"})
_ALIASES.update({"أ": "A", "ا": "A", "إ": "A", "آ": "A", "ب": "B", "ج": "C", "د": "D"})

_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed\u0640]")
_DIGITS = {**{0x0660 + i: str(i) for i in range(10)}, **{0x06F0 + i: str(i) for i in range(10)}}
_FOLD_CHARS = str.maketrans({"ı": "i", "\u0307": "", "ё": "е", "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي",
                             "ة": "ه", "ؤ": "و", "ئ": "ي"})  # fmt: skip
_LATIN = r"A-Za-z0-9\u00C0-\u024F\u1E00-\u1EFF\u0300-\u036F"
_TOKEN = re.compile(rf"[{_LATIN}]+|[^\W_{_LATIN}]+")
_SPACE_PUNCT = re.compile(r"[\W_]+")
_STRIP = " \t\r\n.,:;!?()[]{}<>\"'`*#_-—–·。，、：；！？（）【】「」《》“”‘’«»"


def light(text: str) -> str:
    """NFKC, Arabic diacritics and tatweel removed, Arabic-Indic digits as ASCII; case kept."""
    return _ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", text)).translate(_DIGITS)


_AR_ARTICLE = re.compile(r"(?<![\w])(?:و|ب|ف|ك)?ال(?=\w{2})")


def fold(text: str) -> str:
    """Script-aware matching form: :func:`light`, case-folded (Turkish i's unified), Arabic article
    ``ال`` dropped (``الدائرة`` matches ``دائرة``), punctuation → space."""
    t = light(text).replace("İ", "i").replace("I", "i").casefold().translate(_FOLD_CHARS)
    t = _AR_ARTICLE.sub("", t)
    return " ".join(_SPACE_PUNCT.sub(" ", t).split())


@dataclass(frozen=True, slots=True)
class Extraction:
    letter: str | None
    method: str  # letter | text | answer_is | judge | none

    @property
    def failed(self) -> bool:
        return self.letter is None


FAILED = Extraction(None, "none")

# ------------------------------------------------------------------------------------ pass 1: letter

_ARTICLE_NEXT = re.compile(rf"[ \t]+([a-zà-ÿçğışöü][{_LATIN}]+)")
_NOT_ARTICLE = {"is", "was", "seems", "would", "should", "appears", "or", "and", "ou", "veya", "ve"}
# A whole answer that is a label word plus one letter: "Option B", "选项C", "الخيار د", "Вариант В".
_LABEL = re.compile(
    r"\A(?:(?:the\s+)?(?:correct\s+)?(?:option|choice|letter|answer)|选项|选|答案|الخيار|الحرف|الإجابة|вариант|ответ"
    r"|seçenek|şık|cevap|opção|alternativa|letra|resposta)\s*[:]?\s*",
    re.IGNORECASE,
)


def _is_article(text: str, end: int) -> bool:
    """``A`` followed by a space and a lower-case word ("A red circle", "A resposta") is an article."""
    m = _ARTICLE_NEXT.match(text, end)
    return bool(m) and m.group(1) not in _NOT_ARTICLE


def _letter_pass(text: str, options: dict[str, str]) -> str | None:
    whole = _LABEL.sub("", text.strip(_STRIP)).strip(_STRIP)
    if len(whole) == 1:
        letter = _ALIASES.get(whole)
        return letter if letter in options else None
    toks = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    hits = [(i, t) for i, (t, s, e) in enumerate(toks) if t in options and not (t == "A" and _is_article(text, e))]
    if not hits or len({t for _, t in hits}) != 1:
        return None
    letter = hits[0][1]
    if len(toks) - 1 - hits[-1][0] < NEAR_END:
        return letter
    if hits[0][0] == 0:  # a leading label: "B. Because …", "(C) the red one …"
        after = text[toks[0][2] : toks[0][2] + 1]
        if after in (".", ")", ":", "：", "）"):
            return letter
    return None


# -------------------------------------------------------------------------------------- pass 2: text


def _bounded(hay: str, start: int, end: int) -> bool:
    """The match is not glued to letters or digits of an alphabetic script on either side."""
    left = start == 0 or not _wordish(hay[start - 1]) or not _wordish(hay[start])
    right = end == len(hay) or not _wordish(hay[end]) or not _wordish(hay[end - 1])
    return left and right


def _wordish(c: str) -> bool:
    return c.isalnum() and not ("\u3040" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af" or "\uf900" <= c <= "\ufaff")


def _spans(hay: str, needle: str) -> list[tuple[int, int]]:
    out, i = [], hay.find(needle)
    while i >= 0:
        if _bounded(hay, i, i + len(needle)):
            out.append((i, i + len(needle)))
        i = hay.find(needle, i + 1)
    return out


def _text_pass(text: str, options: dict[str, str]) -> str | None:
    hay = fold(text)
    folded = {k: fold(v) for k, v in options.items()}
    total = sum(len(v) for v in folded.values())
    if not hay or len(hay) > 2 * total + 40:
        return None
    taken: list[tuple[int, int]] = []
    matched = []
    for k, v in sorted(folded.items(), key=lambda kv: -len(kv[1])):
        if not v:
            continue
        spans = [s for s in _spans(hay, v) if not any(a <= s[0] and s[1] <= b for a, b in taken)]
        if spans:
            matched.append(k)
            taken += spans
    return matched[0] if len(matched) == 1 else None


# --------------------------------------------------------------------------------- pass 3: answer is

_OPEN = r"[\s\"'“”‘’«»(\[（【*]*"
_PATTERNS = [
    # en: "the (correct|final) answer is (B)", "answer: B", "the correct option is C", "best choice: D"
    r"(?:\banswer|\b(?:correct|right|best)\s+(?:option|choice))\b\s*(?:is|would\s+be|should\s+be|will\s+be)?\s*[:=\-–—]?\s*"
    r"(?:option\s+|choice\s+|letter\s+)?",
    # zh: "答案是B", "正确答案：C", "正确选项为D", "应选A", "选择B"
    r"(?:答案|正确选项|应该选|应选|选择)\s*(?:是|为|应该是|应为)?\s*[:]?\s*(?:选项)?",
    # pt: "a resposta (correta) é (a) C", "alternativa correta: B", "opção correta é D"
    r"\b(?:resposta(?:\s+correta)?|(?:alternativa|opção)\s+correta)\b\s*(?:é|seria|será)?\s*[:]?\s*(?:a\s+)?"
    r"(?:alternativa\s+|opção\s+|letra\s+)?",
    # ar: "الإجابة (الصحيحة) هي ب", "الجواب: C", "الخيار الصحيح هو د"
    r"(?<!\w)(?:الإجابة|الاجابة|الجواب|الخيار\s+الصحيح)(?:\s+الصحيحة)?\b\s*(?:هي|هو)?\s*[:]?\s*(?:الخيار\s+|الحرف\s+)?",
    # tr: "doğru cevap B", "cevap: C", "yanıt D'dir", "doğru seçenek A"
    r"\b(?:cevap|yanıt|doğru\s+seçenek|doğru\s+şık)\b\s*(?:şudur|budur)?\s*[:]?\s*",
    # ru: "правильный ответ: В", "ответ — B", "правильный вариант C"
    r"\b(?:ответ|правильный\s+вариант)\b\s*(?:это|будет)?\s*[:\-–—]?\s*(?:вариант\s+)?",
]
_ANSWER_IS = re.compile(
    "(?:" + "|".join(f"(?:{p})" for p in _PATTERNS) + f"){_OPEN}(?P<x>(?-i:[A-Za-zАВСЕأابجد]))(?![{_LATIN}\\w])",
    re.IGNORECASE,
)


def _answer_is_pass(text: str, options: dict[str, str]) -> str | None:
    found = None
    for m in _ANSWER_IS.finditer(text):
        x = m.group("x")
        if x.islower() and "a" <= x <= "z":
            # a lower-case Latin letter must be bracketed or end the clause ("answer is a red circle" is not A)
            bracketed = m.start("x") > 0 and text[m.start("x") - 1] in "([（【"
            rest = text[m.end("x") :].lstrip(" *")
            if not (bracketed or not rest or rest[0] in ".,;:!?)]）】。，"):
                continue
        letter = _ALIASES.get(x)
        if letter in options:
            found = letter
    return found


# ----------------------------------------------------------------------------------------- public


def extract(output: str | None, options: dict[str, str], *, language: str = "en", question: str = "",
            judge: Judge | None = None) -> Extraction:  # fmt: skip
    """The option letter a model's ``output`` chose among ``options`` ({letter: text}), or a failure."""
    if not output or not output.strip():
        return FAILED
    text = light(output)
    letter = _letter_pass(text, options)
    if letter:
        return Extraction(letter, "letter")
    letter = _text_pass(text, options)
    if letter:
        return Extraction(letter, "text")
    letter = _answer_is_pass(text, options)
    if letter:
        return Extraction(letter, "answer_is")
    if judge is not None:
        got = judge(question, options, output, language)
        if isinstance(got, str) and got.strip().upper() in options:
            return Extraction(got.strip().upper(), "judge")
    return FAILED
