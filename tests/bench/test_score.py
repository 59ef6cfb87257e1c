"""Scores of the scripted models, CircularEval semantics, consistency and bootstrap CIs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmdata.bench.circular import circular_outcomes, expected_random
from mmdata.bench.extract import FAILED, Extraction
from mmdata.bench.make import make_benchmark
from mmdata.bench.run import run_benchmark
from mmdata.bench.score import summarise, units_by_language
from mmdata.bench.tsv import Item, load_benchmark
from mmdata.schema import LANGUAGES

KEYS = {"overall", "by_category", "by_category_mean", "mean", "mean_non_en", "consistency", "extraction_failures", "ci",
        "prompt_version", "extractor_version", "model", "model_fingerprint", "answer_method", "checkpoint", "benchmark", "limit",
        "control", "n_items", "chance", "chance_mean"}  # fmt: skip


def test_oracle_scores_100_everywhere(bench, tmp_path):
    for kind in ("mmmb", "mmbench"):
        s = run_benchmark(bench / kind, "oracle", tmp_path / kind, db=None).scores
        assert set(s) == KEYS | ({"circular", "vanilla"} if kind == "mmbench" else set())
        assert s["overall"] == dict.fromkeys(LANGUAGES, 1.0)
        assert all(v == 1.0 for cats in s["by_category"].values() for v in cats.values())
        assert len(s["by_category"]["ar"]) == 15
        assert s["mean"] == s["mean_non_en"] == s["consistency"] == 1.0
        assert s["extraction_failures"] == dict.fromkeys(LANGUAGES, 0)
        assert s["ci"]["mean"] == [1.0, 1.0]
        assert s["prompt_version"] == "mmmb-v1" and s["extractor_version"] == "mmdata-extract-v1"
        assert s["model"] == "oracle" and s["benchmark"] == f"mmmb-synthetic/{kind}"
        on_disk = json.loads((tmp_path / kind / "scores.json").read_text())
        assert on_disk == json.loads(json.dumps(s))


def test_constant_scores_the_share_of_its_letter(bench, tmp_path):
    b = load_benchmark(bench / "mmmb")
    for letter in "AD":
        s = run_benchmark(b, f"constant:{letter}", tmp_path / letter, db=None).scores
        for lang in LANGUAGES:
            rows = [it for it in b.items if it.language == lang]
            share = sum(it.answer == letter for it in rows) / len(rows)
            assert s["overall"][lang] == pytest.approx(share, abs=1e-6)
            for cat, v in s["by_category"][lang].items():
                cat_rows = [it for it in rows if it.category == cat]
                assert v == pytest.approx(sum(it.answer == letter for it in cat_rows) / len(cat_rows), abs=1e-6)
        # aligned items share the answer letter, so consistency equals the share too
        assert s["consistency"] == pytest.approx(s["overall"]["en"], abs=1e-6)
    c = run_benchmark(bench / "mmbench", "constant:A", tmp_path / "c", db=None).scores
    assert c["circular"] == dict.fromkeys(LANGUAGES, 0.0)  # one letter cannot be right in all rotations
    cb = load_benchmark(bench / "mmbench")
    en = [it for it in cb.items if it.language == "en"]
    groups = len({it.group for it in en})
    # each base question puts its answer on A exactly once (four rotations, three for background)
    assert c["vanilla"] == dict.fromkeys(LANGUAGES, pytest.approx(groups / len(en), abs=1e-6))


@pytest.fixture(scope="module")
def big(world, tmp_path_factory):
    d = tmp_path_factory.mktemp("big") / "b"
    make_benchmark(world, d, 1000)
    return d


def test_random_is_near_chance_with_covering_ci(big, tmp_path):
    v = run_benchmark(big / "mmmb", "random:11", tmp_path / "v", db=None, batch_size=256).scores
    b = load_benchmark(big / "mmmb")
    chance = sum(1 / len(it.options) for it in b.items if it.language == "en") / 1000  # 1/4, 1/3 for background
    assert v["chance"] == dict.fromkeys(LANGUAGES, pytest.approx(chance, abs=1e-6)) and 0.25 < chance < 0.26
    for lang in LANGUAGES:
        assert abs(v["overall"][lang] - chance) < 0.05
    lo, hi = v["ci"]["mean"]
    assert lo <= chance <= hi and hi - lo < 0.05
    assert v["consistency"] < 0.01  # (1/4)^6 for independent guesses
    c = run_benchmark(big / "mmbench", "random:11", tmp_path / "c", db=None, batch_size=256).scores
    assert expected_random(4) == 1 / 256
    chance = c["chance_mean"]  # (1/4)^4 per question, (1/3)^3 for background
    assert expected_random(4) < chance < expected_random(3)
    for lang in LANGUAGES:
        assert c["circular"][lang] < 0.02
        assert abs(c["vanilla"][lang] - 0.25) < 0.05
        vlo, vhi = c["ci"]["vanilla"][lang]
        assert vlo < c["vanilla"][lang] < vhi
    lo, hi = c["ci"]["mean"]
    assert lo <= chance <= hi and hi < 0.02
    cb = load_benchmark(big / "mmbench")
    assert c["n_items"] == dict.fromkeys(LANGUAGES, sum(it.language == "en" for it in cb.items))


def _items(lang: str, n: int, circular: bool = False) -> list[Item]:
    out = []
    for g in range(n):
        for k in range(4 if circular else 1):
            out.append(Item(g + k * 1_000_000, "q", {"A": "a", "B": "b", "C": "c", "D": "d"}, "A", lang,
                            category="x" if g % 2 else "y", group=g))  # fmt: skip
    return out


def test_circular_group_counts_only_if_every_rotation_is_right():
    ids, ok, sizes = circular_outcomes(np.array([1, 1, 1, 1, 2, 2, 2, 2]), np.array([1, 1, 1, 1, 1, 1, 1, 0], bool))
    assert ids.tolist() == [1, 2] and ok.tolist() == [True, False] and sizes.tolist() == [4, 4]
    items = _items("en", 2, circular=True)
    # group 0 all right; group 1: three right and one extraction failure -> the group is wrong (no guess)
    ex = [Extraction("A", "letter")] * 4 + [Extraction("A", "letter")] * 3 + [FAILED]
    s = summarise(units_by_language(items, ex, True), circular=True)
    assert s["circular"] == {"en": 0.5} and s["vanilla"] == {"en": 0.875} and s["extraction_failures"] == {"en": 1}
    assert s["by_category"]["en"] == {"x": 0.0, "y": 1.0}


def test_consistency_and_means():
    items = _items("en", 4) + _items("zh", 4) + _items("ar", 4)
    right = Extraction("A", "letter")
    wrong = Extraction("B", "letter")
    # en: all right; zh: items 0,1 right; ar: items 1,2 right -> only item 1 right everywhere
    pattern = {"en": [1, 1, 1, 1], "zh": [1, 1, 0, 0], "ar": [0, 1, 1, 0]}
    ex = [right if pattern[it.language][it.index] else wrong for it in items]
    s = summarise(units_by_language(items, ex, False), circular=False)
    assert s["overall"] == {"en": 1.0, "zh": 0.5, "ar": 0.5}
    assert s["mean"] == pytest.approx(2 / 3, abs=1e-6) and s["mean_non_en"] == 0.5
    assert s["consistency"] == 0.25
    lo, hi = s["ci"]["consistency"]
    assert 0.0 <= lo <= 0.25 <= hi <= 1.0
    assert s["ci"]["resamples"] == 1000 and s["ci"]["seed"] == 0
    again = summarise(units_by_language(items, ex, False), circular=False)
    assert again == s  # seeded: identical CIs


def test_consistency_uses_only_items_present_in_every_language():
    items = _items("en", 4) + _items("pt", 2)
    ex = [Extraction("A", "letter")] * len(items)
    s = summarise(units_by_language(items, ex, False), circular=False)
    assert s["consistency"] == 1.0 and s["n_items"] == {"en": 4, "pt": 2}


def test_bootstrap_matches_the_normal_approximation():
    rng = np.random.default_rng(3)
    n = 2000
    items = _items("en", n)
    hits = rng.random(n) < 0.3
    ex = [Extraction("A" if h else "B", "letter") for h in hits]
    s = summarise(units_by_language(items, ex, False), circular=False)
    p = s["overall"]["en"]
    lo, hi = s["ci"]["overall"]["en"]
    half = 1.96 * np.sqrt(p * (1 - p) / n)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    assert lo < p < hi


def test_ablation_metrics_read_a_circular_sets_scores(bench, tmp_path):
    """The ablation runner's metrics accept the harness's CircularEval scores (a mapping per language):
    ``circular`` is their mean over languages. (Every -gpu suite scores MMBench; this once crashed.)"""
    from mmdata.ablate.results import metrics_from_scores

    s = run_benchmark(bench / "mmbench", "oracle", tmp_path / "o", db=None).scores
    assert metrics_from_scores(s, "mmbench") == {"circular": 1.0}
    s = run_benchmark(bench / "mmbench", "constant:A", tmp_path / "a", db=None).scores
    assert metrics_from_scores(s, "mmbench") == {"circular": pytest.approx(np.mean(list(s["circular"].values())))}
