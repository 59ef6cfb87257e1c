"""Multi-turn merge with dedup (Honeybee §4, then beyond): group → dedup → chunk.

:func:`merge_groups` is the stage function both engines run. Its input is a *work table* with one row
per Record: ``dataset, task, group, pos, record_id, dkey, emb, max_turns, dedup``. ``group`` is the
image group inside a dataset (conversations and text-only records are groups of one), ``pos`` the
record's position in its source (file order), ``dkey`` the exact-dedup key (normalised answer, or the
box string for REC), ``emb`` a row of the embedding matrix (semantic dedup).

* ``exact`` — Honeybee's rule: inside a group, records whose key equals an earlier record's key are
  dropped (the first is kept).
* ``semantic`` — inside a group, a record whose question+answer embedding has cosine ≥ threshold
  with an already kept record is dropped (greedy in file order; the most similar kept record is named).
  Groups of :data:`NN_MIN` or more records find each record's nearest earlier records with usearch
  (HNSW) instead of a dense similarity matrix.
* Kept records are cut, in file order, into items of at most ``max_turns`` turns.

Outputs: ``items`` (one row per item, with its records), ``drops`` (kept_id, dropped_id, similarity,
rule) and ``pairs`` (every within-group pair with similarity ≥ threshold − 0.15, for
``mmdata dedup inspect``). Any partition of the work table along group boundaries gives the same
result, which is what lets the Ray engine split the work.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

NEAR = 0.15
NN_MIN = 512  # groups at least this large search nearest neighbours (usearch) instead of a dense matrix
NN_K = 32  # neighbours looked at per record in such groups

DROP_SCHEMA = pa.schema([("dataset", pa.string()), ("group", pa.string()), ("kept_id", pa.string()), ("dropped_id", pa.string()),
                         ("similarity", pa.float32()), ("rule", pa.string()), ("dropped_pos", pa.int64())])  # fmt: skip
PAIR_SCHEMA = pa.schema([("dataset", pa.string()), ("group", pa.string()), ("a_id", pa.string()), ("b_id", pa.string()),
                         ("similarity", pa.float32()), ("dropped", pa.bool_())])  # fmt: skip


def _neighbours(vecs: np.ndarray, low: float, k: int = NN_K) -> list[dict[int, float]]:
    """For each row, its earlier rows with cosine ≥ ``low`` among its ``k`` nearest (usearch HNSW):
    {earlier row: similarity}. Similarities are recomputed exactly from the vectors."""
    from usearch.index import Index

    n = len(vecs)
    index = Index(ndim=vecs.shape[1], metric="cos", dtype="f32", connectivity=16, expansion_add=128, expansion_search=max(64, 2 * k))
    keys = np.arange(n, dtype=np.uint64)
    index.add(keys, vecs, threads=2)
    found = index.search(vecs, min(k + 1, n), threads=2)
    out: list[dict[int, float]] = [{} for _ in range(n)]
    for i in range(n):
        cand = found.keys[i][found.keys[i] < i].astype(np.int64)
        cand = cand[cand < n]
        if len(cand):
            sims = vecs[cand] @ vecs[i]
            for c, v in zip(cand.tolist(), sims.tolist(), strict=True):
                if v >= low:
                    out[i][c] = v
    return out


def _semantic(sem: pl.DataFrame, emb: np.ndarray, threshold: float, nn_min: int = NN_MIN) -> tuple[list[tuple], list[tuple]]:
    """Greedy semantic dedup inside each group, in file order. Groups of at least ``nn_min`` records use
    nearest-neighbour search (each record's :data:`NN_K` nearest earlier records) instead of the dense
    similarity matrix, which grows with the square of the group."""
    drops, pairs = [], []
    if sem.height == 0:
        return drops, pairs
    groups = sem["group"].to_numpy()
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    ends = np.r_[starts[1:], len(groups)]
    rows = sem.select("dataset", "group", "record_id", "pos", "emb").rows()
    for s, e in zip(starts, ends, strict=True):
        if e - s < 2:
            continue
        idx = np.asarray([rows[i][4] for i in range(s, e)])
        vecs = emb[idx]
        if e - s >= nn_min:
            near = _neighbours(vecs, threshold - NEAR)
        else:
            sims = vecs @ vecs.T
            near = [{k: float(sims[i, k]) for k in np.flatnonzero(sims[i, :i] >= threshold - NEAR).tolist()} for i in range(e - s)]
        kept: set[int] = set()
        for i in range(e - s):
            best, bk = -2.0, -1
            for k, v in near[i].items():
                if k in kept and (v > best or (v == best and k < bk)):
                    best, bk = v, k
            ds, g, rid, pos, _ = rows[s + i]
            if bk >= 0 and best >= threshold:
                drops.append((ds, g, rows[s + bk][2], rid, best, "semantic", pos))
                pairs += [(ds, g, rows[s + k][2], rid, v, True) for k, v in sorted(near[i].items())]
                continue
            pairs += [(ds, g, rows[s + k][2], rid, v, False) for k, v in sorted(near[i].items())]
            kept.add(i)
    return drops, pairs


def merge_groups(work: pa.Table, emb: np.ndarray | None = None, threshold: float = 0.85, nn_min: int = NN_MIN) -> dict[str, pa.Table]:
    # a group's records together, in file order: groups are then runs of rows, and the chunking
    # below is offsets arithmetic instead of windowed group-bys
    df = pl.from_arrow(work).sort(["group", "pos"])
    # ---- exact: a record is a duplicate when an earlier record of its group has the same key
    df = df.with_columns(
        first_pos=pl.col("pos").min().over(["group", "dkey"]),
    ).with_columns(
        exact_dup=(pl.col("dedup") == "exact") & pl.col("dkey").is_not_null() & (pl.col("pos") != pl.col("first_pos"))
    )
    firsts = df.select(pl.col("pos").alias("first_pos"), pl.col("record_id").alias("kept_id"))
    ex = (
        df.filter(pl.col("exact_dup"))
        .join(firsts, on="first_pos", how="left")
        .select("dataset", "group", "kept_id", pl.col("record_id").alias("dropped_id"),
                pl.lit(1.0, pl.Float32).alias("similarity"), pl.lit("exact").alias("rule"), pl.col("pos").alias("dropped_pos"))
    )  # fmt: skip
    # ---- semantic
    sem_rows = df.filter((pl.col("dedup") == "semantic") & pl.col("emb").is_not_null())
    sem_drops, pairs = _semantic(sem_rows, emb, threshold, nn_min) if emb is not None else ([], [])
    sem = pl.DataFrame(sem_drops, schema=pl.from_arrow(DROP_SCHEMA.empty_table()).schema, orient="row")
    drops = pl.concat([ex.cast(sem.schema), sem]).sort("dropped_pos")
    kept = df.filter(~pl.col("pos").is_in(drops["dropped_pos"])) if drops.height else df
    # ---- chunk into items of at most max_turns turns, in file order: a kept record's rank in its
    # group is its row minus the group's first row
    per_kept = drops.group_by("kept_id").agg(pl.len().alias("n"))
    kept = kept.join(per_kept, left_on="record_id", right_on="kept_id", how="left", maintain_order="left")
    n = kept.height
    group = kept["group"].to_numpy()
    new_group = np.r_[True, group[1:] != group[:-1]] if n else np.zeros(0, bool)
    starts = np.flatnonzero(new_group)
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    item_no = rank // kept["max_turns"].to_numpy()
    first = np.flatnonzero(new_group | np.r_[True, item_no[1:] != item_no[:-1]]) if n else np.zeros(0, np.int64)
    offsets = pa.array(np.r_[first, n].astype(np.int32))
    pos = kept["pos"].to_numpy()
    dropped_here = kept["n"].fill_null(0).to_numpy().astype(np.int64)
    heads = kept[pl.Series(first)].select("dataset", "task", "group")
    items = pa.table({
        "dataset": heads["dataset"].to_arrow(), "task": heads["task"].to_arrow(), "group": heads["group"].to_arrow(),
        "item_no": pa.array(item_no[first].astype(np.int32)), "first_pos": pa.array(pos[first]),
        "positions": pa.ListArray.from_arrays(offsets, pa.array(pos)),
        "record_ids": pa.ListArray.from_arrays(offsets, kept["record_id"].to_arrow()),
        "dedup_dropped": pa.array((np.add.reduceat(dropped_here, first) if n else np.zeros(0, np.int64)).astype(np.int32)),
    })  # fmt: skip
    items = items.take(pa.array(np.argsort(pos[first], kind="stable")))
    pair_df = pl.DataFrame(pairs, schema=pl.from_arrow(PAIR_SCHEMA.empty_table()).schema, orient="row")
    return {"items": items, "drops": drops.to_arrow(), "pairs": pair_df.to_arrow()}
