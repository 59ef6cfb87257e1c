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

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {"hint": "Hint", "instruction": "Answer with the letter of the correct option only."},
    "zh": {"hint": "提示", "instruction": "请只用正确选项的字母作答。"},
    "pt": {"hint": "Dica", "instruction": "Responda apenas com a letra da opção correta."},
    "ar": {"hint": "تلميح", "instruction": "أجب بحرف الخيار الصحيح فقط."},
    "tr": {"hint": "İpucu", "instruction": "Yalnızca doğru seçeneğin harfiyle cevap verin."},
    "ru": {"hint": "Подсказка", "instruction": "Ответьте только буквой правильного варианта."},
}


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


def build_prompt(item) -> str:
    """The prompt for a benchmark :class:`~mmdata.bench.tsv.Item` (or any object with its fields)."""
    return format_prompt(item.question, item.options, item.language, item.hint)
