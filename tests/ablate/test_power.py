"""The paired bootstrap behind every finding: its point estimate, interval, standard error and MDE."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mmdata.ablate.power import Z_ALPHA, Z_POWER, Variance, components, decompose, paired, per_question

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


# ------------------------------------------------------------------------------ planning power


def test_decompose_recovers_the_seed_question_and_residual_variance():
    rng = np.random.default_rng(3)
    s, q = 60, 400
    d = 0.02 + rng.normal(0, 0.05, (s, 1)) + rng.normal(0, 0.10, (1, q)) + rng.normal(0, 0.30, (s, q))
    v = decompose(d)
    assert (v.seeds, v.questions) == (s, q)
    assert v.seed == pytest.approx(0.05**2, rel=0.4)
    assert v.question == pytest.approx(0.10**2, rel=0.25)
    assert v.residual == pytest.approx(0.30**2, rel=0.05)
    assert decompose(d[:1]) is None and decompose(d[:, :1]) is None  # one seed or one question: no split
    assert decompose(np.zeros((3, 5))) == Variance(0.0, 0.0, 0.0, 3, 5)


def seeded_outcomes(seeds: int, questions: int, rng_seed: int = 0) -> pl.DataFrame:
    """Arm a beats arm b by an amount that moves with the seed (σ 6 pp) and with the question (σ 15 pp)."""
    rng = np.random.default_rng(rng_seed)
    q_eff = rng.normal(0, 0.15, questions)
    rows = []
    for s in range(seeds):
        s_eff = rng.normal(0, 0.06)
        for arm, p in (("a", np.clip(0.55 + s_eff + q_eff, 0.02, 0.98)), ("b", np.full(questions, 0.5))):
            right = rng.random((questions, len(LANGS))) < p[:, None]
            rows.append(pl.DataFrame({"arm": arm, "seed": s, "bench_set": "mmmb", "control": "none",
                                      "language": np.tile(LANGS, questions), "id": np.repeat(np.arange(questions), len(LANGS)),
                                      "category": "colour", "correct": right.ravel()}))  # fmt: skip
    return pl.concat(rows)


def test_the_split_predicts_the_bootstrap_the_report_prints():
    """Variance.se is the standard error paired()'s bootstrap gives at that design. Against the
    random-effects standard error, the bootstrap is too wide where the residual dominates (it counts
    it in both resamplings) and a little narrow where the seed part does ((S−1)/S of it)."""
    o = seeded_outcomes(6, 300)
    v = components(o, "a", "b", "mean")
    p = paired(o, "a", "b", "mean", resamples=4000)
    assert (v.seeds, v.questions) == (6, 300) and v.seed > 0 and v.question > 0
    assert v.se(6, 300) == pytest.approx(p.se, rel=0.15)
    assert v.mde(6, 300) == pytest.approx((Z_ALPHA + Z_POWER) * v.se(6, 300))
    assert v.se(6, 300) < v.se_model(6, 300)
    flat = components(outcomes(0.5, 0.5, seeds=10, questions=300), "a", "b", "mean")  # residual only
    assert flat.se(10, 300) > 1.3 * flat.se_model(10, 300)
    assert components(o, "a", "missing-arm", "mean") is None


def test_plans_give_the_smallest_design_that_reaches_the_target():
    v = Variance(seed=0.0004, question=0.004, residual=0.07, seeds=3, questions=300)
    target = 0.03
    s = v.seeds_for(target)
    assert s is not None and s >= 2 and v.mde(s, 300) <= target and (s == 2 or v.mde(s - 1, 300) > target)
    q = v.questions_for(target)
    assert q is not None and v.mde(3, q) <= target < v.mde(3, q - 1)
    assert v.seeds_for(target, questions=3 * q) < s  # more questions, fewer seeds
    # a seed part this large: no number of questions is enough with three seeds, enough seeds are
    noisy = Variance(seed=0.01, question=0.004, residual=0.07, seeds=3, questions=300)
    assert noisy.questions_for(target) is None and noisy.seeds_for(target, limit=10_000) is not None
    assert noisy.seeds_for(target, limit=5) is None


def test_the_report_says_what_a_rerun_needs(tmp_path):
    from mmdata.ablate.report import build_plan, write_reports
    from mmdata.ablate.spec import AblationSpec

    spec = AblationSpec.model_validate({
        "name": "t", "recipe": "honeybee", "model": "tiny-cpu", "bench": {"per_language": 300}, "budget": {"stage1": 1, "stage2": 1},
        "arms": {"a": {}, "b": {}}, "seeds": [0, 1, 2, 3, 4, 5], "mde_target": 7,
        "findings": [{"better": "a", "worse": "b", "metric": "mean", "claim": "a helps"}],
    })  # fmt: skip
    o = seeded_outcomes(6, 300)
    (row,) = build_plan(spec, o)
    v = components(o, "a", "b", "mean")
    assert row[0] == "a helps" and row[1] == f"{v.seed**0.5 * 100:.1f}"
    assert row[5] == f"{v.seeds_for(0.07)} (at 300 per language)"
    assert row[6] == f"{v.questions_for(0.07):,} (with 6 seeds)"
    assert build_plan(spec, o.filter(pl.col("seed") == 0)) == []  # one seed: nothing to split
    rows = [{"arm": a, "metric": "mean", "seed": s, "value": 0.5} for a in "ab" for s in range(6)]
    meta = {"seeds": list(range(6)), "command": "mmdata ablate t", "commit": "abc", "wall_s": 1.0, "ran": 1, "cached": 0}
    write_reports(tmp_path, spec, rows, meta, o)
    md = (tmp_path / "report.md").read_text()
    assert "## Power: what a rerun needs" in md and "an MDE of 7 pp" in md and "| a helps | " in md
    assert "Power: what a rerun needs" in (tmp_path / "report.html").read_text()
