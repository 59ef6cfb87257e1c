"""VQAv2 (coco pool) and GQA (vg pool) writers, with planted paraphrase duplicates, and VQAv2
translated into the five other languages (``vqav2_<lang>``).

Each image gets several questions from the dataset's categories. For a share of images
(``cfg.dup_share``) one question is asked again in other words with the same answer (rarely twice);
every such group is listed in ``duplicates.jsonl`` so dedup can be scored against ground truth.

The translated sets stand for machine-translated short-answer VQA (mBLIP's translated VQAv2 and
GQA, PALO's and Pangea's translated instruction data): VQAv2's files and layout, questions and
answers in one language. Like Parrot's translated ShareGPT4V sets they are non-parallel: each
language asks about its own share of the COCO images, with questions of its own.
"""

from __future__ import annotations

import random

from mmdata.schema import LANGUAGES
from mmdata.sources.base import extra_json
from mmdata.world.pools import coco_2014
from mmdata.world.qa import QA, answer, answer_sentence, n_variants, question
from mmdata.world.writers import Ctx, Output, aggregate_answers, pick_qas, record

VQAV2_CATEGORIES = ("colour", "shape", "count", "size", "existence", "ocr", "background", "colour_count", "total_count")
GQA_CATEGORIES = ("spatial_relation", "position", "same_colour", "closest", "extreme", "comparison", "existence")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven")


def with_duplicates(qas: list[QA], rng: random.Random, share: float) -> tuple[list[tuple[QA, int]], list[list[int]]]:
    """Assign each question a phrasing; maybe add paraphrases of one. Returns entries and dup groups."""
    entries = [(qa, rng.randrange(n_variants(qa.category, "en"))) for qa in qas]
    groups: list[list[int]] = []
    if qas and rng.random() < share:
        k = rng.randrange(len(entries))
        qa, v = entries[k]
        variants = [x for x in range(n_variants(qa.category, "en")) if x != v]
        extra = 2 if rng.random() < 0.15 and len(variants) >= 2 else 1
        group = [k]
        for x in rng.sample(variants, extra):
            pos = rng.randrange(len(entries) + 1)
            entries.insert(pos, (qa, x))
            group = [g + 1 if g >= pos else g for g in group] + [pos]
        groups.append(sorted(group))
    return entries, groups


def annotator_answers(qa: QA, ans: str, rng: random.Random) -> list[str]:
    out = []
    for _ in range(10):
        r = rng.random()
        if qa.answer[0] == "count" and r < 0.15:
            out.append(NUMBER_WORDS[qa.answer[1]])
        elif r < 0.05 and qa.distractors:
            from mmdata.world.qa import value_text

            out.append(value_text(rng.choice(qa.distractors), "en"))
        else:
            out.append(ans)
    return out


def _answer_type(qa: QA) -> str:
    return {"yesno": "yes/no", "count": "number"}.get(qa.answer[0], "other")


TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")  # vqav2_<lang>


def build_vqav2(ctx: Ctx, lang: str = "en") -> Output:
    """VQAv2 (``lang="en"``), or its translation into ``lang`` on that language's share of the images."""
    name, sub = "vqav2" if lang == "en" else f"vqav2_{lang}", "train2014"
    pool = ctx.coco if lang == "en" else translated_share(ctx, lang)
    questions, annotations, truth, dups = [], [], [], []
    for img in pool:
        rng = ctx.rng(name, img.index)
        qas = pick_qas(img.scene, rng, VQAV2_CATEGORIES, ctx.cfg.vqav2_per_image)
        if lang == "en":
            entries, groups = with_duplicates(qas, rng, ctx.cfg.dup_share)
        else:  # a translation keeps one phrasing per question and plants no duplicates
            entries, groups = [(qa, rng.randrange(n_variants(qa.category, lang))) for qa in qas], []
        qids = []
        for k, (qa, variant) in enumerate(entries):
            qid = img.image_id * 1000 + k
            qids.append(qid)
            q, a = question(qa, lang, variant), answer(qa, lang)
            raw = annotator_answers(qa, a, rng) if lang == "en" else [a] * 10  # translated: the one answer, ten times
            qtype = " ".join(q.lower().rstrip("?").split()[:3])
            questions.append({"image_id": img.image_id, "question": q, "question_id": qid})
            annotations.append(
                {
                    "question_type": qtype,
                    "multiple_choice_answer": a,
                    "answers": [
                        {"answer": x, "answer_confidence": "yes" if x == a else "maybe", "answer_id": j + 1}
                        for j, x in enumerate(raw)
                    ],
                    "image_id": img.image_id,
                    "answer_type": _answer_type(qa),
                    "question_id": qid,
                }
            )
            if ctx.keep_truth:
                truth.append(
                    record(
                        name,
                        "vqa_open",
                        language=lang,
                        record_id=str(qid),
                        image_id=str(img.image_id),
                        image=img.ref(coco_2014(img.image_id)),
                        question=q,
                        answer=a,
                        answers=aggregate_answers(raw),
                        extra=extra_json({"question_type": qtype, "answer_type": _answer_type(qa)}),
                        _meta={"scene": img.scene.scene_id, "category": qa.category, "objects": qa.objects},
                    )
                )
        for g in groups:
            dups.append(
                {
                    "dataset": name,
                    "image_id": str(img.image_id),
                    "record_ids": [str(qids[k]) for k in g],
                    "questions": [question(entries[k][0], "en", entries[k][1]) for k in g],
                    "answer": answer(entries[g[0]][0], "en"),
                }
            )
    header = {"info": {"description": "mmdata synthetic world", "version": "2.0"}, "license": {"name": "CC BY 4.0"},
              "data_subtype": sub, "data_type": "mscoco"}  # fmt: skip
    files = {
        f"v2_OpenEnded_mscoco_{sub}_questions.json": {**header, "task_type": "Open-Ended", "questions": questions},
        f"v2_mscoco_{sub}_annotations.json": {**header, "annotations": annotations},
    }
    return Output(name, files, "../../images/coco", len(questions), truth if ctx.keep_truth else None, dups)


def translated_share(ctx: Ctx, lang: str) -> list:
    """The COCO images ``vqav2_<lang>`` asks about: one of five disjoint shares of a seeded shuffle."""
    order = list(range(len(ctx.coco)))
    ctx.rng("vqav2-translated-partition").shuffle(order)
    k = TRANSLATED.index(lang)
    return [ctx.coco[i] for i in sorted(order[k :: len(TRANSLATED)])]


def build_vqav2_translated(ctx: Ctx) -> list[Output]:
    return [build_vqav2(ctx, lang) for lang in TRANSLATED]


_STRUCTURAL = {"yesno": "verify", "np": "choose"}
_SEMANTIC = {"spatial_relation": "rel", "closest": "rel", "same_colour": "attr", "extreme": "attr", "position": "attr",
             "existence": "obj", "comparison": "global"}  # fmt: skip


def build_gqa(ctx: Ctx) -> Output:
    name = "gqa"
    doc, truth, dups = {}, [], []
    for img in ctx.vg:
        rng = ctx.rng(name, img.index)
        qas = pick_qas(img.scene, rng, GQA_CATEGORIES, ctx.cfg.gqa_per_image)
        entries, groups = with_duplicates(qas, rng, ctx.cfg.dup_share)
        qids = []
        for k, (qa, variant) in enumerate(entries):
            qid = f"{img.index:06d}{k:02d}"
            qids.append(qid)
            q, a, full = question(qa, "en", variant), answer(qa, "en"), answer_sentence(qa, "en")
            doc[qid] = {
                "semantic": [{"operation": "select", "dependencies": [], "argument": qa.category}],
                "entailed": [],
                "equivalent": [qid],
                "question": q,
                "imageId": str(img.image_id),
                "isBalanced": True,
                "groups": {"global": None, "local": f"{qa.category}"},
                "answer": a,
                "semanticStr": f"select: {qa.category}",
                "annotations": {"answer": {}, "question": {}, "fullAnswer": {}},
                "types": {
                    "detailed": qa.category,
                    "semantic": _SEMANTIC.get(qa.category, "attr"),
                    "structural": _STRUCTURAL.get(qa.answer[0], "query"),
                },
                "fullAnswer": full,
            }
            if ctx.keep_truth:
                truth.append(
                    record(
                        name,
                        "vqa_open",
                        record_id=qid,
                        image_id=str(img.image_id),
                        image=img.ref(f"{img.image_id}.jpg"),
                        question=q,
                        answer=a,
                        answers=[{"text": a, "weight": 1.0}],
                        extra=extra_json({"fullAnswer": full, "type": qa.category, "balanced": True}),
                        _meta={"scene": img.scene.scene_id, "category": qa.category, "objects": qa.objects},
                    )
                )
        for g in groups:
            dups.append(
                {
                    "dataset": name,
                    "image_id": str(img.image_id),
                    "record_ids": [qids[k] for k in g],
                    "questions": [question(entries[k][0], "en", entries[k][1]) for k in g],
                    "answer": answer(entries[g[0]][0], "en"),
                }
            )
    return Output(name, {"train_balanced_questions.json": doc}, "../../images/vg/VG_100K", len(doc),
                  truth if ctx.keep_truth else None, dups)  # fmt: skip
