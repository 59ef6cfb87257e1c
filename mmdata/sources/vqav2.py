"""VQAv2: ``v2_OpenEnded_mscoco_<subtype>_questions.json`` + ``v2_mscoco_<subtype>_annotations.json``.

Images follow COCO's naming: ``<subtype>/COCO_<subtype>_<image_id:012d>.jpg`` under the image root
(the COCO images directory). One Record per question, in question-file order. ``answer`` is the
``multiple_choice_answer``; ``answers`` aggregates the ten annotator answers (weight = share of
annotators who gave that answer, in order of first appearance).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.io import load_json
from mmdata.sources.base import Adapter, ImageResolver, extra_json, need, need_list_of
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

_Q = re.compile(r"v2_OpenEnded_mscoco_(?P<sub>[A-Za-z0-9]+)_questions\.json$")


def split_of(subtype: str) -> str:
    for s in ("train", "val", "test"):
        if subtype.startswith(s):
            return s
    return subtype


class VQAv2(Adapter):
    name = "vqav2"
    task = "vqa_open"
    description = "VQAv2 open-ended questions with ten human answers per question (COCO images)."
    layout = "v2_OpenEnded_mscoco_<subtype>_questions.json + v2_mscoco_<subtype>_annotations.json; images/<subtype>/COCO_<subtype>_<id:012d>.jpg"

    def _pairs(self, path: Path) -> list[tuple[str, Path, Path]]:
        qfiles = self.glob_files(path, "v2_OpenEnded_mscoco_*_questions.json")
        pairs = []
        for q in qfiles:
            m = _Q.search(q.name)
            if not m:
                raise MmdataError("vqav2: question file name does not follow v2_OpenEnded_mscoco_<subtype>_questions.json", file=q)
            sub = m["sub"]
            a = q.parent / f"v2_mscoco_{sub}_annotations.json"
            if not a.is_file():
                raise MmdataError(f"vqav2: annotations file {a.name} is missing for {q.name}", file=q.parent)
            pairs.append((sub, q, a))
        return pairs

    def files(self, path: Path) -> list[Path]:
        return [f for _, q, a in self._pairs(path) for f in (q, a)]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        for sub, qf, af in self._pairs(path):
            qdoc, adoc = load_json(qf), load_json(af)
            questions = need_list_of(qdoc, "questions", dict, file=qf, record="(top level)")
            anns = need_list_of(adoc, "annotations", dict, file=af, record="(top level)")
            by_qid: dict[int, dict] = {}
            for i, ann in enumerate(anns):
                qid = need(ann, "question_id", int, file=af, record=f"#{i}")
                by_qid[qid] = ann
            for i, q in enumerate(questions):
                qid = need(q, "question_id", int, file=qf, record=f"#{i}")
                rid = f"question_id={qid}"
                image_id = need(q, "image_id", int, file=qf, record=rid)
                question = need(q, "question", str, file=qf, record=rid)
                ann = by_qid.get(qid)
                if ann is None:
                    raise MmdataError("question has no annotation", file=af, record=rid, field="question_id")
                mca = need(ann, "multiple_choice_answer", str, file=af, record=rid)
                raw = need_list_of(ann, "answers", dict, file=af, record=rid)
                counts: dict[str, int] = {}
                for a in raw:
                    txt = need(a, "answer", str, file=af, record=rid)
                    counts[txt] = counts.get(txt, 0) + 1
                total = max(1, len(raw))
                if need(ann, "image_id", int, file=af, record=rid) != image_id:
                    raise MmdataError("image_id differs between questions and annotations", file=af, record=rid, field="image_id")
                yield self.record(
                    _file=qf,
                    split=split_of(sub),
                    record_id=str(qid),
                    image_id=str(image_id),
                    image=image_request(f"{sub}/COCO_{sub}_{image_id:012d}.jpg"),
                    question=question,
                    answer=mca,
                    answers=[{"text": t, "weight": c / total} for t, c in counts.items()],
                    extra=extra_json(
                        {
                            "question_type": ann.get("question_type"),
                            "answer_type": ann.get("answer_type"),
                        }
                    ),
                )


register(VQAv2())
