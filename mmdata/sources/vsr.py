"""VSR (Visual Spatial Reasoning): ``train.jsonl`` / ``dev.jsonl`` / ``test.jsonl``, one claim per line.

Each line is ``{image, caption, label, relation, subj, obj}``: a declarative claim about a COCO image
and whether it is true (1) or false (0). One Record per non-blank line, ``record_id`` =
``<file stem>-<line number from 1>``; files are read in sorted name order (dev, test, train). The claim
is kept as ``caption`` and also turned into a yes/no ``question`` (see :func:`claim_to_question`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import orjson

from mmdata.errors import MmdataError
from mmdata.sources.base import Adapter, ImageResolver, extra_json, need
from mmdata.sources.common import need_obj
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

FILES = ("dev.jsonl", "test.jsonl", "train.jsonl")  # sorted
_THE_X_IS_Y = re.compile(r"The (.+?) is (.+)", re.DOTALL)


def claim_to_question(claim: str) -> str:
    """``The X is Y.`` → ``Is the X Y?``; any other claim → ``Is it true that <claim>?``.

    Surrounding whitespace and one trailing period are dropped first; ``X`` ends at the first `` is ``.
    """
    body = claim.strip()
    if body.endswith("."):
        body = body[:-1]
    m = _THE_X_IS_Y.fullmatch(body)
    if m:
        return f"Is the {m[1]} {m[2]}?"
    return f"Is it true that {body}?"


def split_of(stem: str) -> str:
    return "val" if stem == "dev" else stem


class VSR(Adapter):
    name = "vsr"
    task = "vqa_open"
    description = "Visual Spatial Reasoning: true/false spatial claims about COCO images, as yes/no questions."
    layout = "train.jsonl / dev.jsonl / test.jsonl (one JSON object per line); images/<image>"

    def files(self, path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        found = [path / n for n in FILES if (path / n).is_file()]
        if not found:
            raise MmdataError(f"vsr: expected one of {list(FILES)} in this directory", file=path)
        return found

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        for f in self.files(path):
            try:
                data = f.read_bytes()
            except OSError as e:
                raise MmdataError(f"cannot read file ({e.strerror or type(e).__name__})", file=f) from None
            for n, line in enumerate(data.split(b"\n"), start=1):
                if not line.strip():
                    continue
                rid = f"{f.stem}-{n}"
                try:
                    item = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise MmdataError(f"invalid JSON: {e}", file=f, record=f"line {n}") from None
                need_obj(item, file=f, record=rid)
                image = need(item, "image", str, file=f, record=rid)
                caption = need(item, "caption", str, file=f, record=rid)
                label = need(item, "label", int, file=f, record=rid)
                if label not in (0, 1):
                    raise MmdataError(f"label must be 0 or 1, got {label}", file=f, record=rid, field="label")
                extra = {
                    "relation": need(item, "relation", str, file=f, record=rid),
                    "subj": need(item, "subj", str, file=f, record=rid),
                    "obj": need(item, "obj", str, file=f, record=rid),
                    "label": label,
                }
                yield self.record(
                    _file=f,
                    split=split_of(f.stem),
                    record_id=rid,
                    image_id=PurePosixPath(image.replace("\\", "/")).stem,
                    image=image_request(image),
                    question=claim_to_question(caption),
                    answer="yes" if label == 1 else "no",
                    caption=caption,
                    extra=extra_json(extra),
                )


register(VSR())
