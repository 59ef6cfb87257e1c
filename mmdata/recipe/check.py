"""``mmdata templates check``: every template renders against sample Records of its task.

Each template is rendered with its fine hint and with an empty hint, against samples that exercise
the optional parts (MC with and without context), so a typo or an undefined variable anywhere fails
the check with the file, template id and problem.
"""

from __future__ import annotations

import random
from pathlib import Path

from mmdata.errors import MmdataError
from mmdata.recipe.templates import TemplateBank, turn_variables
from mmdata.schema import empty_record

SAMPLES: dict[str, list[dict]] = {
    "vqa_open": [empty_record(dataset="sample", task="vqa_open", split="train", record_id="s1", language="en",
                              question="What colour is the circle?", answer="red")],
    "ocr_vqa": [empty_record(dataset="sample", task="ocr_vqa", split="train", record_id="s2", language="en",
                             question="Who wrote this book?", answer="Ana Silva")],
    "vqa_mc": [
        empty_record(dataset="sample", task="vqa_mc", split="train", record_id="s3", language="en",
                     question="Which shape is largest?", choices=["circle", "star", "square", "cross"], answer_idx=2,
                     answer="square", context="Look at the picture."),
        empty_record(dataset="sample", task="vqa_mc", split="train", record_id="s4", language="en",
                     question="What is 3 + 4?", choices=["7", "8"], answer_idx=0, answer="7"),
    ],
    "rec": [empty_record(dataset="sample", task="rec", split="train", record_id="s5", language="en",
                         phrase="left red circle", bbox=[0.1, 0.2, 0.35, 0.5])],
    "caption": [empty_record(dataset="sample", task="caption", split="train", record_id="s6", language="en",
                             caption="Three shapes on a white background.")],
}  # fmt: skip
SAMPLES["reg"] = SAMPLES["rec"]


def check_templates(directory: str | Path | None = None) -> tuple[int, dict[str, int]]:
    bank = TemplateBank.load(directory)
    rng = random.Random(0)
    counts: dict[str, int] = {}
    temps = bank.all()
    for t in temps:
        samples = SAMPLES.get(t.task)
        if not samples:
            raise MmdataError(f"no sample Records for task {t.task!r}", file=t.file, record=t.id, field="task")
        hints = [""]
        if t.dataset:
            hints.append(bank.hints.get((t.dataset, t.task), {}).get("inverted" if t.inverted else "forward", ""))
        else:
            hints += [h.get("inverted" if t.inverted else "forward", "") for h in bank.hints.values()][:1]
        for row in samples:
            for hint in hints:
                user, assistant = t.render(turn_variables(row, t.task, hint, rng), record=t.id)
                if not user.strip() or not assistant.strip():
                    raise MmdataError("template renders to empty text", file=t.file, record=t.id)
        key = f"{t.kind}{'-inverted' if t.inverted else ''}"
        counts[key] = counts.get(key, 0) + 1
    for task, ts in bank.multi.items():
        forward = [t for t in ts if not t.inverted]
        if len(forward) < 10:
            raise MmdataError(f"multi templates for task {task!r}: {len(forward)} forward, need at least 10", file=ts[0].file)
    return len(temps), counts
