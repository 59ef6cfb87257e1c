"""ShareGPT writer: text-only conversations (arithmetic, spelling, word translation from the lexicon)."""

from __future__ import annotations

import string

from mmdata.world.lexicon import COLOURS, SHAPES, lexicon, word
from mmdata.world.scene import OCR_WORDS
from mmdata.world.writers import Ctx, Output, record

LANG_NAMES = {"zh": "Chinese", "pt": "Portuguese", "ar": "Arabic", "tr": "Turkish", "ru": "Russian"}


def exchange(rng) -> tuple[str, str]:
    """One text-only question and its answer (also used for the OneVision-style text-only rows)."""
    kind = rng.randrange(4)
    if kind == 0:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        return f"What is {a} plus {b}?", f"{a} plus {b} equals {a + b}."
    if kind == 1:
        lang = rng.choice(sorted(LANG_NAMES))
        if rng.random() < 0.5:
            key = rng.choice(COLOURS)
            w = word(lexicon(lang)["colours"][key])
        else:
            key = rng.choice(SHAPES)
            w = lexicon(lang)["shapes"][key]["sg"]
        return f"How do you say '{key}' in {LANG_NAMES[lang]}?", f"In {LANG_NAMES[lang]}, '{key}' is '{w}'."
    w = rng.choice(OCR_WORDS)
    if kind == 2:
        return f"Spell the word {w} backwards.", f"{w} spelled backwards is {w[::-1]}."
    return f"How many letters are in the word {w}?", f"The word {w} has {len(w)} letters."


def build(ctx: Ctx) -> Output:
    name = "sharegpt"
    entries, truth = [], []
    for k in range(ctx.cfg.sharegpt):
        rng = ctx.rng(name, k)
        cid = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(7)) + "_0"
        conv = []
        if k != 3:  # real ShareGPT dumps contain empty conversations; the adapter skips them
            for _ in range(rng.randint(1, 3)):
                q, a = exchange(rng)
                conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
        entries.append({"id": cid, "conversations": conv})
        if ctx.keep_truth and conv:
            turns = [{"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]} for t in conv]
            truth.append(record(name, "t_inst", record_id=cid, turns=turns))
    n = sum(1 for e in entries if e["conversations"])
    return Output(name, {"ShareGPT_V3_unfiltered_cleaned_split.json": entries}, None, n, truth if ctx.keep_truth else None)
