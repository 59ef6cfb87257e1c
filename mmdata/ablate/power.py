"""Paired differences between ablation arms, with a bootstrap CI and the minimum detectable effect.

Two arms of a suite are trained with the same seeds and scored on the same benchmark questions, so a
finding is a *paired* difference: for every (seed, question) the outcome under arm A minus the
outcome under arm B. :func:`paired` resamples seeds and questions (a question carries its six
language versions and its category with it) to get the distribution of the mean difference, and
reports:

* ``delta``: the observed mean difference (A − B) in accuracy;
* ``lo``, ``hi``: its 95 % percentile interval over ``resamples`` bootstrap draws;
* ``se``: the bootstrap standard error;
* ``mde``: the minimum detectable effect at 80 % power and a two-sided 5 % test,
  ``(z₀.₉₇₅ + z₀.₈₀) · se`` — a true difference this large would be declared with 80 % probability.

Metrics select what is averaged per (seed, question): ``mean`` (all languages), ``en``,
``mean_non_en``, one language, ``spatial`` (the spatial categories), ``shuffled_mean`` (the
image-shuffled control), ``image_use_gap`` (real minus shuffled, per question), ``circular``
(CircularEval groups of the MMBench-style set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from mmdata.schema import LANGUAGES

SPATIAL = ("position", "spatial_relation", "closest", "extreme")
Z_ALPHA, Z_POWER = 1.959964, 0.841621  # two-sided 5 %, 80 % power
RESAMPLES = 2000


@dataclass(frozen=True)
class Paired:
    delta: float
    lo: float
    hi: float
    se: float
    mde: float
    seeds: int
    questions: int

    @property
    def verdict(self) -> str:
        if self.lo > 0:
            return "reproduced"
        if self.hi < 0:
            return "contradicted"
        return "inconclusive (CI includes 0)"


def _select(o: pl.DataFrame, metric: str) -> tuple[pl.DataFrame, str]:
    """The outcome rows a metric averages, and which control pass they come from."""
    o = o.filter(pl.col("bench_set") == ("mmbench" if metric == "circular" else "mmmb"))
    if metric in LANGUAGES:
        return o.filter(pl.col("language") == metric), "none"
    if metric == "mean_non_en":
        return o.filter(pl.col("language") != "en"), "none"
    if metric == "spatial":
        return o.filter(pl.col("category").is_in(list(SPATIAL))), "none"
    if metric == "shuffled_mean":
        return o, "shuffled"
    return o, "none"


def per_question(outcomes: pl.DataFrame, arm: str, metric: str) -> pl.DataFrame:
    """(seed, id, value): the metric's per-question value for one arm (the mean over the question's
    selected languages; for the gap, real minus shuffled)."""
    o = outcomes.filter(pl.col("arm") == arm)
    if metric == "image_use_gap":
        real = per_question(outcomes, arm, "mean").rename({"value": "real"})
        shuf = per_question(outcomes, arm, "shuffled_mean").rename({"value": "shuf"})
        return real.join(shuf, on=["seed", "id"]).select("seed", "id", (pl.col("real") - pl.col("shuf")).alias("value"))
    sel, control = _select(o, metric)
    sel = sel.filter(pl.col("control") == control)
    return sel.group_by(["seed", "id"]).agg(pl.col("correct").cast(pl.Float64).mean().alias("value")).sort(["seed", "id"])


def paired(outcomes: pl.DataFrame, better: str, worse: str, metric: str, *, resamples: int = RESAMPLES, seed: int = 0) -> Paired | None:
    """The paired difference ``better − worse`` on ``metric`` over their common seeds and questions."""
    a = per_question(outcomes, better, metric).rename({"value": "a"})
    b = per_question(outcomes, worse, metric).rename({"value": "b"})
    d = a.join(b, on=["seed", "id"]).with_columns((pl.col("a") - pl.col("b")).alias("d"))
    if d.height == 0:
        return None
    seeds = sorted(d["seed"].unique().to_list())
    ids = sorted(d["id"].unique().to_list())
    s_idx = {s: k for k, s in enumerate(seeds)}
    q_idx = {q: k for k, q in enumerate(ids)}
    m = np.full((len(seeds), len(ids)), np.nan)
    m[[s_idx[s] for s in d["seed"].to_list()], [q_idx[q] for q in d["id"].to_list()]] = d["d"].to_numpy()
    mask = ~np.isnan(m)
    m0 = np.where(mask, m, 0.0)
    delta = float(m0.sum() / mask.sum())
    rng = np.random.default_rng(seed)
    cs = rng.multinomial(len(seeds), [1 / len(seeds)] * len(seeds), size=resamples).astype(float)  # draws × seeds
    cq = rng.multinomial(len(ids), [1 / len(ids)] * len(ids), size=resamples).astype(float)  # draws × questions
    num = np.einsum("rs,sq,rq->r", cs, m0, cq)
    den = np.einsum("rs,sq,rq->r", cs, mask.astype(float), cq)
    draws = num / np.maximum(den, 1e-12)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    se = float(draws.std(ddof=1))
    return Paired(delta, float(lo), float(hi), se, (Z_ALPHA + Z_POWER) * se, len(seeds), len(ids))
