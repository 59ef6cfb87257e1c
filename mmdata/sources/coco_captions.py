"""COCO Captions: ``captions_<subtype>.json`` in PATH (or, when PATH has none, in PATH/annotations).

One Record per caption annotation in file order (files sorted by name); the image is
``<subtype>/<file_name>`` under the image root (the COCO folder), its size taken from ``images[]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.io import load_json
from mmdata.sources.base import Adapter, ImageResolver, need, need_list_of
from mmdata.sources.common import need_dim, need_relpath, split_of
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

_NAME = re.compile(r"^captions_(?P<sub>[A-Za-z0-9]+)\.json$")
PATTERN = "captions_*.json"


class COCOCaptions(Adapter):
    name = "coco_captions"
    task = "caption"
    description = "COCO Captions: five human captions per COCO image."
    layout = "captions_<subtype>.json (in PATH or PATH/annotations); images/<subtype>/<file_name>"
    accepts = (
        "2014: captions_train2014.json, captions_val2014.json; images train2014/COCO_train2014_<id:012d>.jpg",
        "2017: captions_train2017.json, captions_val2017.json; images train2017/<id:012d>.jpg",
        "the files in PATH or in PATH/annotations/ (as the annotations_trainval zip extracts)",
    )

    def _files(self, path: Path) -> list[tuple[str, Path]]:
        if path.is_dir() and not any(p.is_file() for p in path.glob(PATTERN)) and (path / "annotations").is_dir():
            path = path / "annotations"
        out = []
        for f in self.glob_files(path, PATTERN):
            m = _NAME.match(f.name)
            if not m:
                raise MmdataError("coco_captions: file name does not follow captions_<subtype>.json", file=f)
            out.append((m["sub"], f))
        return out

    def files(self, path: Path) -> list[Path]:
        return [f for _, f in self._files(path)]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        top = "(top level)"
        for sub, f in self._files(path):
            doc = load_json(f)
            imgs: dict[int, tuple[str, int, int]] = {}
            for i, im in enumerate(need_list_of(doc, "images", dict, file=f, record=top)):
                rid = f"images[{i}]"
                iid = need(im, "id", int, file=f, record=rid)
                name = need_relpath(im, "file_name", file=f, record=rid)
                imgs[iid] = (name, need_dim(im, "width", file=f, record=rid), need_dim(im, "height", file=f, record=rid))
            for i, ann in enumerate(need_list_of(doc, "annotations", dict, file=f, record=top)):
                ann_id = need(ann, "id", int, file=f, record=f"annotations[{i}]")
                rid = f"id={ann_id}"
                image_id = need(ann, "image_id", int, file=f, record=rid)
                caption = need(ann, "caption", str, file=f, record=rid)
                if image_id not in imgs:
                    raise MmdataError(f"image {image_id} is not in images[]", file=f, record=rid, field="image_id")
                name, width, height = imgs[image_id]
                yield self.record(
                    _file=f,
                    split=split_of(sub),
                    record_id=str(ann_id),
                    image_id=str(image_id),
                    image=image_request(f"{sub}/{name}", width, height),
                    caption=caption.strip(),
                )


register(COCOCaptions())
