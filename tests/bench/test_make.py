"""The synthetic MMMB generator: aligned, balanced, without shortcuts, deterministic, circular copies, spec in sync."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from mmdata.bench.make import L2_CATEGORY, SPATIAL, VERSION, make_benchmark, rotate
from mmdata.bench.tsv import CIRCULAR_STRIDE, load_benchmark
from mmdata.io import sha256_file
from mmdata.schema import LANGUAGES
from mmdata.world.lexicon import BACKGROUNDS, CATEGORIES, COLOURS, QUADRANTS, RELATIONS, SHAPES
from mmdata.world.qa import COUNT_DOMAIN, TOTAL_DOMAIN, answer_domain, n_options, value_text
from mmdata.world.scene import OCR_WORDS

from .conftest import ROOT, cli


def test_layout_and_manifest(bench):
    info = json.loads((bench / "benchmark.json").read_text())
    assert info["kind"] == "mmdata-benchmark" and info["per_language"] == 30 and info["languages"] == list(LANGUAGES)
    names = {"MMMB_en", "MMMB_cn", "MMMB_pt", "MMMB_ar", "MMMB_tr", "MMMB_ru"}
    assert {p.stem for p in (bench / "mmmb").glob("*.tsv")} == names
    assert {p.stem for p in (bench / "mmbench").glob("*.tsv")} == {n.replace("MMMB", "MMBench") for n in names}
    for rel, sha in info["files"].items():
        assert sha256_file(bench / rel) == sha
    assert set(info["categories"]) == set(CATEGORIES)
    assert info["prompt_version"] == "mmmb-v1"


def test_questions_are_aligned_across_languages(bench):
    b = load_benchmark(bench / "mmmb")
    assert b.name == "mmmb-synthetic/mmmb" and not b.circular and b.languages == list(LANGUAGES)
    by_lang = {lang: {it.index: it for it in b.items if it.language == lang} for lang in LANGUAGES}
    en = by_lang["en"]
    assert len(en) == 30
    for lang in LANGUAGES:
        assert set(by_lang[lang]) == set(en)
        for i, it in by_lang[lang].items():
            ref = en[i]
            assert it.answer == ref.answer and it.category == ref.category and it.image == ref.image
            n = n_options(it.category)
            assert list(it.options) == list("ABCD"[:n]) and len(set(it.options.values())) == n
            assert it.language == lang
    zh = by_lang["zh"][0]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.question)  # really translated, not copied
    assert any("\u0600" <= ch <= "\u06ff" for ch in by_lang["ar"][0].question)


def test_categories_balanced_and_answers_spread(bench):
    b = load_benchmark(bench / "mmmb")
    en = [it for it in b.items if it.language == "en"]
    counts = Counter(it.category for it in en)
    assert set(counts) == set(CATEGORIES) and max(counts.values()) - min(counts.values()) <= 1
    assert all(it.l2_category == L2_CATEGORY[it.category] for it in en)
    assert set(SPATIAL) == {"position", "spatial_relation", "closest", "extreme"}
    letters = Counter(it.answer for it in en)
    assert len(letters) == 4  # the shuffle moves the answer around


def test_circular_set(bench):
    c = load_benchmark(bench / "mmbench")
    assert c.circular and c.name == "mmmb-synthetic/mmbench"
    en = [it for it in c.items if it.language == "en"]
    groups = {}
    for it in en:
        groups.setdefault(it.group, []).append(it)
    assert len(en) == sum(n_options(r.category) for r in en if r.index == r.group)  # one rotation per option
    for g, rows in groups.items():
        assert sorted(r.index for r in rows) == [g + k * CIRCULAR_STRIDE for k in range(n_options(rows[0].category))]
        base = next(r for r in rows if r.index == g)
        for r in rows:
            rot = rotate(base, r.index // CIRCULAR_STRIDE)
            assert (r.options, r.answer) == (rot.options, rot.answer)
            assert r.options[r.answer] == base.options[base.answer]  # the answer text travels with the rotation
            assert r.image == base.image
    # rotated rows store the base row's index instead of a second copy of the image
    lines = (bench / "mmbench" / "MMBench_en.tsv").read_text().splitlines()
    assert lines[2].split("\t")[0] == "1000000" and lines[2].split("\t")[-1] == "0"


def test_mmbench_rotation_matches_mmbench_convention():
    from mmdata.bench.tsv import Item

    base = Item(7, "q", {"A": "a", "B": "b", "C": "c", "D": "d"}, "B", "en", group=7)
    r1 = rotate(base, 1)
    assert r1.index == 1_000_007 and r1.options == {"A": "d", "B": "a", "C": "b", "D": "c"} and r1.answer == "C"


def test_deterministic(world, bench, tmp_path):
    again = tmp_path / "again"
    make_benchmark(world, again, 30)
    files = sorted(p for p in bench.rglob("*") if p.is_file() and p.name != ".mmdata-output.json")
    assert len(files) == 13 and (bench / ".mmdata-output.json").is_file()
    for p in files:
        assert p.read_bytes() == (again / p.relative_to(bench)).read_bytes(), p


def test_spec_file_documents_the_generator():
    spec = yaml.safe_load((ROOT / "mmdata" / "presets" / "benchmarks" / "mmmb-synthetic.yaml").read_text())
    assert spec["name"] == "mmmb-synthetic" and spec["version"] == VERSION
    assert list(spec["languages"]) == list(LANGUAGES)
    assert list(spec["categories"]) == list(CATEGORIES)
    for c, d in spec["categories"].items():
        assert d["l2"] == L2_CATEGORY[c] and d["definition"]
    assert spec["prompt_version"] == "mmmb-v1"
    assert "mmdata bench make" in spec["regenerate"]


def test_cli_make(world, tmp_path):
    r = cli("bench", "make", "--world", world, "--out", tmp_path / "b", "--per-language", 15)
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "b" / "mmmb" / "MMMB_tr.tsv").read_text().splitlines()) == 16
    r = cli("bench", "make", "--world", tmp_path / "nowhere", "--out", tmp_path / "c")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "world.json" in r.stderr
    assert not (tmp_path / "c").exists() and not list(Path(tmp_path).glob(".c.*"))


# ----------------------------------------------------------------------------- without shortcuts

VOCAB = {  # the English texts of each category's answer space
    "colour": {value_text(("colour", c), "en") for c in COLOURS},
    "shape": {value_text(("shape", x), "en") for x in SHAPES},
    "background": {value_text(("colour", b), "en") for b in BACKGROUNDS},
    "count": {str(n) for n in COUNT_DOMAIN},
    "total_count": {str(n) for n in TOTAL_DOMAIN},
    "position": {value_text(("quadrant", q), "en") for q in QUADRANTS},
    "spatial_relation": {value_text(("relation", r), "en") for r in RELATIONS},
    "ocr": set(OCR_WORDS),
}
VOCAB |= {"extreme": VOCAB["colour"], "comparison": VOCAB["shape"], "colour_count": VOCAB["count"]}
OBJECTS = ("size", "existence", "closest", "same_colour")  # answers are objects; balanced over their shape


def _en(b) -> list:
    return [it for it in load_benchmark(b / "mmmb").items if it.language == "en"]


def _gold_value(it) -> str:
    text = it.options[it.answer]
    return text.split()[-1] if it.category in OBJECTS else text  # "red star" -> star


def test_distractors_come_from_the_golds_own_answer_space(big_bench):
    shapes = VOCAB["shape"]
    for it in _en(big_bench):
        texts = list(it.options.values())
        if it.category in VOCAB:
            assert set(texts) <= VOCAB[it.category], (it.category, texts)
        elif it.category == "same_colour":  # objects named without their colour (the colour is the question)
            assert all(t.split()[-1] in shapes and not set(t.split()) & VOCAB["colour"] for t in texts), texts
        else:  # "<colour> <shape>"
            assert all(len(t.split()) == 2 and t.split()[0] in VOCAB["colour"] and t.split()[1] in shapes for t in texts), texts
        if it.category in ("background", "count", "colour_count", "total_count", "position", "spatial_relation"):
            assert set(texts) == VOCAB[it.category]  # the whole (small) answer space every time


def test_gold_answers_and_positions_are_balanced_per_half(big_bench):
    items = _en(big_bench)
    for cat in CATEGORIES:
        rows = [it for it in items if it.category == cat]
        for half in (0, 1):
            mine = [it for it in rows if (it.index // len(CATEGORIES)) % 2 == half]
            golds = Counter(_gold_value(it) for it in mine)
            assert len(golds) == len(answer_domain(cat)), (cat, golds)  # every value of the answer space is gold
            assert max(golds.values()) - min(golds.values()) <= 1, (cat, golds)
            letters = Counter(it.answer for it in mine)
            assert len(letters) == n_options(cat) and max(letters.values()) - min(letters.values()) <= 1, (cat, letters)


def test_numeric_gold_sits_uniformly_among_its_options_and_order_varies(big_bench):
    items = _en(big_bench)
    for cat in ("count", "colour_count", "total_count"):
        rows = [it for it in items if it.category == cat]
        ranks = Counter(sorted(int(t) for t in it.options.values()).index(int(it.options[it.answer])) for it in rows)
        assert sorted(ranks) == [0, 1, 2, 3] and max(ranks.values()) - min(ranks.values()) <= 2, (cat, ranks)
        orders = Counter(tuple(it.options.values()) for it in rows)
        assert len(orders) >= 12 and max(orders.values()) < len(rows) / 6, (cat, orders.most_common(3))  # never fixed


def test_no_option_text_is_tied_to_a_letter(big_bench):
    """Each distractor text lands on every letter: no padding word always comes first."""
    items = _en(big_bench)
    for cat in CATEGORIES:
        at: dict[str, Counter] = {}
        for it in (it for it in items if it.category == cat):
            for letter, t in it.options.items():
                if letter != it.answer:
                    at.setdefault(t, Counter())[letter] += 1
        for t, letters in at.items():
            if sum(letters.values()) >= 20:
                assert max(letters.values()) / sum(letters.values()) < 0.6, (cat, t, letters)
