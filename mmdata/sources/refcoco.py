"""RefCOCO, RefCOCO+ and RefCOCOg: ``instances.json`` (COCO instances) + ``refs(<splitBy>).json``.

The refer toolkit ships refs as Python pickles (``refs(unc).p``); mmdata never unpickles data files
(a pickle can run arbitrary code), so the refs must be converted to JSON once — the list of ref
dicts, unchanged. One Record per sentence of a ref (``<ref_id>:<sent_id>``), refs in file order.
The box is the ref's annotation box normalised by the image size from ``images[]``; the image is
``train2014/<file_name>`` under the image root (the COCO folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.io import load_json
from mmdata.sources.base import Adapter, ImageResolver, box_xywh_to_norm, extra_json, need, need_list_of
from mmdata.sources.common import need_dim, need_obj, need_relpath, top_list
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register


class RefCOCO(Adapter):
    task = "rec"

    def __init__(self, name: str, split_bys: tuple[str, ...], description: str) -> None:
        self.name = name
        self.split_bys = split_bys
        self.description = description
        refs = " or ".join(f"refs({s}).json" for s in split_bys)
        self.layout = f"instances.json + {refs} (pickles refused); images/train2014/<file_name>"

    def _refs_file(self, path: Path) -> Path:
        if not path.is_dir():
            raise MmdataError(f"{self.name}: expected a directory holding instances.json and the refs file", file=path)
        for s in self.split_bys:
            p = path / f"refs({s}).json"
            if p.is_file():
                return p
        names = [f"refs({s}).json" for s in self.split_bys]
        pickles = [path / f"refs({s}).p" for s in self.split_bys if (path / f"refs({s}).p").exists()]
        pickles += sorted(p for p in path.glob("refs(*).p") if p not in pickles)
        if pickles:
            p = pickles[0]
            raise MmdataError(
                f"{self.name}: found only the pickle {p.name}; pickles are never loaded (they can run code). "
                f"Convert it to JSON once (json.dump of the unpickled list of refs) as {' or '.join(names)}",
                file=p,
            )
        raise MmdataError(f"{self.name}: expected {' or '.join(names)} in this directory", file=path)

    def files(self, path: Path) -> list[Path]:
        refs = self._refs_file(path)
        return [self.need_file(path, "instances.json"), refs]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        inst_f, refs_f = self.files(path)
        inst = load_json(inst_f)
        top = "(top level)"
        imgs: dict[int, tuple[str, int, int]] = {}
        for i, im in enumerate(need_list_of(inst, "images", dict, file=inst_f, record=top)):
            rid = f"images[{i}]"
            iid = need(im, "id", int, file=inst_f, record=rid)
            name = need_relpath(im, "file_name", file=inst_f, record=rid)
            imgs[iid] = (name, need_dim(im, "width", file=inst_f, record=rid), need_dim(im, "height", file=inst_f, record=rid))
        anns: dict[int, dict] = {}
        for i, ann in enumerate(need_list_of(inst, "annotations", dict, file=inst_f, record=top)):
            anns[need(ann, "id", int, file=inst_f, record=f"annotations[{i}]")] = ann
        cats: dict[int, str] = {}
        for i, cat in enumerate(need_list_of(inst, "categories", dict, file=inst_f, record=top)):
            rid = f"categories[{i}]"
            cats[need(cat, "id", int, file=inst_f, record=rid)] = need(cat, "name", str, file=inst_f, record=rid)

        refs = top_list(load_json(refs_f), file=refs_f, what="refs")
        for i, ref in enumerate(refs):
            need_obj(ref, file=refs_f, record=f"#{i}")
            ref_id = need(ref, "ref_id", int, file=refs_f, record=f"#{i}")
            rid = f"ref_id={ref_id}"
            ann_id = need(ref, "ann_id", int, file=refs_f, record=rid)
            image_id = need(ref, "image_id", int, file=refs_f, record=rid)
            split = need(ref, "split", str, file=refs_f, record=rid)
            cat_id = need(ref, "category_id", int, file=refs_f, record=rid)
            sentences = need_list_of(ref, "sentences", dict, file=refs_f, record=rid)
            if image_id not in imgs:
                raise MmdataError(f"image {image_id} is not in {inst_f.name} images[]", file=refs_f, record=rid, field="image_id")
            if ann_id not in anns:
                raise MmdataError(f"annotation {ann_id} is not in {inst_f.name} annotations[]", file=refs_f, record=rid, field="ann_id")
            if cat_id not in cats:
                raise MmdataError(f"category {cat_id} is not in {inst_f.name} categories[]", file=refs_f, record=rid, field="category_id")
            file_name, width, height = imgs[image_id]
            ann = anns[ann_id]
            arid = f"annotations id={ann_id}"
            if need(ann, "image_id", int, file=inst_f, record=arid) != image_id:
                raise MmdataError(f"annotation belongs to another image than ref {ref_id} (image {image_id})", file=inst_f, record=arid, field="image_id")
            bbox = box_xywh_to_norm(need(ann, "bbox", list, file=inst_f, record=arid), width, height, file=inst_f, record=arid)
            for sent in sentences:
                sent_id = need(sent, "sent_id", int, file=refs_f, record=rid)
                srid = f"{ref_id}:{sent_id}"
                yield self.record(
                    _file=refs_f,
                    split=split,
                    record_id=srid,
                    image_id=str(image_id),
                    image=image_request(f"train2014/{file_name}", width, height),
                    bbox=bbox,
                    phrase=need(sent, "sent", str, file=refs_f, record=srid),
                    extra=extra_json(
                        {
                            "raw": need(sent, "raw", str, file=refs_f, record=srid),
                            "category": cats[cat_id],
                            "ref_id": ref_id,
                            "ann_id": ann_id,
                        }
                    ),
                )


register(RefCOCO("refcoco", ("unc",), "RefCOCO referring expressions (UNC splits) over COCO train2014."))
register(RefCOCO("refcoco+", ("unc",), "RefCOCO+ referring expressions without location words (UNC splits)."))
register(RefCOCO("refcocog", ("umd", "google"), "RefCOCOg longer referring expressions (UMD or Google splits)."))
