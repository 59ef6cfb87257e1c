"""Multi-turn merge with dedup (Honeybee §4, then beyond): group → dedup → chunk.

:func:`merge_groups` is the stage function both engines run. Its input is a *work table* with one row
per Record: ``dataset, task, group, pos, record_id, dkey, emb, max_turns, dedup`` (and ``gid`` when its rows are
already in group order: :func:`group_order`'s order, ``gid`` its group numbers). ``group`` is the
image group inside a dataset (conversations and text-only records are groups of one), ``pos`` the
record's position in its source (file order), ``dkey`` the exact-dedup key (normalised answer, or the
box string for REC), ``emb`` a row of the embedding matrix (semantic dedup).

* ``exact`` — Honeybee's rule: inside a group, records whose key equals an earlier record's key are
  dropped (the first is kept).
* ``semantic`` — inside a group, a record whose question+answer embedding has cosine ≥ threshold
  with an already kept record is dropped (greedy in file order; the most similar kept record is named).
  Groups of :data:`NN_MIN` or more records find each record's nearest earlier records with usearch
  (HNSW) instead of a dense similarity matrix.
* Kept records are cut, in file order, into items of at most ``max_turns`` turns. (A source with
  one turn per item and no dedup needs none of this: :func:`single_items`.)

Outputs: ``items`` (one row per item: dataset, task, first_pos, positions, dedup_dropped, and with
``ids`` its group and record ids; in file order of their first record),
``drops`` (kept_id, dropped_id, similarity, rule; by dropped position) and ``pairs`` (every
within-group pair with similarity ≥ threshold − 0.15, for ``mmdata dedup inspect``; by the later
record's position, then the earlier's). Drops and pairs carry both records' positions
(:data:`POSITIONS`) for the build, which sorts them across parts and leaves them out of the files it
writes. Any partition of the work table along group boundaries gives the same result, which is
what lets the Ray engine split the work.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

NEAR = 0.15
NN_MIN = 512  # groups at least this large search nearest neighbours (usearch) instead of a dense matrix
NN_K = 32  # neighbours looked at per record in such groups

DROP_SCHEMA = pa.schema([("dataset", pa.string()), ("group", pa.string()), ("kept_id", pa.string()), ("dropped_id", pa.string()),
                         ("similarity", pa.float32()), ("rule", pa.string()), ("dropped_pos", pa.int64()), ("kept_pos", pa.int64())])  # fmt: skip
PAIR_SCHEMA = pa.schema([("dataset", pa.string()), ("group", pa.string()), ("a_id", pa.string()), ("b_id", pa.string()),
                         ("similarity", pa.float32()), ("dropped", pa.bool_()), ("a_pos", pa.int64()), ("b_pos", pa.int64())])  # fmt: skip
POSITIONS = ["dropped_pos", "kept_pos", "a_pos", "b_pos"]  # the build's own columns, not written (dedup*.parquet)
_HASH_SEED = 0x6D6D64617461


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
    """Greedy semantic dedup inside each group (``gid``: rows of a group are adjacent, in file order).
    Groups of at least ``nn_min`` records use nearest-neighbour search (each record's :data:`NN_K`
    nearest earlier records) instead of the dense similarity matrix, which grows with the square of
    the group."""
    drops, pairs = [], []
    if sem.height == 0:
        return drops, pairs
    gid = sem["gid"].to_numpy()
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    ends = np.r_[starts[1:], len(gid)]
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
            dropped = bk >= 0 and best >= threshold
            pairs += [(ds, g, rows[s + k][2], rid, v, dropped, rows[s + k][3], pos) for k, v in sorted(near[i].items())]
            if dropped:
                drops.append((ds, g, rows[s + bk][2], rid, best, "semantic", pos, rows[s + bk][3]))
            else:
                kept.add(i)
    return drops, pairs


def group_order(group: pl.Series, pos: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The rows' order with each group together, in file order (``pos``) inside it, and each row's
    group number (0, 1, … in that order). Groups are ordered by a 64-bit hash of their name (integers
    sort several times faster than the names); two names that share a hash would fall into one run,
    so there must be as many runs as names, else the names themselves are sorted."""
    h = group.hash(_HASH_SEED).to_numpy()
    order = np.lexsort((pos.to_numpy(), h))
    h = h[order]
    new = np.r_[True, h[1:] != h[:-1]] if len(h) else np.zeros(0, bool)
    if group.n_unique() != int(new.sum()):  # fewer hashes than names: two names share one
        order = pl.DataFrame({"g": group, "p": pos}).with_row_index("i").sort(["g", "p"])["i"].to_numpy().astype(np.int64)
        g = group.gather(order)
        new = np.r_[True, g.ne_missing(g.shift(1)).to_numpy()[1:]] if len(g) else new
    return order, np.cumsum(new) - 1


def merge_groups(work: pa.Table | pl.DataFrame, emb: np.ndarray | None = None, threshold: float = 0.85, nn_min: int = NN_MIN,
                 ids: bool = True) -> dict[str, pa.Table]:  # fmt: skip
    """``work``: an Arrow table, or a polars frame (the local engine passes the build's own frames
    without a conversion). ``ids=False`` leaves the items' ``group`` and ``record_ids`` out (the
    build reads record ids again when it renders)."""
    df = work if isinstance(work, pl.DataFrame) else pl.from_arrow(work)
    # a group's records together, in file order: groups are then runs of rows, and the chunking
    # below is offsets arithmetic instead of windowed group-bys. A part that comes so ordered says
    # so with its group numbers (``gid``: stages._partitions cuts large sources that way)
    if "gid" in df.columns:
        gid = df["gid"].to_numpy()
    else:
        order, gid = group_order(df["group"], df["pos"])
        df = df[pl.Series(order)].with_columns(pl.Series("gid", gid, pl.Int64))
    n = df.height
    dtype = pl.from_arrow(DROP_SCHEMA.empty_table()).schema
    # ---- exact: a record is a duplicate when an earlier record of its group has the same key
    drop_frames = []
    exact = df.filter((pl.col("dedup") == "exact") & pl.col("dkey").is_not_null())
    if exact.height:
        exact = exact.with_columns(first=pl.struct("gid", "dkey").is_first_distinct())
        firsts = exact.filter("first").select("gid", "dkey", pl.col("record_id").alias("kept_id"), pl.col("pos").alias("kept_pos"))
        drop_frames.append(
            exact.filter(~pl.col("first"))
            .join(firsts, on=["gid", "dkey"], how="left")
            .select("dataset", "group", "kept_id", pl.col("record_id").alias("dropped_id"), pl.lit(1.0, pl.Float32).alias("similarity"),
                    pl.lit("exact").alias("rule"), pl.col("pos").alias("dropped_pos"), "kept_pos")
            .cast(dtype)
        )  # fmt: skip
    # ---- semantic
    pairs = []
    if emb is not None:
        sem_rows = df.filter((pl.col("dedup") == "semantic") & pl.col("emb").is_not_null())
        sem_drops, pairs = _semantic(sem_rows, emb, threshold, nn_min)
        if sem_drops:
            drop_frames.append(pl.DataFrame(sem_drops, schema=dtype, orient="row"))
    drops = pl.concat(drop_frames).sort("dropped_pos") if drop_frames else pl.DataFrame(schema=dtype)
    pos = df["pos"].to_numpy()
    keep = ~np.isin(pos, drops["dropped_pos"].to_numpy()) if drops.height else np.ones(n, bool)
    # ---- chunk into items of at most max_turns turns, in file order: a kept record's rank in its
    # group is its row minus the group's first row
    kpos, kgid = pos[keep], gid[keep]
    k = len(kpos)
    new_group = np.r_[True, kgid[1:] != kgid[:-1]] if k else np.zeros(0, bool)
    starts = np.flatnonzero(new_group)
    rank = np.arange(k) - np.repeat(starts, np.diff(np.r_[starts, k]))
    item_no = rank // df["max_turns"].to_numpy()[keep]
    first = np.flatnonzero(new_group | np.r_[True, item_no[1:] != item_no[:-1]]) if k else np.zeros(0, np.int64)
    # records dropped in favour of each kept one, summed per item
    per_kept = np.zeros(k, np.int64)
    if drops.height:
        kept_pos, count = np.unique(drops["kept_pos"].to_numpy(), return_counts=True)
        srt = np.argsort(kpos, kind="stable")  # kpos is in group order: look up through its sorted order
        at = srt[np.searchsorted(kpos[srt], kept_pos)]
        per_kept[at] = count
    dropped = np.add.reduceat(per_kept, first) if k else np.zeros(0, np.int64)
    # items in file order (by their first record), built in that order: each item's rows gathered once
    by_pos = np.argsort(kpos[first], kind="stable")
    heads = first[by_pos]
    lens = np.diff(np.r_[first, k])[by_pos]
    offsets = np.r_[0, np.cumsum(lens)]
    rows = np.repeat(heads - offsets[:-1], lens) + np.arange(offsets[-1])  # kept rows, item after item
    kept_rows = np.flatnonzero(keep)
    at_heads = pl.Series(kept_rows[heads])
    cols = {
        "dataset": df["dataset"].gather(at_heads).to_arrow(), "task": df["task"].gather(at_heads).to_arrow(),
        "group": df["group"].gather(at_heads).to_arrow() if ids else None,
        "first_pos": pa.array(kpos[heads]),
        "positions": pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(kpos[rows])),
        "record_ids": pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), df["record_id"].gather(pl.Series(kept_rows[rows])).to_arrow())
        if ids else None,
        "dedup_dropped": pa.array(dropped[by_pos].astype(np.int32)),
    }  # fmt: skip
    items = pa.table({c: v for c, v in cols.items() if v is not None})
    pair_df = pl.DataFrame(pairs, schema=pl.from_arrow(PAIR_SCHEMA.empty_table()).schema, orient="row").sort(["b_pos", "a_pos"])
    return {"items": items, "drops": drops.to_arrow().cast(DROP_SCHEMA), "pairs": pair_df.to_arrow().cast(PAIR_SCHEMA)}


def single_items(dataset: str, task: str, first: int, n: int) -> pa.Table:
    """The items of a source whose Records are each an item of their own (one turn per item, no
    dedup), at positions ``first`` … ``first + n - 1``: what :func:`merge_groups` gives for it (its
    items in file order, one record each, nothing dropped) without reading or grouping anything."""
    pos = np.arange(first, first + n, dtype=np.int64)
    return pa.table({
        "dataset": pl.repeat(dataset, n, dtype=pl.Utf8, eager=True).to_arrow(), "task": pl.repeat(task, n, dtype=pl.Utf8, eager=True).to_arrow(),
        "first_pos": pa.array(pos), "positions": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), pa.array(pos)),
        "dedup_dropped": pa.array(np.zeros(n, np.int32)),
    })  # fmt: skip
