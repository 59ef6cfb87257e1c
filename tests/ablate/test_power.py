"""The paired bootstrap behind every finding: its point estimate, interval, standard error and MDE."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mmdata.ablate.power import Z_ALPHA, Z_POWER, paired, per_question

LANGS = ("en", "zh", "pt", "ar", "tr", "ru")


def outcomes(p_a: float, p_b: float, *, seeds: int = 3, questions: int = 400, shared: bool = False, rng_seed: int = 0) -> pl.DataFrame:
    """Synthetic outcome rows for two arms: question q in language l is right with probability p_arm
    (``shared``: both arms see the same uniform per (seed, q, l), so the outcomes are strongly paired)."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for s in range(seeds):
        u = rng.random((questions, len(LANGS)))
        for arm, p in (("a", p_a), ("b", p_b)):
            uu = u if shared else rng.random((questions, len(LANGS)))
            for control in ("none", "shuffled"):
                right = (uu < (p if control == "none" else 0.25)).ravel()
                rows.append(pl.DataFrame({
                    "arm": arm, "seed": s, "bench_set": "mmmb", "control": control,
                    "language": np.tile(LANGS, questions), "id": np.repeat(np.arange(questions), len(LANGS)),
                    "category": "colour", "correct": right,
                }))  # fmt: skip
    return pl.concat(rows)


def test_an_effect_well_above_the_mde_is_reproduced_and_its_ci_covers_the_truth():
    o = outcomes(0.60, 0.50)
    r = paired(o, "a", "b", "mean", resamples=1000)
    assert r.delta == pytest.approx(0.10, abs=0.02)
    assert r.lo < 0.10 < r.hi and r.lo > 0 and r.verdict == "reproduced"
    assert r.mde == pytest.approx((Z_ALPHA + Z_POWER) * r.se)
    assert (r.seeds, r.questions) == (3, 400)
    flipped = paired(o, "b", "a", "mean", resamples=1000)
    assert flipped.delta == pytest.approx(-r.delta) and flipped.verdict == "contradicted"


def test_no_effect_is_inconclusive_and_the_mde_shrinks_with_more_questions():
    small = paired(outcomes(0.5, 0.5, questions=100), "a", "b", "mean", resamples=1000)
    large = paired(outcomes(0.5, 0.5, questions=1600), "a", "b", "mean", resamples=1000)
    assert small.lo <= 0 <= small.hi and small.verdict.startswith("inconclusive")
    assert large.mde < small.mde / 3  # 16x the questions: about a quarter of the standard error


def test_pairing_narrows_the_interval():
    """Same seeds and questions: arms that agree item by item have a far tighter paired CI."""
    indep = paired(outcomes(0.55, 0.50), "a", "b", "mean", resamples=1000)
    shared = paired(outcomes(0.55, 0.50, shared=True), "a", "b", "mean", resamples=1000)
    assert shared.hi - shared.lo < 0.6 * (indep.hi - indep.lo)


def test_metrics_select_languages_and_the_control():
    o = outcomes(0.7, 0.5, seeds=1, questions=50)
    en = per_question(o, "a", "en")
    assert en.height == 50 and set(en.columns) == {"seed", "id", "value"}
    assert set(en["value"].unique().to_list()) <= {0.0, 1.0}  # one language: each value is one outcome
    gap = per_question(o, "a", "image_use_gap")
    real, shuf = per_question(o, "a", "mean"), per_question(o, "a", "shuffled_mean")
    assert gap["value"].to_list() == pytest.approx((real["value"] - shuf["value"]).to_list())
    assert paired(o, "a", "missing-arm", "mean") is None
