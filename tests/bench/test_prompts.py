"""Prompts: the instruction follows the row's language metadata, never the file name; versioned."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from mmdata.bench.prompts import PROMPT_VERSION, TEMPLATES, build_prompt, format_open, format_prompt
from mmdata.bench.run import run_benchmark
from mmdata.bench.tsv import Item, read_tsv
from mmdata.errors import MmdataError
from mmdata.schema import LANGUAGES


def test_every_language_has_its_own_instruction():
    assert set(TEMPLATES) == set(LANGUAGES)
    assert len({t["instruction"] for t in TEMPLATES.values()}) == 6
    p = format_prompt("Qual é a cor?", {"A": "vermelho", "B": "azul"}, "pt", hint="Olhe o círculo")
    assert p.splitlines() == ["Dica: Olhe o círculo", "Qual é a cor?", "A. vermelho", "B. azul", TEMPLATES["pt"]["instruction"]]
    with pytest.raises(MmdataError, match="no prompt template for language 'de'"):
        format_prompt("q", {"A": "a"}, "de")


def test_open_questions_end_with_the_short_answer_instruction_training_teaches():
    """The open form ends as the VQAv2 training templates (and their translations) end their questions;
    every language has its own instruction, different from its multiple-choice one."""
    import yaml

    from mmdata.recipe.templates import default_dir

    for lang in TEMPLATES:  # VQAv2 and its translations (vqav2_<lang>) teach the same instruction
        name = "vqav2" if lang == "en" else f"vqav2_{lang}"
        vqa = yaml.safe_load((default_dir() / "fine" / f"{name}.yaml").read_text(encoding="utf-8"))
        assert (vqa["language"], TEMPLATES[lang]["short"]) == (lang, vqa["hints"]["forward"])
    assert len({t["short"] for t in TEMPLATES.values()}) == 6
    assert all(t["short"] != t["instruction"] for t in TEMPLATES.values())
    assert format_open("Qual é a cor?", "pt", hint="Olhe").splitlines() == ["Dica: Olhe", "Qual é a cor?", TEMPLATES["pt"]["short"]]
    assert format_open("What colour is it?", "en") == "What colour is it?\n" + TEMPLATES["en"]["short"]
    with pytest.raises(MmdataError, match="no prompt template for language 'de'"):
        format_open("q", "de")


def test_instruction_comes_from_language_column_not_file_name(tmp_path):
    # the file name says English, the rows say Chinese and Arabic: the rows win
    p = tmp_path / "MMMB_en.tsv"
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG")
    img = base64.b64encode(buf.getvalue()).decode()
    p.write_text(f"index\tquestion\tA\tB\tanswer\tlanguage\timage\n0\t什么颜色？\t红\t蓝\tA\tzh\t{img}\n"
                 f"1\tما اللون؟\tأحمر\tأزرق\tB\tar\t{img}\n")  # fmt: skip
    zh, ar = read_tsv(p)
    assert build_prompt(zh).endswith(TEMPLATES["zh"]["instruction"])
    assert build_prompt(ar).endswith(TEMPLATES["ar"]["instruction"])
    seen = []

    class Spy:
        name = "spy"

        def generate(self, images, prompts):
            seen.extend(prompts)
            return ["A"] * len(prompts)

    s = run_benchmark(p, Spy(), tmp_path / "run", db=None).scores
    assert seen[0].endswith(TEMPLATES["zh"]["instruction"]) and seen[1].endswith(TEMPLATES["ar"]["instruction"])
    assert s["prompt_version"] == PROMPT_VERSION and s["overall"] == {"zh": 1.0, "ar": 0.0}


def test_build_prompt_matches_format_prompt():
    it = Item(3, "Где круг?", {"A": "слева", "B": "справа"}, "A", "ru")
    assert build_prompt(it) == "Где круг?\nA. слева\nB. справа\n" + TEMPLATES["ru"]["instruction"]
