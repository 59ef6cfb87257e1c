"""The synthetic MMMB generator: aligned, balanced, deterministic, circular copies, spec in sync."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from mmdata.bench.make import L2_CATEGORY, SPATIAL, make_benchmark, rotate
from mmdata.bench.tsv import CIRCULAR_STRIDE, load_benchmark
from mmdata.io import sha256_file
from mmdata.schema import LANGUAGES
from mmdata.world.lexicon import CATEGORIES

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
            assert list(it.options) == ["A", "B", "C", "D"] and len(set(it.options.values())) == 4
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
    assert len(en) == 4 * 30
    groups = {}
    for it in en:
        groups.setdefault(it.group, []).append(it)
    for g, rows in groups.items():
        assert sorted(r.index for r in rows) == [g + k * CIRCULAR_STRIDE for k in range(4)]
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
    files = sorted(p for p in bench.rglob("*") if p.is_file())
    assert len(files) == 13
    for p in files:
        assert p.read_bytes() == (again / p.relative_to(bench)).read_bytes(), p


def test_spec_file_documents_the_generator():
    spec = yaml.safe_load((ROOT / "mmdata" / "presets" / "benchmarks" / "mmmb-synthetic.yaml").read_text())
    assert spec["name"] == "mmmb-synthetic"
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
