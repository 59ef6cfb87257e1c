"""Versioned, per-language prompt templates for multiple-choice benchmarks.

The instruction is chosen from the row's ``language`` metadata, never from a file or dataset name
(VLMEvalKit's Parrot wrapper keys it on the dataset-name suffix, so an aggregated run sends the English
instruction to every language). The wording is ours. Any change to a template must bump
:data:`PROMPT_VERSION`: the version is part of every prediction key and stored with every score.

Layout (the image is passed to the model separately, before the text)::

    <Hint label>: <hint>            (only when the row has a hint)
    <question>
    A. <option A>
    B. <option B>
    …
    <instruction>
"""

from __future__ import annotations

from mmdata.errors import MmdataError

PROMPT_VERSION = "mmmb-v1"

# ``instruction`` ends the multiple-choice prompt; ``short`` ends an open question (see format_open)
TEMPLATES: dict[str, dict[str, str]] = {
    "en": {"hint": "Hint", "instruction": "Answer with the letter of the correct option only.",
           "short": "Answer with a single word or a number."},
    "zh": {"hint": "提示", "instruction": "请只用正确选项的字母作答。", "short": "请用一个词或一个数字回答。"},
    "pt": {"hint": "Dica", "instruction": "Responda apenas com a letra da opção correta.",
           "short": "Responda com uma única palavra ou um número."},
    "ar": {"hint": "تلميح", "instruction": "أجب بحرف الخيار الصحيح فقط.", "short": "أجب بكلمة واحدة أو برقم."},
    "tr": {"hint": "İpucu", "instruction": "Yalnızca doğru seçeneğin harfiyle cevap verin.",
           "short": "Tek bir kelime ya da bir sayıyla cevap verin."},
    "ru": {"hint": "Подсказка", "instruction": "Ответьте только буквой правильного варианта.",
           "short": "Ответьте одним словом или числом."},
}  # fmt: skip

# The open form of a question (format_open), versioned apart from the multiple-choice prompt: it is part
# of the answer method of models that score option texts (MmdataChoiceModel with scoring="text").
OPEN_PROMPT_VERSION = "open-v1"


def format_prompt(question: str, options: dict[str, str], language: str, hint: str = "") -> str:
    """The text prompt for one multiple-choice question in ``language``."""
    t = TEMPLATES.get(language)
    if t is None:
        raise MmdataError(f"no prompt template for language {language!r}; templates exist for {', '.join(TEMPLATES)}")
    lines = [f"{t['hint']}: {hint}"] if hint else []
    lines.append(question)
    lines += [f"{k}. {v}" for k, v in options.items()]
    lines.append(t["instruction"])
    return "\n".join(lines)


def format_open(question: str, language: str, hint: str = "") -> str:
    """The open form of a question in ``language``, as short-answer VQA training shows one: the hint line
    (when there is one), the question, then the short-answer instruction. English's is the VQAv2
    template's own (a test keeps them equal). Training rows always end the question with such an
    instruction; asked without one, trained models answered with the wrong kind of word ("How many
    objects are in the image?" → "bottom left"), which scored the format, not the model."""
    t = TEMPLATES.get(language)
    if t is None:
        raise MmdataError(f"no prompt template for language {language!r}; templates exist for {', '.join(TEMPLATES)}")
    return "\n".join([*([f"{t['hint']}: {hint}"] if hint else []), question, t["short"]])


def build_prompt(item) -> str:
    """The prompt for a benchmark :class:`~mmdata.bench.tsv.Item` (or any object with its fields)."""
    return format_prompt(item.question, item.options, item.language, item.hint)
