"""COCO Captions: ``captions_<subtype>.json`` in PATH (or, when PATH has none, in PATH/annotations).

One Record per caption annotation in file order (files sorted by name); the image is
``<subtype>/<file_name>`` under the image root (the COCO folder), its size taken from ``images[]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from mmdata.errors import MmdataError
from mmdata.sources import jsonstream
from mmdata.sources.base import Adapter, ImageResolver, need
from mmdata.sources.common import need_dim, need_relpath, split_of
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register
from mmdata.sources.spill import Spill

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
        for sub, f in self._files(path):
            yield from self._file_rows(sub, f)

    def _file_rows(self, sub: str, f: Path) -> Iterator[dict]:
        """annotations ⋈ images on image_id, both streamed to disk and joined in annotation order
        (:mod:`mmdata.sources.spill`; a repeated image id: the last entry counts)."""
        spill = Spill()
        try:
            spill.writer("img", IMG_SCHEMA)
            spill.writer("ann", ANN_SCHEMA)
            for i, im in enumerate(jsonstream.items(f, "images", what="images", of=dict)):
                rid = f"images[{i}]"
                spill.add("img", {"ipos": i, "image_id": need(im, "id", int, file=f, record=rid), "name": need_relpath(im, "file_name", file=f, record=rid),
                                  "width": need_dim(im, "width", file=f, record=rid), "height": need_dim(im, "height", file=f, record=rid)})  # fmt: skip
            for i, ann in enumerate(jsonstream.items(f, "annotations", what="annotations", of=dict)):
                ann_id = need(ann, "id", int, file=f, record=f"annotations[{i}]")
                rid = f"id={ann_id}"
                spill.add("ann", {"apos": i, "ann_id": ann_id, "image_id": need(ann, "image_id", int, file=f, record=rid),
                                  "caption": need(ann, "caption", str, file=f, record=rid)})  # fmt: skip
            spill.close_writers()
            sql = ("SELECT ann.*, img.name, img.width, img.height FROM ann LEFT JOIN (SELECT * FROM img QUALIFY row_number() "
                   "OVER (PARTITION BY image_id ORDER BY ipos DESC) = 1) img USING (image_id) ORDER BY ann.apos")  # fmt: skip
            for row in spill.rows(sql):
                if row["name"] is None:
                    raise MmdataError(f"image {row['image_id']} is not in images[]", file=f, record=f"id={row['ann_id']}", field="image_id")
                yield self.record(
                    _file=f,
                    split=split_of(sub),
                    record_id=str(row["ann_id"]),
                    image_id=str(row["image_id"]),
                    image=image_request(f"{sub}/{row['name']}", row["width"], row["height"]),
                    caption=row["caption"].strip(),
                )
        finally:
            spill.close()


IMG_SCHEMA = pa.schema([("ipos", pa.int64()), ("image_id", pa.int64()), ("name", pa.string()), ("width", pa.int64()), ("height", pa.int64())])
ANN_SCHEMA = pa.schema([("apos", pa.int64()), ("ann_id", pa.int64()), ("image_id", pa.int64()), ("caption", pa.string())])


register(COCOCaptions())
