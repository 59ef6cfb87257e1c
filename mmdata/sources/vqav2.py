"""VQA v2 and v1: ``[v2_]OpenEnded_mscoco_<subtype>_questions.json`` + ``[v2_]mscoco_<subtype>_annotations.json``.

Both versions share the format; v2's files carry the ``v2_`` prefix. The files may sit in PATH or in
its immediate subfolders (``Questions/``, ``Annotations/`` …). Images follow COCO's naming:
``<subtype>/COCO_<subtype>_<image_id:012d>.jpg`` under the image root (the COCO images directory;
``test-dev2015`` questions use the ``test2015`` images). One Record per question, in question-file
order. ``answer`` is the ``multiple_choice_answer``; ``answers`` aggregates the ten annotator answers
(weight = share of annotators who gave that answer, in order of first appearance). The test subtypes
publish no annotations: their Records have no answer.
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

_Q = re.compile(r"^(?P<v2>v2_)?OpenEnded_mscoco_(?P<sub>[A-Za-z0-9-]+)_questions\.json$")


def split_of(subtype: str) -> str:
    if subtype.startswith("test-dev"):
        return "testdev"
    for s in ("train", "val", "test"):
        if subtype.startswith(s):
            return s
    return subtype


def image_subtype(subtype: str) -> str:
    """The COCO image folder of a question subtype (test-dev2015 questions are about test2015 images)."""
    return subtype.replace("test-dev", "test")


class VQAv2(Adapter):
    name = "vqav2"
    task = "vqa_open"
    description = "VQA (v2, or v1) open-ended questions with ten human answers per question (COCO images)."
    layout = "v2_OpenEnded_mscoco_<subtype>_questions.json + v2_mscoco_<subtype>_annotations.json; images/<subtype>/COCO_<subtype>_<id:012d>.jpg"
    accepts = (
        "v2: v2_OpenEnded_mscoco_{train2014,val2014}_questions.json + v2_mscoco_{train2014,val2014}_annotations.json",
        "v1: OpenEnded_mscoco_{train2014,val2014}_questions.json + mscoco_{train2014,val2014}_annotations.json",
        "test2015 / test-dev2015 question files without annotations (no answers)",
        "files in PATH or its immediate subfolders (Questions/, Annotations/); one version per directory",
    )

    def _pairs(self, path: Path) -> list[tuple[str, Path, Path | None]]:
        if path.is_file():
            qfiles = [path]
        elif not path.is_dir():
            raise MmdataError("vqav2: source path does not exist", file=path)
        else:
            dirs = [path, *sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))]
            qfiles = sorted(
                (f for d in dirs for f in d.glob("*OpenEnded_mscoco_*_questions.json") if f.is_file()), key=lambda f: f.name
            )
            if not qfiles:
                raise MmdataError("vqav2: no files matching 'v2_OpenEnded_mscoco_*_questions.json' (or v1's 'OpenEnded_mscoco_*')", file=path)
        found = []
        for q in qfiles:
            m = _Q.match(q.name)
            if not m:
                raise MmdataError(
                    "vqav2: question file name does not follow [v2_]OpenEnded_mscoco_<subtype>_questions.json", file=q
                )
            found.append((bool(m["v2"]), m["sub"], q))
        if len({v2 for v2, _, _ in found}) > 1:
            raise MmdataError(
                "vqav2: both VQA v1 (OpenEnded_mscoco_…) and v2 (v2_OpenEnded_mscoco_…) question files are here; "
                "point PATH at one version",
                file=path,
            )
        pairs = []
        for v2, sub, q in found:
            name = f"{'v2_' if v2 else ''}mscoco_{sub}_annotations.json"
            base = path if path.is_dir() else path.parent
            places = [q.parent, base, *sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))]
            a = next((d / name for d in places if (d / name).is_file()), None)
            if a is None and not sub.startswith("test"):
                raise MmdataError(f"vqav2: annotations file {name} is missing for {q.name}", file=q.parent)
            pairs.append((sub, q, a))
        return pairs

    def files(self, path: Path) -> list[Path]:
        return [f for _, q, a in self._pairs(path) for f in (q, a) if f is not None]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        for sub, qf, af in self._pairs(path):
            qdoc = load_json(qf)
            questions = need_list_of(qdoc, "questions", dict, file=qf, record="(top level)")
            by_qid: dict[int, dict] = {}
            if af is not None:
                anns = need_list_of(load_json(af), "annotations", dict, file=af, record="(top level)")
                for i, ann in enumerate(anns):
                    qid = need(ann, "question_id", int, file=af, record=f"#{i}")
                    by_qid[qid] = ann
            img_sub = image_subtype(sub)
            for i, q in enumerate(questions):
                qid = need(q, "question_id", int, file=qf, record=f"#{i}")
                rid = f"question_id={qid}"
                image_id = need(q, "image_id", int, file=qf, record=rid)
                question = need(q, "question", str, file=qf, record=rid)
                answer = answers = None
                extra = None
                if af is not None:
                    ann = by_qid.get(qid)
                    if ann is None:
                        raise MmdataError("question has no annotation", file=af, record=rid, field="question_id")
                    answer = need(ann, "multiple_choice_answer", str, file=af, record=rid)
                    raw = need_list_of(ann, "answers", dict, file=af, record=rid)
                    counts: dict[str, int] = {}
                    for a in raw:
                        txt = need(a, "answer", str, file=af, record=rid)
                        counts[txt] = counts.get(txt, 0) + 1
                    total = max(1, len(raw))
                    answers = [{"text": t, "weight": c / total} for t, c in counts.items()]
                    if need(ann, "image_id", int, file=af, record=rid) != image_id:
                        raise MmdataError("image_id differs between questions and annotations", file=af, record=rid, field="image_id")
                    extra = extra_json({"question_type": ann.get("question_type"), "answer_type": ann.get("answer_type")})
                yield self.record(
                    _file=qf,
                    split=split_of(sub),
                    record_id=str(qid),
                    image_id=str(image_id),
                    image=image_request(f"{img_sub}/COCO_{img_sub}_{image_id:012d}.jpg"),
                    question=question,
                    answer=answer,
                    answers=answers,
                    extra=extra,
                )


register(VQAv2())
