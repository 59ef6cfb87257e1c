"""The Cauldron (HuggingFaceM4/the_cauldron): one directory per subset of parquet shards.

Columns: ``images`` — a list of Image structs ``{bytes, path}`` (one or more per row); ``texts`` — a
list of ``{user, assistant, source}``, the exchanges of one conversation. One Record per row (task
``v_inst``; ``t_inst`` for a row without images) whose ``turns`` are the exchanges in order, text
verbatim (The Cauldron's texts carry no ``<image>`` placeholder; the renderer adds them). A row with
several images keeps them all: ``images`` lists every image in order and ``image`` is the first. The
embedded bytes are extracted once into a content-addressed store (:mod:`mmdata.sources.embedded`),
which is the source's image root. ``record_id`` = ``<subset>/<shard stem>:<row>``; ``image_id`` =
the first image's sha256; ``extra`` = ``{subset, sources}`` (the distinct ``source`` values).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mmdata.errors import MmdataError
from mmdata.sources.base import Adapter, extra_json
from mmdata.sources.hub import (
    IMAGE,
    IMAGE_DESC,
    TableAdapter,
    TableLayout,
    check_column,
    embedded_request,
    image_fields,
    list_of,
    need_text,
    struct_with,
    text_type,
)
from mmdata.sources.reader import absent_image
from mmdata.sources.registry import register

TEXTS = list_of(struct_with({"user": text_type, "assistant": text_type}, {"source": text_type}))


class CauldronLayout(TableLayout):
    title = "The Cauldron layout"
    shape = "images: list<Image>, texts: list<{user, assistant, source}>"

    def matches(self, schema: pa.Schema) -> bool:
        return "texts" in schema.names and "images" in schema.names

    def check(self, schema: pa.Schema, file: Path, adapter: str) -> list[str]:
        check_column(schema, "images", list_of(IMAGE), f"list<{IMAGE_DESC}>", file=file, adapter=adapter)
        check_column(schema, "texts", TEXTS, "list<struct<user: string, assistant: string, source: string>>",
                     file=file, adapter=adapter)  # fmt: skip
        return ["images", "texts"]

    def image_columns(self, schema: pa.Schema) -> list[str]:
        return ["images"]

    def record(self, adapter: Adapter, item: dict, *, file: Path, where: str, subset: str | None, row: int, split: str,
               state: dict) -> dict:  # fmt: skip
        rid = f"{where}:{row}"
        requests = []
        for i, value in enumerate(item.get("images") or []):
            req = embedded_request(value, field=f"images[{i}]")
            requests.append(req or absent_image(f"images[{i}]", f"images[{i}] holds no image"))
        turns, sources = [], []
        for i, t in enumerate(item.get("texts") or []):
            trid = f"{rid} texts[{i}]"
            if t is None:
                raise MmdataError("null exchange", file=file, record=trid, field="texts")
            user = need_text(t, "user", file=file, record=trid)
            assistant = need_text(t, "assistant", file=file, record=trid)
            source = need_text(t, "source", file=file, record=trid, optional=True)
            turns += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
            if source is not None and source not in sources:
                sources.append(source)
        rec = adapter.record(_file=file, split=split, record_id=rid, turns=turns,
                             extra=extra_json({"subset": subset, "sources": sources}), **image_fields(requests))  # fmt: skip
        if not turns:
            rec["_drop"] = "row has no texts (no turns)"
        return rec


CAULDRON = CauldronLayout()


class Cauldron(TableAdapter):
    name = "cauldron"
    task = "v_inst"
    description = "The Cauldron: 50 vision-language sets as multi-turn conversations over one or more embedded images."
    layout = "<subset>/*.parquet with images: list<{bytes, path}>, texts: list<{user, assistant, source}>"
    accepts = (
        "any subset directory of HuggingFaceM4/the_cauldron (train-0000N-of-0000M.parquet shards), a parent of "
        "subset directories, or one shard",
        "rows with several images (kept as one multi-image Record), rows without images (t_inst)",
        "embedded images (PNG/JPEG/GIF/BMP/WebP/TIFF bytes) extracted once into the cache; a row whose image "
        "struct has no bytes is quarantined",
    )
    layouts = (CAULDRON,)


register(Cauldron())
