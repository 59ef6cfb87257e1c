"""ScienceQA: ``problems.json``, an object keyed by problem id (pid).

One Record per problem in file order. Problems with an image point at ``<split>/<pid>/<image>``
under the image root (ScienceQA's ``images/`` folder); text-only problems (``image: null``) have no
image. ``answer`` is the text of the correct choice, ``context`` the hint (null when empty), and the
lecture / solution / taxonomy fields go to ``extra``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.sources import jsonstream
from mmdata.sources.base import Adapter, ImageResolver, extra_json, need, need_list_of
from mmdata.sources.common import label, need_index, need_obj, need_relpath, single_file
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

EXTRA_FIELDS = ("lecture", "solution", "subject", "topic", "category", "skill", "grade", "task")


class ScienceQA(Adapter):
    name = "scienceqa"
    task = "vqa_mc"
    description = "ScienceQA multiple-choice science questions (with and without images)."
    layout = "problems.json (object keyed by pid); images/<split>/<pid>/<image>"
    accepts = (
        "data/scienceqa/problems.json (all splits in one file; pid_splits.json is not needed)",
        "images: <split>/<pid>/image.png (the published train/val/test image folders)",
    )

    def files(self, path: Path) -> list[Path]:
        return [single_file(self.name, path, "problems.json")]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        (f,) = self.files(path)
        for pid, p in jsonstream.object_members(f, what="problems keyed by pid"):
            rid = f"pid={label(pid)}"
            need_obj(p, file=f, record=rid)
            question = need(p, "question", str, file=f, record=rid)
            choices = need_list_of(p, "choices", str, file=f, record=rid)
            answer_idx = need_index(p, "answer", len(choices), file=f, record=rid)
            hint = need(p, "hint", str, file=f, record=rid)
            split = need(p, "split", str, file=f, record=rid)
            if "image" not in p:
                raise MmdataError("missing required key (use null for text-only problems)", file=f, record=rid, field="image")
            image = need_relpath(p, "image", file=f, record=rid, optional=True)
            extra = {k: need(p, k, str, file=f, record=rid) for k in EXTRA_FIELDS}
            yield self.record(
                _file=f,
                split=split,
                record_id=pid,
                image_id=pid if image is not None else None,
                image=image_request(f"{split}/{pid}/{image}") if image is not None else None,
                question=question,
                answer=choices[answer_idx],
                choices=choices,
                answer_idx=answer_idx,
                context=hint if hint else None,
                extra=extra_json(extra),
            )


register(ScienceQA())
