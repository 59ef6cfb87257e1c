"""LLaVA-OneVision-Data (lmms-lab/LLaVA-OneVision-Data): one directory per subset of parquet shards.

Columns: ``id`` (string), ``image`` (an Image struct ``{bytes, path}``, null for text-only rows),
``conversations`` (a list of ``{from: human|gpt, value}``; ``<image>`` in the first human turn) and
``data_source`` (string). Only ``conversations`` is required; a conversation table with an
``images`` list column instead of ``image`` (multi-image LLaVA data) is read the same way by the
``hf`` adapter. One Record per row: task ``v_inst``, or ``t_inst`` for a row without an image; turns
verbatim with the speakers mapped as for LLaVA JSON; ``record_id`` = ``id`` (``id#k`` for its k-th
repeat; ``<subset>/<shard stem>:<row>`` when there is no id); ``image_id`` = the image's sha256;
``extra`` = ``{subset, data_source}``. Embedded images are extracted once into a content-addressed
store (:mod:`mmdata.sources.embedded`), which is the source's image root.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mmdata.errors import MmdataError
from mmdata.sources.base import Adapter, extra_json
from mmdata.sources.common import label
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
from mmdata.sources.llava import ROLE_MAP
from mmdata.sources.reader import absent_image
from mmdata.sources.registry import register

TURNS = list_of(struct_with({"from": text_type, "value": text_type}))


def _id_type(t: pa.DataType) -> bool:
    return text_type(t) or pa.types.is_integer(t)


class ConversationLayout(TableLayout):
    title = "the conversation layout"
    shape = "conversations: list<{from, value}>, image: Image or images: list<Image>, id?, data_source?"

    def matches(self, schema: pa.Schema) -> bool:
        return "conversations" in schema.names

    def check(self, schema: pa.Schema, file: Path, adapter: str) -> list[str]:
        check_column(schema, "conversations", TURNS, "list<struct<from: string, value: string>>", file=file, adapter=adapter)
        cols = ["conversations"]
        if check_column(schema, "images", list_of(IMAGE), f"list<{IMAGE_DESC}>", file=file, adapter=adapter, required=False):
            cols.append("images")
        elif check_column(schema, "image", IMAGE, IMAGE_DESC, file=file, adapter=adapter, required=False):
            cols.append("image")
        if check_column(schema, "id", _id_type, "string or integer", file=file, adapter=adapter, required=False):
            cols.append("id")
        if check_column(schema, "data_source", text_type, "string", file=file, adapter=adapter, required=False):
            cols.append("data_source")
        return cols

    def image_columns(self, schema: pa.Schema) -> list[str]:
        return ["images"] if "images" in schema.names else (["image"] if "image" in schema.names else [])

    def record(self, adapter: Adapter, item: dict, *, file: Path, where: str, subset: str | None, row: int, split: str,
               state: dict) -> dict:  # fmt: skip
        cid = item.get("id")
        if cid is None:
            rid = f"{where}:{row}"
        else:
            seen = state.setdefault("seen", {})
            k = seen.get(str(cid), 0)
            seen[str(cid)] = k + 1
            rid = str(cid) if k == 0 else f"{cid}#{k}"
        shown = f"id={label(rid)}"
        turns = []
        for j, t in enumerate(item.get("conversations") or []):
            trid = f"{shown} conversations[{j}]"
            if t is None:
                raise MmdataError("null turn", file=file, record=trid, field="conversations")
            who = need_text(t, "from", file=file, record=trid)
            if who not in ROLE_MAP:
                raise MmdataError(f"unknown speaker {who[:50]!r}; expected one of {sorted(ROLE_MAP)}", file=file, record=trid, field="from")
            turns.append({"role": ROLE_MAP[who], "content": need_text(t, "value", file=file, record=trid)})
        if "images" in item:
            requests = [
                embedded_request(v, field=f"images[{i}]") or absent_image(f"images[{i}]", f"images[{i}] holds no image")
                for i, v in enumerate(item["images"] or [])
            ]
        else:
            req = embedded_request(item.get("image"), field="image")
            requests = [req] if req is not None else []
        extra = {"subset": subset, "data_source": item.get("data_source")}
        rec = adapter.record(_file=file, split=split, record_id=rid, turns=turns, extra=extra_json(extra), **image_fields(requests))
        if not turns:
            rec["_drop"] = "conversation has no turns"
        return rec


CONVERSATIONS = ConversationLayout()


class LlavaOneVision(TableAdapter):
    name = "llava_onevision"
    task = "v_inst"
    description = "LLaVA-OneVision-Data: single-image and text-only instruction conversations with embedded images."
    layout = "<subset>/*.parquet with id, image: {bytes, path} or null, conversations: list<{from, value}>, data_source"
    accepts = (
        "any subset directory of lmms-lab/LLaVA-OneVision-Data (e.g. CLEVR-Math(MathV360K)/), a parent of subset "
        "directories, or one shard",
        "text-only rows (image null → t_inst); id and data_source optional",
        "embedded images extracted once into the cache; an image struct with a path but no bytes is quarantined",
    )
    layouts = (CONVERSATIONS,)


register(LlavaOneVision())
