"""A-OKVQA: ``aokvqa_v1p0_<split>.json``, a list of questions about COCO 2017 images.

One Record per question in file order (files sorted by name). The image is
``<split>2017/<image_id:012d>.jpg`` under the image root (the COCO 2017 folder). ``answer`` is the
text of the correct choice, ``answers`` the direct answers aggregated like VQAv2. On the test split
the answer fields (``correct_choice_idx``, ``direct_answers``, ``rationales``) may be absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.sources import jsonstream
from mmdata.sources.base import Adapter, ImageResolver, extra_json, need, need_list_of
from mmdata.sources.common import aggregate_answers, label, need_index, need_obj
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

_NAME = re.compile(r"^aokvqa_v1p0_(?P<split>[A-Za-z0-9]+)\.json$")


class AOKVQA(Adapter):
    name = "aokvqa"
    task = "vqa_mc"
    description = "A-OKVQA: knowledge-based multiple-choice and direct-answer questions over COCO 2017."
    layout = "aokvqa_v1p0_<split>.json (list); images/<split>2017/<image_id:012d>.jpg"
    accepts = (
        "aokvqa_v1p0_{train,val,test}.json (v1.0; test items have no correct_choice_idx or direct answers)",
        "images: COCO 2017 folders <split>2017/<image_id:012d>.jpg",
    )

    def files(self, path: Path) -> list[Path]:
        found = self.glob_files(path, "aokvqa_v1p0_*.json")
        for f in found:
            if not _NAME.match(f.name):
                raise MmdataError("aokvqa: file name does not follow aokvqa_v1p0_<split>.json", file=f)
        return found

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        for f in self.files(path):
            for i, item in enumerate(jsonstream.items(f, None, what="questions")):
                need_obj(item, file=f, record=f"#{i}")
                qid = need(item, "question_id", str, file=f, record=f"#{i}")
                rid = f"question_id={label(qid)}"
                split = need(item, "split", str, file=f, record=rid)
                image_id = need(item, "image_id", int, file=f, record=rid)
                question = need(item, "question", str, file=f, record=rid)
                choices = need_list_of(item, "choices", str, file=f, record=rid)
                unlabelled = split == "test"  # the test split ships without answers
                idx = need_index(item, "correct_choice_idx", len(choices), file=f, record=rid, optional=unlabelled)
                direct = need_list_of(item, "direct_answers", str, file=f, record=rid, optional=unlabelled)
                rationales = need_list_of(item, "rationales", str, file=f, record=rid, optional=unlabelled)
                difficult = need(item, "difficult_direct_answer", bool, file=f, record=rid)
                yield self.record(
                    _file=f,
                    split=split,
                    record_id=qid,
                    image_id=str(image_id),
                    image=image_request(f"{split}2017/{image_id:012d}.jpg"),
                    question=question,
                    answer=choices[idx] if idx is not None else None,
                    answers=aggregate_answers(direct) if direct is not None else None,
                    choices=choices,
                    answer_idx=idx,
                    extra=extra_json({"rationales": rationales, "difficult_direct_answer": difficult}),
                )


register(AOKVQA())
