"""Render sampled items into Conversation rows (the mixture's training items).

Each output position ``j`` has its own random stream (seed, j), so an item's template draw, inversion
flag and option shuffle do not depend on which engine or partition renders it. One template is drawn
per item and used for every turn (Honeybee). An item's image goes into its first user turn as the
literal ``<image>`` (see docs/mixture.md); native conversations keep their text, with the placeholder
moved there.
"""

from __future__ import annotations

import hashlib
import random

import pyarrow as pa

from mmdata.recipe.config import TemplatePolicy
from mmdata.recipe.templates import NATIVE_TASKS, TemplateBank, turn_variables
from mmdata.schema import CONVERSATION_SCHEMA

IMAGE = "<image>"
RENDER_COLUMNS = ("record_id", "image", "language", "question", "answer", "choices", "answer_idx", "bbox", "phrase",
                  "caption", "context", "turns")  # fmt: skip
OUT_SCHEMA = CONVERSATION_SCHEMA.append(pa.field("j", pa.int64(), nullable=False))


def _native_turns(turns: list[dict], has_image: bool) -> list[dict]:
    out = []
    for t in turns:
        c = t["content"]
        if IMAGE in c:
            c = c.replace(IMAGE + "\n", "").replace("\n" + IMAGE, "").replace(IMAGE, "").strip()
        out.append({"role": t["role"], "content": c})
    if has_image:
        for t in out:
            if t["role"] == "user":
                t["content"] = f"{IMAGE}\n{t['content']}"
                break
    return out


def render_items(items: pa.Table, records: pa.Table, policy: TemplatePolicy, templates_dir: str | None, seed: int) -> pa.Table:
    """``items`` has columns j, dataset, task, positions, record_ids, dedup_dropped; ``records`` is the
    combined Record table indexed by ``positions``. Returns Conversation rows plus ``j``.

    Templates are loaded from ``templates_dir`` in the process that renders (compiled Jinja templates
    do not travel between processes); the bank is cached per process."""
    bank = TemplateBank.cached(templates_dir)
    positions = items.column("positions").to_pylist()
    flat = [p for ps in positions for p in ps]
    taken = records.take(pa.array(flat, pa.int64()))
    cols = {c: taken.column(c).to_pylist() for c in RENDER_COLUMNS}
    rows = {k: [] for k in OUT_SCHEMA.names}
    pools: dict[tuple, list] = {}
    cursor = 0
    for j, ds, task, ps, rids, dropped in zip(
        items.column("j").to_pylist(), items.column("dataset").to_pylist(), items.column("task").to_pylist(),
        positions, items.column("record_ids").to_pylist(), items.column("dedup_dropped").to_pylist(), strict=True,
    ):  # fmt: skip
        idx = range(cursor, cursor + len(ps))
        cursor += len(ps)
        rng = random.Random(f"{seed}/{j}")
        image = cols["image"][idx[0]]
        if task in NATIVE_TASKS:
            turns, tid, inverted = _native_turns(cols["turns"][idx[0]], image is not None), "native", False
        else:
            inverted = rng.random() < policy.ratio(task)
            key = (ds, task, inverted)
            if key not in pools:
                pools[key] = bank.pool(policy.granularity, policy.diversity, ds, task, inverted)
            tmpl, tid, hint = pools[key][rng.randrange(len(pools[key]))]
            turns = []
            for i in idx:
                row = {c: cols[c][i] for c in RENDER_COLUMNS}
                user, assistant = tmpl.render(turn_variables(row, task, hint, rng), record=row["record_id"])
                turns += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
            if image is not None:
                turns[0]["content"] = f"{IMAGE}\n{turns[0]['content']}"
        h = hashlib.sha1(f"{seed}|{j}|{ds}|{'|'.join(rids)}|{tid}".encode()).hexdigest()[:16]
        rows["id"].append(h)
        rows["images"].append([image] if image is not None else [])
        rows["turns"].append(turns)
        rows["dataset"].append(ds)
        rows["task"].append(task)
        rows["template_id"].append(tid)
        rows["inverted"].append(inverted)
        rows["source_record_ids"].append(rids)
        rows["dedup_dropped"].append(dropped)
        rows["language"].append(cols["language"][idx[0]])
        rows["j"].append(j)
    return pa.Table.from_pydict(rows, schema=OUT_SCHEMA)
