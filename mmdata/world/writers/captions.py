"""COCO captions writer: ``annotations/captions_train2017.json``, five captions per image (coco pool)."""

from __future__ import annotations

from mmdata.world.grammar import Ref, background_slots, fill, join_list, noun_phrase
from mmdata.world.lexicon import lexicon
from mmdata.world.pools import coco_2017
from mmdata.world.scene import Scene
from mmdata.world.writers import Ctx, Output, record


def caption(scene: Scene, lang: str, template: int, rng) -> str:
    """A caption of ``scene`` in ``lang`` using caption template number ``template``."""
    lex = lexicon(lang)
    objs = list(scene.objects)
    rng.shuffle(objs)
    items = [noun_phrase(lang, Ref(o.shape, o.colour, o.size if rng.random() < 0.5 else None), "indef") for o in objs]
    slots = {"n": str(len(objs)), "list": join_list(lang, items), **background_slots(lang, scene.background)}
    text = fill(lex["captions"][template % len(lex["captions"])], lang, slots)
    if scene.text is not None and rng.random() < 0.7:
        text += " " + fill(lex["caption_text"], lang, {"word": scene.text.word})
    return text


def build(ctx: Ctx) -> Output:
    name = "coco_captions"
    images, anns, truth = [], [], []
    ann_id = 1
    n_templates = len(lexicon("en")["captions"])
    for img in ctx.coco:
        rng = ctx.rng(name, img.index)
        fname = f"{img.image_id:012d}.jpg"
        images.append({"license": 1, "file_name": fname, "coco_url": f"http://images.example.org/{fname}",
                       "height": img.height, "width": img.width, "date_captured": "2013-11-14 11:18:45", "id": img.image_id})  # fmt: skip
        order = list(range(n_templates))
        rng.shuffle(order)
        for t in order:
            text = caption(img.scene, "en", t, rng)
            stored = text + (" " if rng.random() < 0.1 else "")  # real COCO captions carry stray spaces
            anns.append({"image_id": img.image_id, "id": ann_id, "caption": stored})
            if ctx.keep_truth:
                truth.append(record(name, "caption", record_id=str(ann_id), image_id=str(img.image_id),
                                    image=img.ref(coco_2017(img.image_id)), caption=text,
                                    _meta={"scene": img.scene.scene_id}))  # fmt: skip
            ann_id += 1
    doc = {"info": {"description": "mmdata synthetic world", "year": 2026}, "licenses": [{"id": 1, "name": "CC BY 4.0"}],
           "images": images, "annotations": anns}  # fmt: skip
    return Output(name, {"annotations/captions_train2017.json": doc}, "../../images/coco", len(anns), truth if ctx.keep_truth else None)
