"""Native-format writers: one module per dataset, each with ``build(ctx) -> Output``.

A writer turns scene graphs into the dataset's own files (``files``, relative to
``sources/<name>/``) and, when ``ctx.keep_truth`` is set, into the Records an adapter must read back
(``truth``) — the ground truth of the round-trip tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmdata.world.pools import PoolImage
from mmdata.world.qa import QA, make_qa
from mmdata.world.scene import Scene, rng_for
from mmdata.world.sizes import WorldSize


@dataclass
class Ctx:
    seed: int
    size: str
    cfg: WorldSize
    image_size: int
    root: Path  # the world directory being written
    coco: list[PoolImage]
    vg: list[PoolImage]
    books: list[PoolImage]
    keep_truth: bool = False

    def rng(self, stream: str, index: int = 0) -> random.Random:
        return rng_for(self.seed, stream, index)


@dataclass
class Output:
    name: str
    files: dict[str, Any]  # relative path → bytes, or a JSON-able object, or list of JSON lines (".jsonl")
    images_link: str | None  # symlink target (relative) for sources/<name>/images
    count: int
    truth: list[dict] | None = None
    duplicates: list[dict] = field(default_factory=list)


def record(name: str, task: str, _meta: dict | None = None, **values) -> dict:
    """A truth Record; ``_meta`` (scene id, category, objects) lets tests check it against the scene graph."""
    from mmdata.schema import empty_record

    values.setdefault("split", "train")
    values.setdefault("language", "en")
    rec = empty_record(dataset=name, task=task, **values)
    if _meta is not None:
        rec["_meta"] = _meta
    return rec


def pick_qas(scene: Scene, rng: random.Random, categories: tuple[str, ...], n: int, form: str = "open") -> list[QA]:
    """Up to ``n`` distinct questions about ``scene`` drawn from ``categories`` (no exact repeats)."""
    cats = list(categories)
    rng.shuffle(cats)
    out, seen = [], set()
    for attempt in range(n * 4):
        qa = make_qa(cats[attempt % len(cats)], scene, rng, form)
        if qa is None or qa.key() in seen:
            continue
        seen.add(qa.key())
        out.append(qa)
        if len(out) == n:
            break
    return out


def aggregate_answers(raw: list[str]) -> list[dict]:
    """Distinct answers in first-appearance order, weight = share of annotators (docs/sources.md)."""
    counts: dict[str, int] = {}
    for a in raw:
        counts[a] = counts.get(a, 0) + 1
    return [{"text": t, "weight": c / max(1, len(raw))} for t, c in counts.items()]
