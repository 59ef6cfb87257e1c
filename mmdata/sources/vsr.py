"""VSR (Visual Spatial Reasoning): ``train.jsonl`` / ``dev.jsonl`` / ``test.jsonl``, one claim per line.

Each line is ``{image, caption, label, relation, …}``: a declarative claim about a COCO image and
whether it is true (1) or false (0). The repository's files (``data/splits/{random,zeroshot}/``,
``data/data_files/all_vsr_validated_data.jsonl``) also carry ``image_link``, ``annotator_id`` and
validator votes but **no** ``subj``/``obj``; some copies add those two, later versions add
``reference_frame``. Every field beyond image/caption/label/relation is optional: a missing
``subj``/``obj`` is derived from the caption and the relation (:func:`subj_obj_from_caption`) and the
Record's ``extra.subj_obj_source`` says which happened (``file``, ``caption`` or ``absent``).

One Record per non-blank line, ``record_id`` = ``<file stem>-<line number from 1>``; files are read
in sorted name order. The claim is kept as ``caption`` and also turned into a yes/no ``question``
(see :func:`claim_to_question`).
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

FILES = ("all_vsr_validated_data.jsonl", "dev.jsonl", "test.jsonl", "train.jsonl")  # sorted
_THE_X_IS_Y = re.compile(r"The (.+?) is (.+)", re.DOTALL)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_COPULA = re.compile(r"\s+(?:is|are)$", re.IGNORECASE)


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


def _bare(phrase: str) -> str:
    return _ARTICLE.sub("", phrase.strip()).strip()


def subj_obj_from_caption(caption: str, relation: str) -> tuple[str, str] | None:
    """The noun phrases before and after the relation phrase in the claim, articles stripped.

    ``("The teddy bear is in front of the person.", "in front of")`` → ``("teddy bear", "person")``.
    The relation must occur in the caption as whole words (case-insensitive); an occurrence right
    after ``is``/``are`` is preferred, and that copula is dropped from the subject. ``None`` when the
    relation is not in the caption (``"The dog has the frisbee."`` for ``has as a part``) or either
    side would be empty.
    """
    body = caption.strip().rstrip(".").strip()
    rel = relation.strip()
    if not rel:
        return None
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, rel.split())) + r"(?!\w)", re.IGNORECASE)
    hits = list(pattern.finditer(body))
    if not hits:
        return None
    hit = next((m for m in hits if _COPULA.search(body[: m.start()].rstrip())), hits[0])
    subj = _bare(_COPULA.sub("", body[: hit.start()].rstrip()))
    obj = _bare(body[hit.end() :])
    if not subj or not obj:
        return None
    return subj, obj


def split_of(stem: str) -> str:
    return {"dev": "val", "all_vsr_validated_data": "all"}.get(stem, stem)


class VSR(Adapter):
    name = "vsr"
    task = "vqa_open"
    description = "Visual Spatial Reasoning: true/false spatial claims about COCO images, as yes/no questions."
    layout = "train.jsonl / dev.jsonl / test.jsonl (one JSON object per line); images/<image>"
    accepts = (
        "data/splits/{random,zeroshot}/{train,dev,test}.jsonl as published (no subj/obj: derived from caption + relation)",
        "data/data_files/all_vsr_validated_data.jsonl (split 'all')",
        "copies with subj/obj and/or reference_frame fields (kept as given); any other extra field is ignored",
        "images: the COCO 2017 file names of `image` in one folder (trainval2017/ or images/; --images DIR)",
    )

    def files(self, path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        found = [path / n for n in FILES if (path / n).is_file()]
        if not found:
            raise MmdataError(f"vsr: expected one of {list(FILES)} in this directory", file=path)
        return found

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        for f in self.files(path):
            yield from self._file_rows(f)

    def _file_rows(self, f: Path) -> Iterator[dict]:
        """One JSON Lines file, a line at a time."""
        try:
            fh = open(f, "rb")  # noqa: SIM115 (closed below; a generator)
        except OSError as e:
            raise MmdataError(f"cannot read file ({e.strerror or type(e).__name__})", file=f) from None
        with fh:
            for n, line in enumerate(fh, start=1):
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
                relation = need(item, "relation", str, file=f, record=rid)
                subj = need(item, "subj", str, file=f, record=rid, optional=True)
                obj = need(item, "obj", str, file=f, record=rid, optional=True)
                if subj is not None and obj is not None:
                    source = "file"
                else:
                    derived = subj_obj_from_caption(caption, relation)
                    source = "absent" if derived is None else "caption"
                    if derived is not None:
                        subj = derived[0] if subj is None else subj
                        obj = derived[1] if obj is None else obj
                extra = {
                    "relation": relation,
                    "subj": subj,
                    "obj": obj,
                    "label": label,
                    "subj_obj_source": source,
                    "reference_frame": need(item, "reference_frame", str, file=f, record=rid, optional=True),
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
