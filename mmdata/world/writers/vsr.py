"""VSR writer: declarative spatial claims with true/false labels, jsonl per split (vg pool)."""

from __future__ import annotations

from mmdata.sources.base import extra_json
from mmdata.world.grammar import noun_phrase
from mmdata.world.qa import OPPOSITE, relation, unique_ref
from mmdata.world.writers import Ctx, Output, record

PHRASE = {"left_of": "left of", "right_of": "right of", "above": "above", "below": "below"}


def build(ctx: Ctx) -> Output:
    name = "vsr"
    lines: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    truth: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for img in ctx.vg:
        rng = ctx.rng(name, img.index)
        if rng.random() >= ctx.cfg.vsr_share:
            continue
        pairs = [(a, b) for a in img.scene.objects for b in img.scene.objects if a.id != b.id]
        rng.shuffle(pairs)
        for a, b in pairs:
            rel = relation(a, b)
            ra, rb = unique_ref(img.scene, a), unique_ref(img.scene, b)
            if rel and ra and rb:
                break
        else:
            continue
        label = int(rng.random() < 0.5)
        claimed = rel if label else OPPOSITE[rel]
        subj, obj = noun_phrase("en", ra, "bare"), noun_phrase("en", rb, "bare")
        caption = f"The {subj} is {PHRASE[claimed]} the {obj}."
        r = rng.random()
        split = "train" if r < 0.7 else ("dev" if r < 0.8 else "test")
        image = f"{img.image_id}.jpg"
        line = {
            "image": image,
            "image_link": f"http://images.example.org/vg/{image}",
            "caption": caption,
            "label": label,
            "relation": PHRASE[claimed],
            "subj": subj,
            "obj": obj,
            "annotator_id": rng.randrange(100),
            "vote_true_validator_id": [],
            "vote_false_validator_id": [],
        }
        lines[split].append(line)
        if ctx.keep_truth:
            n = len(lines[split])
            truth[split].append(
                record(
                    name,
                    "vqa_open",
                    split="val" if split == "dev" else split,
                    record_id=f"{split}-{n}",
                    image_id=str(img.image_id),
                    image=img.ref(image),
                    caption=caption,
                    question=f"Is the {subj} {PHRASE[claimed]} the {obj}?",
                    answer="yes" if label else "no",
                    extra=extra_json({"relation": PHRASE[claimed], "subj": subj, "obj": obj, "label": label,
                                       "subj_obj_source": "file", "reference_frame": None}),
                    _meta={"scene": img.scene.scene_id, "objects": (a.id, b.id), "relation": rel},
                )
            )
    files = {f"{s}.jsonl": ls for s, ls in lines.items()}
    # adapters read files in sorted order: dev, test, train
    ordered = [t for s in sorted(lines) for t in truth[s]]
    return Output(name, files, "../../images/vg/VG_100K", sum(len(v) for v in lines.values()),
                  ordered if ctx.keep_truth else None)  # fmt: skip
