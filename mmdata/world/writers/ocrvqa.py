"""OCR-VQA writer: ``dataset.json`` keyed by book id, five questions per cover (ocr pool)."""

from __future__ import annotations

from mmdata.sources.base import extra_json
from mmdata.world.scene import GENRES
from mmdata.world.writers import Ctx, Output, record

SPLIT_NAMES = {1: "train", 2: "val", 3: "test"}


def build(ctx: Ctx) -> Output:
    name = "ocrvqa"
    doc, truth = {}, []
    for img in ctx.books:
        rng = ctx.rng(name, img.index)
        b = img.scene.book
        key = str(img.image_id)
        other = rng.choice([g for g in GENRES if g != b["genre"]])
        asked = b["genre"] if rng.random() < 0.5 else other
        asked2 = other if asked == b["genre"] else b["genre"]
        qa = [
            ("Who wrote this book?", b["author"]),
            ("What is the title of this book?", b["title"]),
            ("What type of book is this?", b["genre"]),
            (f"Is this a {asked} book?", "Yes" if asked == b["genre"] else "No"),
            (f"Is this book related to {asked2}?", "Yes" if asked2 == b["genre"] else "No"),
        ]
        r = rng.random()
        split = 1 if r < 0.9 else (2 if r < 0.95 else 3)
        doc[key] = {
            "imageURL": f"http://ecx.images-amazon.com/images/I/{key[-6:]}cover.jpg",
            "title": b["title"],
            "authorName": b["author"],
            "genre": b["genre"],
            "split": split,
            "questions": [q for q, _ in qa],
            "answers": [a for _, a in qa],
        }
        if ctx.keep_truth:
            for i, (q, a) in enumerate(qa):
                truth.append(
                    record(
                        name,
                        "vqa_open",
                        split=SPLIT_NAMES[split],
                        record_id=f"{key}_{i}",
                        image_id=key,
                        image=img.ref(f"{key}.jpg"),
                        question=q,
                        answer=a,
                        extra=extra_json({"title": b["title"], "authorName": b["author"], "genre": b["genre"]}),
                        _meta={"scene": img.scene.scene_id},
                    )
                )
    return Output(name, {"dataset.json": doc}, "../../images/ocr", 5 * len(doc), truth if ctx.keep_truth else None)
