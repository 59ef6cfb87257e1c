"""A-OKVQA writer: four-way multiple choice with direct answers and rationales (coco pool)."""

from __future__ import annotations

import string

from mmdata.sources.base import extra_json
from mmdata.world.pools import coco_2017
from mmdata.world.qa import answer, answer_sentence, options, question
from mmdata.world.writers import Ctx, Output, aggregate_answers, pick_qas, record

# four choices per question, as in A-OKVQA (background questions have only three, so none are asked)
CATEGORIES = ("colour", "shape", "count", "total_count", "existence", "closest", "position")
_ALPHABET = string.ascii_letters + string.digits


def build(ctx: Ctx) -> Output:
    name = "aokvqa"
    items, truth = [], []
    for img in ctx.coco:
        rng = ctx.rng(name, img.index)
        if rng.random() >= ctx.cfg.aokvqa_share:
            continue
        qas = pick_qas(img.scene, rng, CATEGORIES, 1, form="mc")
        if not qas:
            continue
        qa = qas[0]
        choices = options(qa, "en")
        correct = choices[0]
        rng.shuffle(choices)
        idx = choices.index(correct)
        qid = "".join(rng.choice(_ALPHABET) for _ in range(22))
        direct = [correct if rng.random() < 0.9 else rng.choice(choices) for _ in range(10)]
        rationales = [
            answer_sentence(qa, "en"),
            f"Looking at the picture, the correct choice is {correct}.",
            f"The image has a {img.scene.background} background and {len(img.scene.objects)} objects.",
        ]
        item = {
            "split": "train",
            "image_id": img.image_id,
            "question_id": qid,
            "question": question(qa, "en"),
            "choices": choices,
            "correct_choice_idx": idx,
            "direct_answers": direct,
            "difficult_direct_answer": False,
            "rationales": rationales,
        }
        items.append(item)
        if ctx.keep_truth:
            truth.append(
                record(
                    name,
                    "vqa_mc",
                    record_id=qid,
                    image_id=str(img.image_id),
                    image=img.ref(coco_2017(img.image_id)),
                    question=item["question"],
                    choices=choices,
                    answer_idx=idx,
                    answer=correct,
                    answers=aggregate_answers(direct),
                    extra=extra_json({"rationales": rationales, "difficult_direct_answer": False}),
                    _meta={"scene": img.scene.scene_id, "category": qa.category, "answer": answer(qa, "en")},
                )
            )
    return Output(name, {"aokvqa_v1p0_train.json": items}, "../../images/coco", len(items), truth if ctx.keep_truth else None)
