"""``mmdata dedup inspect DIR --near T``: the within-group pairs whose similarity is close to T, with
whether the build dropped them — for choosing a semantic threshold by eye."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mmdata.errors import MmdataError


def near_pairs(mixture: str | Path, near: float, width: float = 0.03, limit: int = 20) -> pl.DataFrame:
    d = Path(mixture)
    p = d / "dedup_pairs.parquet"
    if not p.exists():
        raise MmdataError("no dedup_pairs.parquet here (build with multiturn.dedup: semantic)", file=d)
    pairs = pl.read_parquet(p)
    if pairs.height == 0:
        return pairs
    sel = pairs.filter((pl.col("similarity") - near).abs() <= width)
    return sel.with_columns((pl.col("similarity") - near).abs().alias("distance")).sort(["distance", "a_id", "b_id"]).head(limit)
