"""RefCOCO, RefCOCO+ and RefCOCOg: ``instances.json`` (COCO instances) + ``refs(<splitBy>).p`` or ``.json``.

The refer toolkit publishes the refs as a Python pickle, ``refs(<splitBy>).p`` (protocol 2, written by
Python 2): a list of ref dicts. The adapter reads it directly through
:func:`~mmdata.sources.plain_pickle.load_plain_pickle`, which admits no globals, so nothing in the
file can run; ``refs(<splitBy>).json`` (the same list, e.g. written once by ``mmdata sources
convert-refs``) is read when present. One Record per sentence of a ref (``<ref_id>:<sent_id>``), refs
in file order. The box is the ref's annotation box normalised by the image size from ``images[]``;
the image is ``train2014/<file_name>`` under the image root (the COCO folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa

from mmdata.errors import MmdataError
from mmdata.io import atomic_write_bytes, dumps_json, load_json
from mmdata.sources import jsonstream
from mmdata.sources.base import (
    Adapter,
    ImageResolver,
    _tname,
    box_xywh_to_norm,
    extra_json,
    need,
    need_list_of,
)
from mmdata.sources.common import need_dim, need_obj, need_relpath
from mmdata.sources.plain_pickle import load_plain_pickle
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register
from mmdata.sources.spill import Spill


def load_refs(path: Path) -> list:
    """The list of refs from ``refs(<splitBy>).json`` or, safely, from the published ``.p`` pickle."""
    doc = load_plain_pickle(path) if path.suffix == ".p" else load_json(path)
    if not isinstance(doc, list):
        raise MmdataError(f"expected a list of refs at the top level, got {_tname(doc)}", file=path, record="(top level)")
    return doc


@dataclass(frozen=True)
class Converted:
    source: Path
    target: Path
    status: str  # "written" | "unchanged" | "overwritten"


def convert_refs(directory: str | Path, *, overwrite: bool = False) -> list[Converted]:
    """Write ``refs(<splitBy>).json`` next to every ``refs(<splitBy>).p`` under ``directory``, once.

    The JSON holds the unpickled list unchanged (canonical: sorted keys, compact). A target that
    already holds exactly these bytes is left alone; one that differs is refused unless ``overwrite``.
    Every pickle is loaded before anything is written, so a refused pickle writes nothing.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise MmdataError("convert-refs: expected a directory holding refs(<splitBy>).p", file=directory)
    pickles = sorted(p for p in directory.glob("refs(*).p") if p.is_file())
    if not pickles:
        raise MmdataError("convert-refs: no refs(<splitBy>).p in this directory", file=directory)
    plan = []
    for src in pickles:
        body = dumps_json(load_refs(src), indent=False)
        dst = src.with_suffix(".json")
        status = "written"
        if dst.exists():
            if dst.is_file() and dst.read_bytes() == body:
                status = "unchanged"
            elif not overwrite:
                raise MmdataError(f"{dst.name} exists and differs from {src.name}; pass --overwrite to replace it", file=dst)
            else:
                status = "overwritten"
        plan.append((src, dst, body, status))
    out = []
    for src, dst, body, status in plan:
        if status != "unchanged":
            atomic_write_bytes(dst, body)
        out.append(Converted(src, dst, status))
    return out


class RefCOCO(Adapter):
    task = "rec"

    def __init__(self, name: str, split_bys: tuple[str, ...], description: str) -> None:
        self.name = name
        self.split_bys = split_bys
        self.description = description
        refs = " or ".join(f"refs({s}).p" for s in split_bys)
        self.layout = f"instances.json + {refs} (or the same as .json); images/train2014/<file_name>"
        self.accepts = (
            *(f"refs({s}).p — the refer toolkit's pickle (Python 2, protocol 2), loaded with no globals" for s in split_bys),
            *(f"refs({s}).json — the same list converted (mmdata sources convert-refs)" for s in split_bys),
            "instances.json — COCO instances (images, annotations with pixel [x, y, w, h], categories)",
        )

    def _refs_file(self, path: Path) -> Path:
        if not path.is_dir():
            raise MmdataError(f"{self.name}: expected a directory holding instances.json and the refs file", file=path)
        for s in self.split_bys:
            for suffix in (".json", ".p"):
                p = path / f"refs({s}){suffix}"
                if p.is_file():
                    return p
        names = [f"refs({s}).p" for s in self.split_bys]
        others = sorted(p.name for p in path.glob("refs(*).*"))
        hint = f" (found {', '.join(others)}, which belong to another dataset)" if others else ""
        raise MmdataError(f"{self.name}: expected {' or '.join(names)} (or .json) in this directory{hint}", file=path)

    def files(self, path: Path) -> list[Path]:
        refs = self._refs_file(path)
        return [self.need_file(path, "instances.json"), refs]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        """refs ⋈ instances (images, annotations) joined on disk in ref order (:mod:`mmdata.sources.spill`;
        a repeated id: the last entry counts); the categories, a short list, are held."""
        inst_f, refs_f = self.files(path)
        spill = Spill()
        try:
            spill.writer("img", IMG_SCHEMA)
            spill.writer("ann", ANN_SCHEMA)
            spill.writer("ref", REF_SCHEMA)
            for i, im in enumerate(jsonstream.items(inst_f, "images", what="images", of=dict)):
                rid = f"images[{i}]"
                spill.add("img", {"ipos": i, "image_id": need(im, "id", int, file=inst_f, record=rid),
                                  "file_name": need_relpath(im, "file_name", file=inst_f, record=rid),
                                  "width": need_dim(im, "width", file=inst_f, record=rid), "height": need_dim(im, "height", file=inst_f, record=rid)})  # fmt: skip
            for i, ann in enumerate(jsonstream.items(inst_f, "annotations", what="annotations", of=dict)):
                ann_id = need(ann, "id", int, file=inst_f, record=f"annotations[{i}]")
                # checked when a ref uses it (the box needs that ref's image size): kept as JSON until then
                spill.add("ann", {"apos": i, "ann_id": ann_id, "raw": orjson.dumps({k: ann[k] for k in ("image_id", "bbox") if k in ann})})
            cats: dict[int, str] = {}
            for i, cat in enumerate(jsonstream.items(inst_f, "categories", what="categories", of=dict)):
                rid = f"categories[{i}]"
                cats[need(cat, "id", int, file=inst_f, record=rid)] = need(cat, "name", str, file=inst_f, record=rid)
            for i, ref in enumerate(iter_refs(refs_f)):
                need_obj(ref, file=refs_f, record=f"#{i}")
                ref_id = need(ref, "ref_id", int, file=refs_f, record=f"#{i}")
                rid = f"ref_id={ref_id}"
                spill.add("ref", {
                    "rpos": i, "ref_id": ref_id, "ann_id": need(ref, "ann_id", int, file=refs_f, record=rid),
                    "image_id": need(ref, "image_id", int, file=refs_f, record=rid), "split": need(ref, "split", str, file=refs_f, record=rid),
                    "cat_id": need(ref, "category_id", int, file=refs_f, record=rid),
                    "sentences": orjson.dumps(need_list_of(ref, "sentences", dict, file=refs_f, record=rid)),
                })  # fmt: skip
            spill.close_writers()
            last = "QUALIFY row_number() OVER (PARTITION BY {k} ORDER BY {p} DESC) = 1"
            sql = (f"SELECT ref.*, img.file_name, img.width, img.height, ann.raw, ann.ann_id IS NULL AS no_ann FROM ref "
                   f"LEFT JOIN (SELECT * FROM img {last.format(k='image_id', p='ipos')}) img USING (image_id) "
                   f"LEFT JOIN (SELECT * FROM ann {last.format(k='ann_id', p='apos')}) ann USING (ann_id) ORDER BY ref.rpos")  # fmt: skip
            for row in spill.rows(sql):
                yield from self._ref_records(row, cats, inst_f, refs_f)
        finally:
            spill.close()

    def _ref_records(self, row: dict, cats: dict[int, str], inst_f: Path, refs_f: Path) -> Iterator[dict]:
        ref_id, image_id, ann_id, cat_id = row["ref_id"], row["image_id"], row["ann_id"], row["cat_id"]
        rid = f"ref_id={ref_id}"
        if row["file_name"] is None:
            raise MmdataError(f"image {image_id} is not in {inst_f.name} images[]", file=refs_f, record=rid, field="image_id")
        if row["no_ann"]:
            raise MmdataError(f"annotation {ann_id} is not in {inst_f.name} annotations[]", file=refs_f, record=rid, field="ann_id")
        if cat_id not in cats:
            raise MmdataError(f"category {cat_id} is not in {inst_f.name} categories[]", file=refs_f, record=rid, field="category_id")
        file_name, width, height = row["file_name"], row["width"], row["height"]
        ann = orjson.loads(row["raw"])
        arid = f"annotations id={ann_id}"
        if need(ann, "image_id", int, file=inst_f, record=arid) != image_id:
            raise MmdataError(f"annotation belongs to another image than ref {ref_id} (image {image_id})", file=inst_f, record=arid, field="image_id")
        bbox = box_xywh_to_norm(need(ann, "bbox", list, file=inst_f, record=arid), width, height, file=inst_f, record=arid)
        for sent in orjson.loads(row["sentences"]):
            sent_id = need(sent, "sent_id", int, file=refs_f, record=rid)
            srid = f"{ref_id}:{sent_id}"
            yield self.record(
                _file=refs_f,
                split=row["split"],
                record_id=srid,
                image_id=str(image_id),
                image=image_request(f"train2014/{file_name}", width, height),
                bbox=bbox,
                phrase=need(sent, "sent", str, file=refs_f, record=srid),
                extra=extra_json({"raw": need(sent, "raw", str, file=refs_f, record=srid), "category": cats[cat_id], "ref_id": ref_id, "ann_id": ann_id}),
            )


IMG_SCHEMA = pa.schema([("ipos", pa.int64()), ("image_id", pa.int64()), ("file_name", pa.string()), ("width", pa.int64()), ("height", pa.int64())])
ANN_SCHEMA = pa.schema([("apos", pa.int64()), ("ann_id", pa.int64()), ("raw", pa.binary())])
REF_SCHEMA = pa.schema([("rpos", pa.int64()), ("ref_id", pa.int64()), ("ann_id", pa.int64()), ("image_id", pa.int64()), ("split", pa.string()),
                        ("cat_id", pa.int64()), ("sentences", pa.binary())])  # fmt: skip


def iter_refs(path: Path) -> Iterator:
    """The refs one by one: streamed from ``refs(<splitBy>).json``; the ``.p`` pickle is loaded whole
    (a pickle cannot be read in parts; ``mmdata sources convert-refs`` writes the JSON once)."""
    if path.suffix == ".p":
        yield from load_refs(path)
        return
    yield from jsonstream.items(path, None, what="refs")


register(RefCOCO("refcoco", ("unc", "google"), "RefCOCO referring expressions (UNC or Google splits) over COCO train2014."))
register(RefCOCO("refcoco+", ("unc",), "RefCOCO+ referring expressions without location words (UNC splits)."))
register(RefCOCO("refcocog", ("umd", "google"), "RefCOCOg longer referring expressions (UMD or Google splits)."))
