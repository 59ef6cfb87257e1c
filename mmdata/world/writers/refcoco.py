"""RefCOCO / RefCOCO+ / RefCOCOg writers: COCO ``instances.json`` + ``refs(<splitBy>).json``.

The three differ in expression style, as the real ones do (Honeybee's reason for fine-grained
templates): RefCOCO uses short, often positional expressions ("left circle"); RefCOCO+ forbids
location words and describes appearance ("large red circle"); RefCOCOg uses longer sentences
("a small blue star to the right of the green square"). RefCOCO and RefCOCO+ share images; RefCOCOg
draws from an overlapping but different part of the pool.
"""

from __future__ import annotations

from mmdata.sources.base import extra_json
from mmdata.world.grammar import noun_phrase
from mmdata.world.lexicon import SHAPES
from mmdata.world.pools import PoolImage
from mmdata.world.qa import quadrant, relation, unique_ref
from mmdata.world.scene import Obj, Scene
from mmdata.world.writers import Ctx, Output, record

CORNER = {"top_left": "top left", "top_right": "top right", "bottom_left": "bottom left", "bottom_right": "bottom right"}
REL = {"left_of": "to the left of", "right_of": "to the right of", "above": "above", "below": "below"}


def _extreme_word(scene: Scene, o: Obj) -> str | None:
    others = [x for x in scene.objects if x.id != o.id]
    if not others:
        return None
    for word, key, sign in (("left", "cx", -1), ("right", "cx", 1), ("top", "cy", -1), ("bottom", "cy", 1)):
        v = getattr(o, key) * sign
        if all(v > getattr(x, key) * sign + 4 for x in others):
            return word
    return None


def expressions(style: str, scene: Scene, o: Obj, rng) -> list[str]:
    """Raw expressions for object ``o`` in the dataset's style (empty when it cannot be referred to)."""
    ref = unique_ref(scene, o)
    if style == "refcoco":
        pos = _extreme_word(scene, o)
        desc = noun_phrase("en", ref, "bare") if ref else None
        shape_only = o.shape
        out = []
        if pos:
            out.append(f"{pos} {shape_only if desc is None else desc}")
            out.append(f"{desc or shape_only} on the {pos}" if pos in ("left", "right") else f"{desc or shape_only} at the {pos}")
        if desc and not pos:
            out.append(desc)
        return out[: rng.randint(1, 2)] if out else []
    if style == "refcoco+":
        if ref is None:
            return []
        full = noun_phrase("en", type(ref)(o.shape, o.colour, o.size), "bare")
        short = noun_phrase("en", ref, "bare")
        return list(dict.fromkeys([short, full]))[: rng.randint(1, 2)]
    # refcocog
    if ref is None:
        return []
    full = noun_phrase("en", type(ref)(o.shape, o.colour, o.size), "indef")
    out = []
    q = quadrant(scene, o)
    if q:
        out.append(f"{full} in the {CORNER[q]} corner of the image")
    for b in scene.objects:
        rb = unique_ref(scene, b) if b.id != o.id else None
        rel = relation(o, b) if rb else None
        if rel:
            out.append(f"{full} that is {REL[rel]} {noun_phrase('en', rb, 'def')}")
            break
    return out[: rng.randint(1, 2)]


def _clean(raw: str) -> str:
    return " ".join(raw.lower().replace(",", " ").replace(".", " ").split())


def _split(style: str, r: float) -> str:
    if style == "refcocog":
        return "train" if r < 0.85 else ("val" if r < 0.9 else "test")
    return "train" if r < 0.8 else ("val" if r < 0.88 else ("testA" if r < 0.94 else "testB"))


def build(ctx: Ctx, style: str) -> Output:
    name = style
    n = len(ctx.coco)
    images: list[PoolImage] = ctx.coco[: max(1, int(n * 0.7))] if style != "refcocog" else ctx.coco[int(n * 0.3):]
    cat_id = {s: i + 1 for i, s in enumerate(SHAPES)}
    inst_images, anns, refs, truth = [], [], [], []
    ref_id = sent_id = 0
    for img in images:
        rng = ctx.rng(name, img.index)
        split = _split(style, rng.random())
        fname = f"COCO_train2014_{img.image_id:012d}.jpg"
        inst_images.append({"license": 1, "file_name": fname, "height": img.height, "width": img.width, "id": img.image_id})
        for o in img.scene.objects:
            ann_id = img.image_id * 10 + o.id
            x1, y1, x2, y2 = o.box
            w, h = x2 - x1, y2 - y1
            anns.append({"segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]], "area": float(w * h), "iscrowd": 0,
                         "image_id": img.image_id, "bbox": [float(x1), float(y1), float(w), float(h)],
                         "category_id": cat_id[o.shape], "id": ann_id})  # fmt: skip
            exprs = expressions(style, img.scene, o, rng)
            if not exprs:
                continue
            sents = []
            for raw in exprs:
                raw_out = raw[0].upper() + raw[1:] if rng.random() < 0.3 else raw
                sents.append({"tokens": _clean(raw).split(), "raw": raw_out, "sent_id": sent_id, "sent": _clean(raw)})
                sent_id += 1
            refs.append({"sent_ids": [s["sent_id"] for s in sents], "file_name": f"COCO_train2014_{img.image_id:012d}_{ann_id}.jpg",
                         "ann_id": ann_id, "ref_id": ref_id, "image_id": img.image_id, "split": split,
                         "sentences": sents, "category_id": cat_id[o.shape]})  # fmt: skip
            if ctx.keep_truth:
                for s in sents:
                    truth.append(
                        record(
                            name,
                            "rec",
                            split=split,
                            record_id=f"{ref_id}:{s['sent_id']}",
                            image_id=str(img.image_id),
                            image=img.ref(f"train2014/{fname}"),
                            phrase=s["sent"],
                            bbox=[x1 / img.width, y1 / img.height, x2 / img.width, y2 / img.height],
                            extra=extra_json({"raw": s["raw"], "category": o.shape, "ref_id": ref_id, "ann_id": ann_id}),
                            _meta={"scene": img.scene.scene_id, "objects": (o.id,)},
                        )
                    )
            ref_id += 1
    instances = {
        "info": {"description": "mmdata synthetic world"},
        "images": inst_images,
        "annotations": anns,
        "categories": [{"supercategory": "shape", "id": i, "name": s} for s, i in cat_id.items()],
    }
    refs_name = "refs(umd).json" if style == "refcocog" else "refs(unc).json"
    return Output(name, {"instances.json": instances, refs_name: refs}, "../../images/coco",
                  sum(len(r["sentences"]) for r in refs), truth if ctx.keep_truth else None)  # fmt: skip
