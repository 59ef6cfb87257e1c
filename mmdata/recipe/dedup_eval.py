"""Score a mixture's dedup decisions against the world's planted duplicates (``duplicates.jsonl``).

A planted group is *recovered* when all but one of its members were dropped, each in favour of a
member of the same group. A *false drop* is a dropped record that belongs to no planted group; the
false-drop rate divides by the records that were eligible for dedup in the scored datasets.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl


def score_dedup(mixture: str | Path, world: str | Path) -> dict:
    mixture, world = Path(mixture), Path(world)
    man = orjson.loads((mixture / "manifest.json").read_bytes())
    groups = [orjson.loads(x) for x in (world / "duplicates.jsonl").read_bytes().splitlines() if x]
    scored = {d for d, c in man["counts"].items() if c["records_in"]} & {g["dataset"] for g in groups}
    groups = [g for g in groups if g["dataset"] in scored]
    drops = pl.read_parquet(mixture / "dedup.parquet").filter(pl.col("dataset").is_in(sorted(scored)))
    dropped = {(d, r): k for d, r, k in drops.select("dataset", "dropped_id", "kept_id").iter_rows()}
    planted = {(g["dataset"], r) for g in groups for r in g["record_ids"]}
    recovered = 0
    for g in groups:
        members = set(g["record_ids"])
        gone = [r for r in g["record_ids"] if (g["dataset"], r) in dropped]
        if len(gone) == len(members) - 1 and all(dropped[(g["dataset"], r)] in members for r in gone):
            recovered += 1
    false = [k for k in dropped if k not in planted]
    eligible = sum(man["counts"][d]["records_in"] for d in scored) - len(planted)
    return {
        "groups": len(groups),
        "recovered": recovered,
        "recovery": recovered / max(1, len(groups)),
        "dropped": len(dropped),
        "false_drops": len(false),
        "false_drop_rate": len(false) / max(1, eligible),
        "eligible_records": eligible,
    }
