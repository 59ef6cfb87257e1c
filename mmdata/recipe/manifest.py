"""``manifest.json`` of a mixture, from the finished :class:`~mmdata.recipe.stages.BuildState`.

Besides identity (recipe, seed, content hash, software versions) it carries the per-source account a
user needs to trust the mixture: records read, set aside by reason, left out by filters, dedup drops,
items, sampled, epochs, and target against realised share (``sources`` and ``counts``).
"""

from __future__ import annotations

import platform
from collections import Counter
from pathlib import Path

import polars as pl
import pyarrow as pa

from mmdata import __version__


def _per_dataset(table: pa.Table) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    df = pl.from_arrow(table.select(["dataset"])).group_by("dataset").len()
    return dict(zip(df["dataset"].to_list(), df["len"].to_list(), strict=True))


def source_rows(state) -> list[dict]:
    """One row per active source: the build's account of it (also printed by ``mmdata build``)."""
    rec_in = {i.dataset: i.n for i in state.ingested}
    dropped = _per_dataset(state.drops)
    rows = []
    for i in state.ingested:
        d = i.dataset
        q = state.quotas.get(d, 0)
        n = state.n_items.get(d, 0)
        rows.append({
            "dataset": d,
            "records_read": i.records_read,
            "set_aside": len(i.quarantined),
            "set_aside_by_reason": dict(sorted(Counter(_reason(x) for x in i.quarantined).items())),
            "filtered": i.filtered,
            "decontaminated": sum(state.decon["dropped"].get(d, {}).values()),
            "records_in": int(rec_in.get(d, 0)),
            "dedup_dropped": int(dropped.get(d, 0)),
            "items": n,
            "sampled": q,
            "epochs": round(q / n, 6) if n else 0.0,
            "target_share": round(state.shares.get(d, 0.0), 6),
            "share": round(q / max(1, state.size), 6),
        })  # fmt: skip
    return rows


def _reason(q: dict) -> str:
    """A quarantine reason without the record-specific part (``image 'x.jpg' not found …`` → ``image not found``)."""
    r = q.get("reason", "")
    if q.get("kind", "image") == "image":
        return "image not found" if "not found" in r else "image unreadable"
    return r


def manifest(state) -> dict:
    from importlib.metadata import (
        version,  # not the packages themselves: importing datasets alone takes a second
    )

    from mmdata.recipe.templates import bank_digest

    recipe = state.recipe
    rows = source_rows(state)
    counts = {r["dataset"]: {k: r[k] for k in ("records_in", "dedup_dropped", "sampled", "epochs", "share", "target_share")}
              | {"items_after_merge": r["items"]} for r in rows}  # fmt: skip
    by_task: dict[str, dict] = {}
    for r in rows:
        t = by_task.setdefault(state.tasks[r["dataset"]], {"records_in": 0, "items_after_merge": 0, "sampled": 0, "datasets": []})
        t["records_in"] += r["records_in"]
        t["items_after_merge"] += r["items"]
        t["sampled"] += r["sampled"]
        t["datasets"].append(r["dataset"])
    sources = {}
    for i, r in zip(state.ingested, rows, strict=True):
        sources[i.dataset] = {"ingest_key": i.key, "files": [Path(f).name for f in i.files], "image_root": i.image_root,
                              **{k: v for k, v in r.items() if k != "dataset"}}  # fmt: skip
    tdir, tdigest = bank_digest(state.templates_dir)
    return {
        "kind": "mmdata-mixture",
        "recipe": recipe.model_dump(mode="json"),
        "seed": recipe.seed,
        "sources": sources,
        "excluded": list(recipe.exclude),
        "image_roots": state.image_roots,
        "counts": counts,
        "tasks": by_task,
        "balance": {"strategy": recipe.balance.strategy, "size": state.size, "cap": recipe.balance.cap},
        "images": recipe.images.model_dump(mode="json"),
        "dedup": {"rule": recipe.multiturn.dedup, "threshold": recipe.multiturn.cosine, "dropped": int(state.drops.num_rows),
                  "embedding": {k: state.emb_stats[k] for k in ("model", "embedder", "unique_strings") if k in state.emb_stats}},  # fmt: skip
        "templates": {**recipe.templates.model_dump(mode="json"), "inverted_items": state.stats.inverted,
                      "directory": tdir, "sha256": tdigest},  # fmt: skip
        "template_usage": dict(sorted(state.stats.template_usage.items())),
        "decontamination": state.decon,
        "n_items": int(state.stats.rows),
        "files": {"data": [f"data/{s.name}" for s in state.shards], "dedup": "dedup.parquet", "dedup_pairs": "dedup_pairs.parquet",
                  "sampling": "sampling.parquet", "quarantine": "quarantine.parquet"},  # fmt: skip
        "software": {"mmdata": __version__, "python": platform.python_version(), "pyarrow": pa.__version__,
                     **{p: version(p) for p in ("polars", "duckdb", "jinja2", "datasets")}},  # fmt: skip
        "content_hash": state.content_hash,
    }
