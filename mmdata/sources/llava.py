"""LLaVA-style conversations: ``*.json`` files holding a list of ``{id, image?, conversations}``.

Used by LLaVA-Instruct, the Parrot translations of ShareGPT4V (``llava_instruct_<lang>``), UniCode's
image-decompression task (``decompress``, written by ``mmdata tokenizer decompress-data``) and, with
no images, ShareGPT (``sharegpt``). One Record per conversation with at least one turn, files in
sorted name order; the k-th repeat of an ``id`` gets ``id#k``. Turn text is kept verbatim, including
the literal ``<image>`` placeholder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.sources import jsonstream
from mmdata.sources.base import Adapter, ImageResolver, need, need_list_of
from mmdata.sources.common import label, need_obj
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

ROLE_MAP = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "system": "system",
}
LANGS = ("zh", "pt", "ar", "tr", "ru")


class Conversations(Adapter):
    def __init__(self, name: str, task: str, language: str, description: str, *, with_images: bool) -> None:
        self.name = name
        self.task = task
        self.language = language
        self.description = description
        self.with_images = with_images
        shape = "{id, image?, conversations}" if with_images else "{id, conversations}"
        self.layout = f"*.json (a list of {shape}, turns {{from, value}})" + ("; images/<image>" if with_images else "")
        self.accepts = (
            f"*.json files holding a list of {shape} (LLaVA-Instruct / ShareGPT style)",
            "speakers human|user, gpt|assistant|chatgpt|bing|bard, system; empty conversations are skipped",
        ) + (("images: `image` relative to the image root (e.g. coco/train2017/…)",) if with_images else ())

    def files(self, path: Path) -> list[Path]:
        return self.glob_files(path, "*.json")

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        seen: dict[str, int] = {}
        for f in self.files(path):
            for i, item in enumerate(jsonstream.items(f, None, what="conversations")):
                need_obj(item, file=f, record=f"#{i}")
                raw_id = need(item, "id", (str, int), file=f, record=f"#{i}")
                cid = str(raw_id)
                rid = f"id={label(cid)}"
                turns = []
                for j, t in enumerate(need_list_of(item, "conversations", dict, file=f, record=rid)):
                    trid = f"{rid} conversations[{j}]"
                    who = need(t, "from", str, file=f, record=trid)
                    if who not in ROLE_MAP:
                        raise MmdataError(
                            f"unknown speaker {who[:50]!r}; expected one of {sorted(ROLE_MAP)}", file=f, record=trid, field="from"
                        )
                    text = need(t, "value", str, file=f, record=trid)
                    turns.append({"role": ROLE_MAP[who], "content": text})
                image = need(item, "image", str, file=f, record=rid, optional=True) if self.with_images else None
                if not turns:
                    continue
                k = seen.get(cid, 0)
                seen[cid] = k + 1
                yield self.record(
                    _file=f,
                    record_id=cid if k == 0 else f"{cid}#{k}",
                    image_id=image,
                    image=image_request(image) if image is not None else None,
                    turns=turns,
                )


register(
    Conversations(
        "llava_instruct",
        "v_inst",
        "en",
        "LLaVA-Instruct visual instruction conversations (COCO images).",
        with_images=True,
    )
)
for _lang in LANGS:
    register(
        Conversations(
            f"llava_instruct_{_lang}",
            "v_inst",
            _lang,
            f"LLaVA-style visual instruction conversations translated to '{_lang}' (Parrot's ShareGPT4V sets).",
            with_images=True,
        )
    )
register(
    Conversations(
        "decompress",
        "decompress",
        "en",
        "UniCode in-context image decompression: the answer is the image's own code sequence (`mmdata tokenizer decompress-data`).",
        with_images=True,
    )
)
register(
    Conversations(
        "sharegpt",
        "t_inst",
        "en",
        "ShareGPT text-only instruction conversations.",
        with_images=False,
    )
)
