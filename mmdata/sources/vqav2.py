"""VQA v2 and v1: ``[v2_]OpenEnded_mscoco_<subtype>_questions.json`` + ``[v2_]mscoco_<subtype>_annotations.json``;
``vqav2_<lang>`` reads the same layout with questions and answers in another language (translated VQAv2).

Both versions share the format; v2's files carry the ``v2_`` prefix. The files may sit in PATH or in
its immediate subfolders (``Questions/``, ``Annotations/`` …). Images follow COCO's naming:
``<subtype>/COCO_<subtype>_<image_id:012d>.jpg`` under the image root (the COCO images directory;
``test-dev2015`` questions use the ``test2015`` images). One Record per question, in question-file
order (questions ⋈ annotations joined on disk: :mod:`mmdata.sources.spill`). ``answer`` is the ``multiple_choice_answer``; ``answers`` aggregates the ten annotator answers
(weight = share of annotators who gave that answer, in order of first appearance). The test subtypes
publish no annotations: their Records have no answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from mmdata.errors import MmdataError
from mmdata.schema import LANGUAGES, WEIGHTED_ANSWER
from mmdata.sources import jsonstream
from mmdata.sources.base import Adapter, ImageResolver, extra_json, need, need_list_of
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register
from mmdata.sources.spill import Spill

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
            yield from (self._with_answers(sub, qf, af) if af is not None else self._questions(sub, qf, None))

    def _questions(self, sub: str, qf: Path, spill: Spill | None) -> Iterator[dict]:
        """Questions in file order, checked; into ``spill`` when given (to be joined), else as Records."""
        img_sub = image_subtype(sub)
        for i, q in enumerate(jsonstream.items(qf, "questions", what="questions", of=dict)):
            qid = need(q, "question_id", int, file=qf, record=f"#{i}")
            rid = f"question_id={qid}"
            row = {"qpos": i, "qid": qid, "image_id": need(q, "image_id", int, file=qf, record=rid),
                   "question": need(q, "question", str, file=qf, record=rid)}  # fmt: skip
            if spill is not None:
                spill.add("q", row)
                continue
            yield self._record(sub, img_sub, qf, row)

    def _record(self, sub: str, img_sub: str, qf: Path, row: dict) -> dict:
        return self.record(
            _file=qf,
            split=split_of(sub),
            record_id=str(row["qid"]),
            image_id=str(row["image_id"]),
            image=image_request(f"{img_sub}/COCO_{img_sub}_{row['image_id']:012d}.jpg"),
            question=row["question"],
            answer=row.get("answer"),
            answers=row.get("answers"),
            extra=row.get("extra"),
        )

    def _with_answers(self, sub: str, qf: Path, af: Path) -> Iterator[dict]:
        """Questions ⋈ annotations on question_id, each side streamed into a temporary Parquet file and
        joined by DuckDB in question order (a repeated annotation: the last one counts)."""
        spill = Spill()
        try:
            spill.writer("q", Q_SCHEMA)
            spill.writer("a", A_SCHEMA)
            for _ in self._questions(sub, qf, spill):
                pass
            for i, ann in enumerate(jsonstream.items(af, "annotations", what="annotations", of=dict)):
                qid = need(ann, "question_id", int, file=af, record=f"#{i}")
                rid = f"question_id={qid}"
                counts: dict[str, int] = {}
                raw = need_list_of(ann, "answers", dict, file=af, record=rid)
                for a in raw:
                    txt = need(a, "answer", str, file=af, record=rid)
                    counts[txt] = counts.get(txt, 0) + 1
                total = max(1, len(raw))
                spill.add("a", {
                    "apos": i, "qid": qid, "answer": need(ann, "multiple_choice_answer", str, file=af, record=rid),
                    "answers": [{"text": t, "weight": c / total} for t, c in counts.items()],
                    "a_image": need(ann, "image_id", int, file=af, record=rid),
                    "extra": extra_json({"question_type": ann.get("question_type"), "answer_type": ann.get("answer_type")}),
                })  # fmt: skip
            spill.close_writers()
            img_sub = image_subtype(sub)
            sql = ("SELECT q.*, a.answer, a.answers, a.a_image, a.extra, a.qid IS NULL AS missing FROM q LEFT JOIN "
                   "(SELECT * FROM a QUALIFY row_number() OVER (PARTITION BY qid ORDER BY apos DESC) = 1) a USING (qid) ORDER BY q.qpos")  # fmt: skip
            for row in spill.rows(sql):
                rid = f"question_id={row['qid']}"
                if row["missing"]:
                    raise MmdataError("question has no annotation", file=af, record=rid, field="question_id")
                if row["a_image"] != row["image_id"]:
                    raise MmdataError("image_id differs between questions and annotations", file=af, record=rid, field="image_id")
                yield self._record(sub, img_sub, qf, row)
        finally:
            spill.close()


Q_SCHEMA = pa.schema([("qpos", pa.int64()), ("qid", pa.int64()), ("image_id", pa.int64()), ("question", pa.string())])
A_SCHEMA = pa.schema([("apos", pa.int64()), ("qid", pa.int64()), ("answer", pa.string()), ("answers", pa.list_(WEIGHTED_ANSWER)),
                      ("a_image", pa.int64()), ("extra", pa.string())])  # fmt: skip


class TranslatedVQAv2(VQAv2):
    """VQAv2's files and layout with questions and answers in another language (``vqav2_<lang>``)."""

    def __init__(self, lang: str) -> None:
        self.name, self.language = f"vqav2_{lang}", lang
        self.description = f"VQAv2-style open-ended questions and answers in '{lang}' (machine-translated short-answer VQA; COCO images)."


register(VQAv2())
for _lang in LANGUAGES:
    if _lang != "en":
        register(TranslatedVQAv2(_lang))
