"""GQA questions, balanced or all: ``<split>_balanced_questions.json`` / ``<split>_all_questions.json``.

Each file is an object keyed by question id. GQA 1.2 publishes both versions side by side, with the
large ``train`` all-questions set sharded as ``train_all_questions/train_all_questions_<n>.json``.
In a directory holding both versions the adapter reads the balanced files (the all set contains
them); point PATH at an all-questions file or the shard folder, or at a directory with only the all
files, to read the all version. One Record per question in file order (shards in numeric order);
the split is the file-name prefix (``train``, ``val``, ``testdev``, …); the image is
``<imageId>.jpg`` under the image root (GQA's ``images/`` folder). ``answer``/``fullAnswer`` may be
absent only in the unanswered splits (``test``, ``challenge``, ``submission``). ``extra`` keeps the
``fullAnswer``, the detailed question type and ``isBalanced``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.sources import jsonstream
from mmdata.sources.base import Adapter, ImageResolver, _tname, extra_json, need
from mmdata.sources.common import label, need_obj
from mmdata.sources.reader import image_request
from mmdata.sources.registry import register

_NAME = re.compile(r"^(?P<split>[A-Za-z0-9]+)_(?P<version>balanced|all)_questions(?:_(?P<shard>\d+))?\.json$")
UNANSWERED = ("test", "challenge", "submission")


class GQA(Adapter):
    name = "gqa"
    task = "vqa_open"
    description = "GQA compositional questions (balanced or all) over Visual Genome images."
    layout = "<split>_balanced_questions.json or <split>_all_questions.json / <split>_all_questions/ shards; images/<imageId>.jpg"
    accepts = (
        "balanced: {train,val,testdev,test,challenge}_balanced_questions.json (read in preference when both versions are present)",
        "all: {val,testdev,test,challenge,submission}_all_questions.json and the sharded train_all_questions/train_all_questions_<n>.json",
        "PATH may be one questions file or the train_all_questions/ folder itself",
        "test/challenge/submission questions without answer/fullAnswer (answer recorded as absent)",
    )

    def _files(self, path: Path) -> list[tuple[str, Path]]:
        if path.is_file():
            found = [path]
        elif not path.is_dir():
            raise MmdataError("gqa: source path does not exist", file=path)
        else:
            found = sorted(p for p in path.glob("*_balanced_questions.json") if p.is_file())
            if not found:
                found = sorted(p for p in path.glob("*_all_questions*.json") if p.is_file())
                for shard_dir in sorted(d for d in path.glob("*_all_questions") if d.is_dir()):
                    found += [p for p in shard_dir.glob("*_all_questions_*.json") if p.is_file()]
        if not found:
            raise MmdataError(
                "gqa: expected <split>_balanced_questions.json, <split>_all_questions.json or a "
                "<split>_all_questions/ folder of shards in this directory",
                file=path,
            )
        keyed = []
        for f in found:
            m = _NAME.match(f.name)
            if not m:
                raise MmdataError(
                    "gqa: file name does not follow <split>_balanced_questions.json or <split>_all_questions[_<n>].json", file=f
                )
            keyed.append(((m["split"], m["version"], int(m["shard"] or -1)), m["split"], f))
        return [(split, f) for _, split, f in sorted(keyed, key=lambda x: x[0])]

    def files(self, path: Path) -> list[Path]:
        return [f for _, f in self._files(path)]

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        for split, f in self._files(path):
            for qid, q in jsonstream.object_members(f, what="questions keyed by id"):
                rid = f"question {label(qid)}"
                need_obj(q, file=f, record=rid)
                image_id = need(q, "imageId", str, file=f, record=rid)
                question = need(q, "question", str, file=f, record=rid)
                unanswered = split in UNANSWERED
                answer = need(q, "answer", str, file=f, record=rid, optional=unanswered)
                full = need(q, "fullAnswer", str, file=f, record=rid, optional=unanswered)
                balanced = need(q, "isBalanced", bool, file=f, record=rid, optional=True)
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
                    answers=None if answer is None else [{"text": answer, "weight": 1.0}],
                    extra=extra_json({"fullAnswer": full, "type": detailed, "balanced": balanced}),
                )


register(GQA())
