"""OCR-VQA: ``dataset.json``, an object keyed by book id with parallel ``questions`` / ``answers``.

One Record per question of a book (``<book>_<i>``, ``i`` counting from 0), books in file order. The
image is ``<book><ext of imageURL>`` under the image root, exactly where OCR-VQA's download script
saves it. ``split`` codes: 1 train, 2 val, 3 test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.sources import jsonstream
from mmdata.sources.base import Adapter, ImageResolver, extra_json, need, need_list_of
from mmdata.sources.common import label, need_obj, single_file
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

SPLITS = {1: "train", 2: "val", 3: "test"}


def url_ext(url: str) -> str:
    """The file extension of the last path component of a URL (query and fragment ignored)."""
    tail = url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    return os.path.splitext(tail)[1]


class OCRVQA(Adapter):
    name = "ocrvqa"
    task = "vqa_open"
    description = "OCR-VQA: questions about book covers (title, author, genre, …)."
    layout = "dataset.json (object keyed by book id); images/<book id><ext of imageURL>"
    accepts = (
        "dataset.json as published (split codes 1 train / 2 val / 3 test)",
        "images: <book id><extension of imageURL> as written by the dataset's download script",
    )

    def files(self, path: Path) -> list[Path]:
        return [single_file(self.name, path, "dataset.json")]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        (f,) = self.files(path)
        for key, book in jsonstream.object_members(f, what="books keyed by id"):
            rid = f"book {label(key)}"
            need_obj(book, file=f, record=rid)
            url = need(book, "imageURL", str, file=f, record=rid)
            code = need(book, "split", int, file=f, record=rid)
            if code not in SPLITS:
                raise MmdataError(f"split code must be 1, 2 or 3, got {code}", file=f, record=rid, field="split")
            extra = extra_json(
                {
                    "title": need(book, "title", str, file=f, record=rid),
                    "authorName": need(book, "authorName", str, file=f, record=rid),
                    "genre": need(book, "genre", str, file=f, record=rid),
                }
            )
            questions = need_list_of(book, "questions", str, file=f, record=rid)
            answers = need_list_of(book, "answers", str, file=f, record=rid)
            if len(questions) != len(answers):
                raise MmdataError(
                    f"{len(questions)} questions but {len(answers)} answers; the lists must be parallel",
                    file=f,
                    record=rid,
                    field="answers",
                )
            image = f"{key}{url_ext(url)}"
            for i, (q, a) in enumerate(zip(questions, answers, strict=True)):
                yield self.record(
                    _file=f,
                    split=SPLITS[code],
                    record_id=f"{key}_{i}",
                    image_id=key,
                    image=image_request(image),
                    question=q,
                    answer=a,
                    extra=extra,
                )


register(OCRVQA())
