"""GQA balanced questions: ``<split>_balanced_questions.json``, an object keyed by question id.

One Record per question in file order; the split is the file-name prefix (``train``, ``val``,
``testdev``, …); the image is ``<imageId>.jpg`` under the image root (GQA's ``images/`` folder).
``extra`` keeps the ``fullAnswer`` and the detailed question type.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.io import load_json
from mmdata.sources.base import Adapter, ImageResolver, _tname, extra_json, need
from mmdata.sources.common import label, need_obj, top_dict
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

_NAME = re.compile(r"^(?P<split>[A-Za-z0-9]+)_balanced_questions\.json$")


class GQA(Adapter):
    name = "gqa"
    task = "vqa_open"
    description = "GQA balanced compositional questions over Visual Genome images."
    layout = "<split>_balanced_questions.json (object keyed by question id); images/<imageId>.jpg"

    def _files(self, path: Path) -> list[tuple[str, Path]]:
        out = []
        for f in self.glob_files(path, "*_balanced_questions.json"):
            m = _NAME.match(f.name)
            if not m:
                raise MmdataError("gqa: file name does not follow <split>_balanced_questions.json", file=f)
            out.append((m["split"], f))
        return out

    def files(self, path: Path) -> list[Path]:
        return [f for _, f in self._files(path)]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        for split, f in self._files(path):
            doc = top_dict(load_json(f), file=f, what="questions keyed by id")
            for qid, q in doc.items():
                rid = f"question {label(qid)}"
                need_obj(q, file=f, record=rid)
                image_id = need(q, "imageId", str, file=f, record=rid)
                question = need(q, "question", str, file=f, record=rid)
                answer = need(q, "answer", str, file=f, record=rid)
                full = need(q, "fullAnswer", str, file=f, record=rid)
                need(q, "isBalanced", bool, file=f, record=rid)
                types = need(q, "types", dict, file=f, record=rid, optional=True)
                detailed = None
                if types is not None:
                    detailed = types.get("detailed")
                    if detailed is not None and not isinstance(detailed, str):
                        raise MmdataError(
                            f"expected string, got {_tname(detailed)}", file=f, record=rid, field="types.detailed"
                        )
                yield self.record(
                    _file=f,
                    split=split,
                    record_id=qid,
                    image_id=image_id,
                    image=image_request(f"{image_id}.jpg"),
                    question=question,
                    answer=answer,
                    answers=[{"text": answer, "weight": 1.0}],
                    extra=extra_json({"fullAnswer": full, "type": detailed}),
                )


register(GQA())
