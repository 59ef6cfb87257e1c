"""Small mixtures written straight from a world, for tests, demos and benchmarks of the trainer.

These follow ``docs/mixture.md`` exactly (Parquet shards of Conversation rows + ``manifest.json``
with ``image_roots``) but are *not* the recipe builder: no balancing, no dedup, one fixed English
template per task. ``caption`` mixtures serve stage 1 (alignment); ``instruct`` mixtures serve
stage 2 (VQA merged into multi-turn conversations per image, LLaVA-style conversations in six
languages, captions, and text-only ShareGPT).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mmdata.io import atomic_dir, atomic_write_json
from mmdata.schema import CONVERSATION_SCHEMA, validate_conversations

SHORT = "Answer the question using a single word or phrase."
DESCRIBE = "Describe the image briefly."


def _row(dataset, task, template, image, turns, ids, language) -> dict:
    h = hashlib.sha256("|".join([dataset, template, *ids]).encode()).hexdigest()[:16]
    return {"id": f"{dataset}-{h}", "images": [image] if image else [], "turns": turns, "dataset": dataset, "task": task,
            "template_id": template, "inverted": False, "source_record_ids": list(ids), "dedup_dropped": 0, "language": language}  # fmt: skip


def _caption_rows(world: Path, roots: dict) -> list[dict]:
    from mmdata.sources import ReadReport, read_table

    rep = ReadReport()
    t = read_table("coco_captions", world / "sources/coco_captions", report=rep)
    roots["coco_captions"] = rep.image_root
    return [
        _row("coco_captions", "caption", "fixture-caption", r["image"],
             [{"role": "user", "content": f"<image>\n{DESCRIBE}"}, {"role": "assistant", "content": r["caption"]}],
             [r["record_id"]], r["language"])  # fmt: skip
        for r in t.to_pylist()
    ]


def _vqa_rows(world: Path, roots: dict, name: str, per_conv: int) -> list[dict]:
    from mmdata.sources import ReadReport, read_table

    rep = ReadReport()
    t = read_table(name, world / "sources" / name, report=rep)
    roots[name] = rep.image_root
    groups: dict[str, list[dict]] = {}
    for r in t.to_pylist():
        groups.setdefault(r["image_id"], []).append(r)
    rows = []
    for recs in groups.values():
        for i in range(0, len(recs), per_conv):
            chunk = recs[i : i + per_conv]
            turns = []
            for k, r in enumerate(chunk):
                q = f"{r['question']}\n{SHORT}"
                turns += [{"role": "user", "content": f"<image>\n{q}" if k == 0 else q}, {"role": "assistant", "content": r["answer"]}]
            rows.append(_row(name, "vqa_open", "fixture-vqa", chunk[0]["image"], turns, [r["record_id"] for r in chunk], chunk[0]["language"]))
    return rows


def _native_rows(world: Path, roots: dict, name: str) -> list[dict]:
    from mmdata.sources import ReadReport, read_table

    rep = ReadReport()
    t = read_table(name, world / "sources" / name, report=rep)
    if t.num_rows and t.column("image").null_count < t.num_rows:
        roots[name] = rep.image_root
    return [_row(name, r["task"], "native", r["image"], r["turns"], [r["record_id"]], r["language"]) for r in t.to_pylist()]


def write_fixture_mixture(world: str | Path, out: str | Path, kind: str = "instruct", *, seed: int = 0, row_group_size: int = 128) -> Path:
    """Write a ``caption`` or ``instruct`` mixture from a world directory; returns ``out``."""
    world, out = Path(world), Path(out)
    roots: dict[str, str] = {}
    if kind == "caption":
        rows = _caption_rows(world, roots)
    elif kind == "instruct":
        rows = _vqa_rows(world, roots, "vqav2", 3) + _vqa_rows(world, roots, "gqa", 3)
        for name in ("llava_instruct", "llava_instruct_zh", "llava_instruct_pt", "llava_instruct_ar", "llava_instruct_tr",
                     "llava_instruct_ru", "sharegpt"):  # fmt: skip
            rows += _native_rows(world, roots, name)
        rows += _caption_rows(world, roots)[::5]
    else:
        raise ValueError(f"kind must be 'caption' or 'instruct', got {kind!r}")
    random.Random(seed).shuffle(rows)
    table = validate_conversations(pa.Table.from_pylist(rows, schema=CONVERSATION_SCHEMA))
    with atomic_dir(out) as tmp:
        (tmp / "data").mkdir()
        pq.write_table(table, tmp / "data/part-00000.parquet", row_group_size=row_group_size)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["dataset"]] = counts.get(r["dataset"], 0) + 1
        atomic_write_json(tmp / "manifest.json", {"kind": f"fixture-{kind}", "image_roots": roots, "counts": counts, "rows": len(rows), "seed": seed})
    return out
