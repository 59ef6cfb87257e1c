"""Visual Genome region descriptions: ``region_descriptions.json`` + ``image_data.json`` (vg pool).

Regions describe single objects, the rendered word, and object pairs (union box). Text regions are
drawn one pixel wider than the image on each side, as real VG boxes sometimes are; the adapter clips.
"""

from __future__ import annotations

from mmdata.world.grammar import Ref, noun_phrase
from mmdata.world.writers import Ctx, Output, record


def build(ctx: Ctx) -> Output:
    name = "vg_regions"
    descs, image_data, truth = [], [], []
    region_id = 1
    for img in ctx.vg:
        rng = ctx.rng(name, img.index)
        s = img.scene
        regions = []

        def add(phrase, x1, y1, x2, y2, meta, img=img, regions=regions, s=s):
            nonlocal region_id
            regions.append({"region_id": region_id, "width": x2 - x1, "height": y2 - y1, "image_id": img.image_id,
                            "phrase": phrase, "y": y1, "x": x1})  # fmt: skip
            if ctx.keep_truth:
                cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(img.width, x2), min(img.height, y2)
                truth.append(
                    record(name, "rec", record_id=str(region_id), image_id=str(img.image_id),
                           image=img.ref(f"VG_100K/{img.image_id}.jpg"), phrase=phrase,
                           bbox=[cx1 / img.width, cy1 / img.height, cx2 / img.width, cy2 / img.height],
                           _meta={"scene": s.scene_id, **meta})  # fmt: skip
                )
            region_id += 1

        for o in s.objects:
            style = rng.randrange(3)
            np_ = noun_phrase("en", Ref(o.shape, o.colour, o.size if style == 1 else None), "indef" if style == 0 else "bare")
            phrase = f"{np_} on a {s.background} background" if style == 2 else np_
            add(phrase, *o.box, {"objects": (o.id,)})
        if s.text is not None:
            x1, y1, x2, y2 = s.text.box
            add(f'the word "{s.text.word}"', -1, y1, img.width + 1, y2, {"text": s.text.word})
        if len(s.objects) >= 2:
            a, b = rng.sample(list(s.objects), 2)
            box = (min(a.box[0], b.box[0]), min(a.box[1], b.box[1]), max(a.box[2], b.box[2]), max(a.box[3], b.box[3]))
            phrase = f"{noun_phrase('en', Ref(a.shape, a.colour), 'bare')} near a {noun_phrase('en', Ref(b.shape, b.colour), 'bare')}"
            add(phrase, *box, {"objects": (a.id, b.id)})
        descs.append({"regions": regions, "id": img.image_id})
        image_data.append({"width": img.width, "url": f"https://cs.stanford.edu/people/rak248/VG_100K/{img.image_id}.jpg",
                           "height": img.height, "image_id": img.image_id, "coco_id": None, "flickr_id": None})  # fmt: skip
    files = {"region_descriptions.json": descs, "image_data.json": image_data}
    return Output(name, files, "../../images/vg", region_id - 1, truth if ctx.keep_truth else None)
