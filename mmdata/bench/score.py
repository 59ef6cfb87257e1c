"""Scores: vanilla per-row accuracy (MMMB), CircularEval (MMBench), the cross-language figures and
bootstrap confidence intervals.

Reported (``scores.json``): ``overall`` (language → accuracy; circular accuracy for circular sets),
``by_category`` (language → category → accuracy), ``mean`` over languages, ``mean_non_en`` (all but
English, the convention multilingual papers disagree on, so both are given), ``consistency`` (the share
of aligned items answered correctly in every language; items align by ``index`` / circular group),
``extraction_failures`` (language → rows whose answer could not be extracted; they are scored wrong),
``by_category_mean`` (category → mean over languages), ``ci`` (95 % percentile bootstrap intervals, also
``ci.by_category`` per language and category and ``ci.by_category_mean``), ``chance``
(language → a uniform guesser's expected score: the mean of 1/options per row, or of (1/options)^rotations
per circular group) with ``chance_mean``, and, for circular sets, ``circular`` and ``vanilla`` (every row
scored on its own, all rotations included).

The image-use control (:func:`summarise_control`, ``bench run --control shuffled``) adds ``shuffled``
(language → accuracy with every image swapped for another of the same category), ``shuffled_by_category``,
``shuffled_mean``, ``shuffled_mean_non_en`` and ``image_use_gap`` = ``mean − shuffled_mean``, with paired
bootstrap intervals in ``ci.shuffled_mean`` and ``ci.image_use_gap`` (the same units resampled in both).

Bootstrap: outcomes are 0/1, so resampling n units with replacement is the same as drawing how many
times each distinct outcome pattern (across languages) is picked — a multinomial over at most 2^L
patterns. That keeps 1,000 resamples exact and fast. When every language has the same units (aligned
benchmarks) the languages are resampled jointly (paired), which the means and consistency need;
otherwise each language is resampled on its own. Seeded; the seed and count are stored in ``ci``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmdata.bench.circular import circular_outcomes
from mmdata.bench.extract import Extraction
from mmdata.schema import LANGUAGES

RESAMPLES = 1000
SEED = 0


@dataclass
class Units:
    """One language's scoring units: rows (vanilla) or circular groups, with their 0/1 outcome."""

    ids: np.ndarray
    correct: np.ndarray
    categories: list[str]
    n_rows: int
    failures: int
    hits: np.ndarray  # correct rows per unit (circular: 0…rotations)
    sizes: np.ndarray  # rows per unit (1 for vanilla)
    chance: np.ndarray  # a uniform guesser's expected outcome per unit


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def percentile_ci(draws: np.ndarray) -> list[float]:
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return [_r(lo), _r(hi)]


def units_by_language(items: Sequence, extractions: Sequence[Extraction], circular: bool) -> dict[str, Units]:
    """Group rows per language into scoring units (rows, or circular groups)."""
    out: dict[str, Units] = {}
    for lang in LANGUAGES:
        pos = [i for i, it in enumerate(items) if it.language == lang]
        if not pos:
            continue
        rows = [items[i] for i in pos]
        correct = np.array([extractions[i].letter == items[i].answer for i in pos], dtype=bool)
        failures = sum(extractions[i].failed for i in pos)
        if circular:
            groups = np.array([it.group for it in rows], dtype=np.int64)
            ids, ok, sizes = circular_outcomes(groups, correct)
            hits = np.bincount(np.searchsorted(ids, groups), weights=correct, minlength=len(ids))
            cat = {}
            for it in rows:  # the base row names the category; any row will do when it is missing
                if it.group not in cat or it.index == it.group:
                    cat[it.group] = it.category or "none"
            p = np.ones(len(ids))
            np.multiply.at(p, np.searchsorted(ids, groups), [1 / len(it.options) for it in rows])
            out[lang] = Units(ids, ok, [cat[g] for g in ids.tolist()], len(rows), failures, hits, sizes, p)
        else:
            ids = np.array([it.index for it in rows], dtype=np.int64)
            ones = np.ones(len(rows), dtype=np.int64)
            out[lang] = Units(ids, correct, [it.category or "none" for it in rows], len(rows), failures,
                              correct.astype(np.int64), ones, np.array([1 / len(it.options) for it in rows]))  # fmt: skip
    return out


def pattern_draws(matrix: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Bootstrap draws of column means of a 0/1 matrix (n units × L), resampling rows jointly."""
    n = matrix.shape[0]
    patterns, counts = np.unique(matrix, axis=0, return_counts=True)
    picks = rng.multinomial(n, counts / n, size=resamples)  # resamples × patterns
    return picks @ patterns.astype(np.float64) / n  # resamples × L


def _ratio_draws(hits: np.ndarray, sizes: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Bootstrap draws of sum(hits)/sum(sizes), resampling units (e.g. a circular group's rotations)."""
    pairs, counts = np.unique(np.stack([hits, sizes], axis=1), axis=0, return_counts=True)
    picks = rng.multinomial(len(hits), counts / len(hits), size=resamples)
    return (picks @ pairs[:, 0].astype(np.float64)) / (picks @ pairs[:, 1].astype(np.float64))


def summarise(units: dict[str, Units], *, circular: bool, resamples: int = RESAMPLES, seed: int = SEED) -> dict:
    """The reported figures (everything in ``scores.json`` except the run's identity)."""
    langs = list(units)
    rng = np.random.default_rng(seed)
    overall = {lang: _r(u.correct.mean()) for lang, u in units.items()}
    by_category: dict[str, dict[str, float]] = {}
    for lang, u in units.items():
        cats = np.array(u.categories, dtype=object)
        by_category[lang] = {c: _r(u.correct[cats == c].mean()) for c in sorted(set(u.categories))}
    non_en = [lang for lang in langs if lang != "en"]
    mean = _r(np.mean([overall[lang] for lang in langs]))
    mean_non_en = _r(np.mean([overall[lang] for lang in non_en])) if non_en else None

    # ---- bootstrap: joint over aligned units, else per language
    aligned = len(langs) > 1 and all(np.array_equal(units[lang].ids, units[langs[0]].ids) for lang in langs)
    if aligned or len(langs) == 1:
        draws = pattern_draws(np.stack([units[lang].correct for lang in langs], axis=1), rng, resamples)
    else:
        draws = np.stack([pattern_draws(u.correct[:, None], rng, resamples)[:, 0] for u in units.values()], axis=1)
    ci: dict = {"method": "percentile bootstrap", "resamples": resamples, "seed": seed, "level": 0.95}
    ci["overall"] = {lang: percentile_ci(draws[:, j]) for j, lang in enumerate(langs)}
    cat_rng = np.random.default_rng([seed, 2])  # its own stream: the other intervals do not move
    masks = {lang: np.array(u.categories, dtype=object) for lang, u in units.items()}
    ci["by_category"] = {lang: {c: percentile_ci(pattern_draws(u.correct[masks[lang] == c][:, None], cat_rng, resamples)[:, 0])
                                for c in by_category[lang]} for lang, u in units.items()}  # fmt: skip
    # each category's mean over languages (the cross-model view), resampled jointly when aligned
    cats_all = sorted({c for lang in langs for c in by_category[lang]})
    by_category_mean, ci["by_category_mean"] = {}, {}
    for c in cats_all:
        have = [lang for lang in langs if c in by_category[lang]]
        by_category_mean[c] = _r(np.mean([by_category[lang][c] for lang in have]))
        cols = [units[lang].correct[masks[lang] == c] for lang in have]
        if aligned:
            d = pattern_draws(np.stack(cols, axis=1), cat_rng, resamples).mean(axis=1)
        else:
            d = np.stack([pattern_draws(x[:, None], cat_rng, resamples)[:, 0] for x in cols], axis=1).mean(axis=1)
        ci["by_category_mean"][c] = percentile_ci(d)
    ci["mean"] = percentile_ci(draws.mean(axis=1))
    ci["mean_non_en"] = percentile_ci(draws[:, [langs.index(x) for x in non_en]].mean(axis=1)) if non_en else None

    # ---- consistency over the units present in every language
    consistency = None
    ci["consistency"] = None
    if len(langs) > 1:
        common = units[langs[0]].ids
        for lang in langs[1:]:
            common = np.intersect1d(common, units[lang].ids)
        if len(common):
            if aligned:
                cols = [units[lang].correct for lang in langs]
            else:
                cols = [units[lang].correct[_positions(units[lang].ids, common)] for lang in langs]
            all_ok = np.logical_and.reduce(cols)
            consistency = _r(all_ok.mean())
            ci["consistency"] = percentile_ci(pattern_draws(all_ok[:, None], rng, resamples)[:, 0])
    scores = {
        "overall": overall,
        "by_category": by_category,
        "by_category_mean": by_category_mean,
        "mean": mean,
        "mean_non_en": mean_non_en,
        "consistency": consistency,
        "extraction_failures": {lang: int(u.failures) for lang, u in units.items()},
        "ci": ci,
        "n_items": {lang: int(u.n_rows) for lang, u in units.items()},
        "chance": {lang: _r(u.chance.mean()) for lang, u in units.items()},
        "chance_mean": _r(np.mean([u.chance.mean() for u in units.values()])),
    }
    if circular:
        scores["circular"] = dict(overall)
        scores["vanilla"] = {lang: _r(u.hits.sum() / u.sizes.sum()) for lang, u in units.items()}
        ci["vanilla"] = {lang: percentile_ci(_ratio_draws(u.hits, u.sizes, rng, resamples)) for lang, u in units.items()}
    return scores


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    order = np.argsort(ids, kind="stable")
    return order[np.searchsorted(ids, wanted, sorter=order)]


def summarise_control(real: dict[str, Units], control: dict[str, Units], *, resamples: int = RESAMPLES,
                      seed: int = SEED) -> dict:  # fmt: skip
    """The image-use control beside the real scores: ``shuffled*`` figures and ``image_use_gap``.

    ``control`` holds the same units as ``real`` (the same questions, other images). The gap's interval
    resamples units jointly in both runs (paired); aligned languages are resampled together.
    """
    langs = [lang for lang in real if lang in control]
    for lang in langs:
        if not np.array_equal(real[lang].ids, control[lang].ids):
            raise ValueError(f"control units differ from the real run's for {lang}")
    rng = np.random.default_rng([seed, 1])
    shuffled = {lang: _r(control[lang].correct.mean()) for lang in langs}
    by_category = {}
    for lang in langs:
        cats = np.array(control[lang].categories, dtype=object)
        by_category[lang] = {c: _r(control[lang].correct[cats == c].mean()) for c in sorted(set(control[lang].categories))}
    non_en = [j for j, lang in enumerate(langs) if lang != "en"]
    aligned = all(np.array_equal(real[lang].ids, real[langs[0]].ids) for lang in langs)
    if aligned:
        m = np.stack([real[lang].correct for lang in langs] + [control[lang].correct for lang in langs], axis=1)
        d = pattern_draws(m, rng, resamples)
        r_draws, c_draws = d[:, : len(langs)], d[:, len(langs) :]
    else:
        pairs = [pattern_draws(np.stack([real[lang].correct, control[lang].correct], axis=1), rng, resamples) for lang in langs]
        r_draws = np.stack([p[:, 0] for p in pairs], axis=1)
        c_draws = np.stack([p[:, 1] for p in pairs], axis=1)
    real_mean = float(np.mean([real[lang].correct.mean() for lang in langs]))
    ctrl_mean = float(np.mean([control[lang].correct.mean() for lang in langs]))
    return {
        "shuffled": shuffled,
        "shuffled_by_category": by_category,
        "shuffled_mean": _r(ctrl_mean),
        "shuffled_mean_non_en": _r(np.mean([shuffled[langs[j]] for j in non_en])) if non_en else None,
        "image_use_gap": _r(real_mean - ctrl_mean),
        "image_use_gap_by_language": {lang: _r(real[lang].correct.mean() - control[lang].correct.mean()) for lang in langs},
        "ci": {
            "shuffled": {lang: percentile_ci(c_draws[:, j]) for j, lang in enumerate(langs)},
            "shuffled_mean": percentile_ci(c_draws.mean(axis=1)),
            "image_use_gap": percentile_ci(r_draws.mean(axis=1) - c_draws.mean(axis=1)),
        },
    }
