"""Ablation results: per-run metrics from the harness's scores, stored in DuckDB, aggregated over seeds.

Metrics (from ``scores.json``): ``mean`` (6-language mean accuracy), ``mean_non_en``, ``consistency``
(items right in all six languages), one per language (``en`` … ``ru``), ``spatial`` (mean over
languages of the spatial categories: position, spatial_relation, closest, extreme) and ``circular``
(CircularEval mean on the MMBench-style set). Aggregates are mean ± a 95 % t-interval over seeds;
findings compare two arms by their per-seed paired differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPATIAL = ("position", "spatial_relation", "closest", "extreme")
LANGS = ("en", "zh", "pt", "ar", "tr", "ru")


def metrics_from_scores(scores: dict, set_name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    if set_name == "mmbench" and "circular" in scores:
        # the harness writes CircularEval accuracy per language (``circular``, also ``overall``); the
        # metric is its mean over languages, which is the set's ``mean``
        circ = scores["circular"]
        out["circular"] = float(scores["mean"] if isinstance(circ, dict) else circ)
        return out
    out["mean"] = float(scores["mean"])
    out["mean_non_en"] = float(scores["mean_non_en"])
    if scores.get("shuffled_mean") is not None:  # the image-use control (always run by the ablation runner)
        out["shuffled_mean"] = float(scores["shuffled_mean"])
        out["image_use_gap"] = float(scores["image_use_gap"])
    out["consistency"] = float(scores["consistency"])
    for lang, v in scores["overall"].items():
        out[lang] = float(v)
    spatial = []
    for cats in scores.get("by_category", {}).values():
        vals = [cats[c] for c in SPATIAL if c in cats]
        if vals:
            spatial.append(sum(vals) / len(vals))
    if spatial:
        out["spatial"] = sum(spatial) / len(spatial)
    return out


def t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


@dataclass
class Agg:
    mean: float
    lo: float
    hi: float
    n: int

    def fmt(self, pct: bool = True) -> str:
        k = 100 if pct else 1
        if self.n < 2 or math.isnan(self.lo):
            return f"{self.mean * k:.1f}"
        return f"{self.mean * k:.1f} ± {(self.hi - self.mean) * k:.1f}"


def aggregate(values: list[float]) -> Agg:
    v = np.asarray(values, dtype=float)
    m = float(v.mean()) if len(v) else float("nan")
    if len(v) < 2:
        return Agg(m, float("nan"), float("nan"), len(v))
    half = t_quantile(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return Agg(m, m - half, m + half, len(v))


def store(db: Path, rows: list[dict], outcomes=None) -> None:
    """Replace this suite's rows in ``db``: metrics (table ``results``) and, when given, per-question
    outcomes (table ``outcomes``: arm, seed, bench_set, control, language, id, category, correct), which
    the paired findings are computed from."""
    import duckdb

    con = duckdb.connect(str(db))
    try:
        if outcomes is not None:
            con.register("new_outcomes", outcomes.to_arrow())
            con.execute("CREATE TABLE IF NOT EXISTS outcomes AS SELECT * FROM new_outcomes LIMIT 0")
            for s in outcomes["suite"].unique().to_list():
                con.execute("DELETE FROM outcomes WHERE suite = ?", [s])
            con.execute("INSERT INTO outcomes SELECT * FROM new_outcomes")
            con.unregister("new_outcomes")
        con.execute("""CREATE TABLE IF NOT EXISTS results (suite VARCHAR, arm VARCHAR, seed INTEGER, bench_set VARCHAR,
                       metric VARCHAR, value DOUBLE, run_key VARCHAR)""")
        suites = sorted({r["suite"] for r in rows})
        for s in suites:
            con.execute("DELETE FROM results WHERE suite = ?", [s])
        if rows:
            con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [[r["suite"], r["arm"], r["seed"], r["bench_set"], r["metric"], r["value"], r["run_key"]] for r in rows])  # fmt: skip
    finally:
        con.close()


def load_outcomes(db: Path, suite: str):
    """This suite's per-question outcomes from ``db`` (a polars frame; empty when none were stored)."""
    import duckdb
    import polars as pl

    if not Path(db).is_file():
        return pl.DataFrame()
    con = duckdb.connect(str(db), read_only=True)
    try:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'outcomes'").fetchall()[0][0]:
            return pl.DataFrame()
        return pl.from_arrow(con.sql("SELECT * FROM outcomes WHERE suite = $suite", params={"suite": suite}).to_arrow_table())
    finally:
        con.close()
