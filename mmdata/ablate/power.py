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

:func:`components` splits the same paired differences into a seed part, a question part and the
rest, so a report can say how many seeds or questions a finding needs before it is run again
(:class:`Variance`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from mmdata.schema import LANGUAGES

SPATIAL = ("position", "spatial_relation", "closest", "extreme")
Z_ALPHA, Z_POWER = 1.959964, 0.841621  # two-sided 5 %, 80 % power
RESAMPLES = 2000
SEED_LIMIT = 100  # the most seeds a power plan considers


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


def _differences(outcomes: pl.DataFrame, better: str, worse: str, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The seeds × questions matrix of paired differences ``better − worse`` (NaN where a pair is
    missing) and its mask of present cells; None when the arms share no (seed, question)."""
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
    return m, ~np.isnan(m)


def paired(outcomes: pl.DataFrame, better: str, worse: str, metric: str, *, resamples: int = RESAMPLES, seed: int = 0) -> Paired | None:
    """The paired difference ``better − worse`` on ``metric`` over their common seeds and questions."""
    dm = _differences(outcomes, better, worse, metric)
    if dm is None:
        return None
    m, mask = dm
    n_seeds, n_ids = m.shape
    m0 = np.where(mask, m, 0.0)
    delta = float(m0.sum() / mask.sum())
    rng = np.random.default_rng(seed)
    cs = rng.multinomial(n_seeds, [1 / n_seeds] * n_seeds, size=resamples).astype(float)  # draws × seeds
    cq = rng.multinomial(n_ids, [1 / n_ids] * n_ids, size=resamples).astype(float)  # draws × questions
    num = np.einsum("rs,sq,rq->r", cs, m0, cq)
    den = np.einsum("rs,sq,rq->r", cs, mask.astype(float), cq)
    draws = num / np.maximum(den, 1e-12)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    se = float(draws.std(ddof=1))
    return Paired(delta, float(lo), float(hi), se, (Z_ALPHA + Z_POWER) * se, n_seeds, n_ids)


# ------------------------------------------------------------------------------ planning power


@dataclass(frozen=True)
class Variance:
    """The variance of one finding's paired differences ``d[seed, question]``, split as in a two-way
    random-effects model ``d = δ + s + q + e``:

    * ``seed``: σ²_s, how much the difference moves from one training seed to the next;
    * ``question``: σ²_q, how much it depends on which benchmark questions are asked;
    * ``residual``: σ²_e, the seed × question interaction and the outcome noise.

    Over S seeds and Q questions the mean difference has variance σ²_s/S + σ²_q/Q + σ²_e/(S·Q)
    (:meth:`se_model`). The reported MDE comes from :func:`paired`'s bootstrap, which resamples seeds
    and questions independently; its expected variance (:meth:`se`) is

        (S−1)/S² · (σ²_s + σ²_e/Q) + (Q−1)/Q² · (σ²_q + σ²_e/S) + (S−1)(Q−1)/(S²Q²) · σ²_e,

    which counts σ²_e in each resampling and again in their product (up to √3 too wide in the standard
    error when σ²_e dominates), sees (S−1)/S of the seed part, and none of it with one seed. Plans
    (:meth:`seeds_for`, :meth:`questions_for`) are made for the reported MDE, so a rerun's report is
    what they predict. With three seeds σ²_s has two degrees of freedom: a plan is a guide, not a
    promise."""

    seed: float
    question: float
    residual: float
    seeds: int
    questions: int

    def se(self, seeds: int, questions: int) -> float:
        """The expected standard error of the bootstrap in :func:`paired` at this design."""
        s, q = seeds, questions
        v = ((s - 1) / s**2 * (self.seed + self.residual / q) + (q - 1) / q**2 * (self.question + self.residual / s)
             + (s - 1) * (q - 1) / (s * s * q * q) * self.residual)  # fmt: skip
        return math.sqrt(v)

    def se_model(self, seeds: int, questions: int) -> float:
        """The standard error of the mean difference under the random-effects model."""
        return math.sqrt(self.seed / seeds + self.question / questions + self.residual / (seeds * questions))

    def mde(self, seeds: int, questions: int) -> float:
        """The MDE a report at this design is expected to print."""
        return (Z_ALPHA + Z_POWER) * self.se(seeds, questions)

    def seeds_for(self, target: float, questions: int | None = None, *, limit: int = SEED_LIMIT) -> int | None:
        """The fewest seeds (at least 2: one seed shows the bootstrap no seed variance) that bring
        the MDE to ``target`` or below at ``questions`` (default: the measured count); None if more
        than ``limit`` would be needed."""
        q = questions or self.questions
        return next((s for s in range(2, limit + 1) if self.mde(s, q) <= target), None)

    def questions_for(self, target: float, seeds: int | None = None, *, limit: int = 1_000_000) -> int | None:
        """The fewest questions that bring the MDE to ``target`` or below at ``seeds`` (default: the
        measured count); None when no count up to ``limit`` does (the seed term alone is too large)."""
        s = seeds or self.seeds
        if self.mde(s, limit) > target:
            return None
        lo, hi = 1, limit  # the MDE falls as questions grow: bisect for the first count at or below the target
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self.mde(s, mid) <= target else (mid + 1, hi)
        return lo


def components(outcomes: pl.DataFrame, better: str, worse: str, metric: str) -> Variance | None:
    """:func:`decompose` the paired differences ``better − worse`` on ``metric``, over the seeds and
    questions both arms have in full; None with fewer than two of either."""
    dm = _differences(outcomes, better, worse, metric)
    if dm is None:
        return None
    m, mask = dm
    seeds = mask.any(axis=1)  # seeds with any pair, then the questions every one of them has
    return decompose(m[seeds][:, mask[seeds].all(axis=0)])


def decompose(d: np.ndarray) -> Variance | None:
    """:class:`Variance` of a complete seeds × questions matrix by the method of moments (two-way
    ANOVA without replication; a negative estimate is set to 0); None with fewer than two seeds or
    questions."""
    n_s, n_q = d.shape
    if n_s < 2 or n_q < 2:
        return None
    grand = d.mean()
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    ms_seed = n_q * float(((rows - grand) ** 2).sum()) / (n_s - 1)
    ms_question = n_s * float(((cols - grand) ** 2).sum()) / (n_q - 1)
    ms_resid = float(((d - rows[:, None] - cols[None, :] + grand) ** 2).sum()) / ((n_s - 1) * (n_q - 1))
    return Variance(max(0.0, (ms_seed - ms_resid) / n_q), max(0.0, (ms_question - ms_resid) / n_s), ms_resid, n_s, n_q)
