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

from mmdata.errors import MmdataError
from mmdata.io import atomic_write_bytes, dumps_json, load_json
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

        refs = load_refs(refs_f)
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


register(RefCOCO("refcoco", ("unc", "google"), "RefCOCO referring expressions (UNC or Google splits) over COCO train2014."))
register(RefCOCO("refcoco+", ("unc",), "RefCOCO+ referring expressions without location words (UNC splits)."))
register(RefCOCO("refcocog", ("umd", "google"), "RefCOCOg longer referring expressions (UMD or Google splits)."))
