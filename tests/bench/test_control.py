"""The image-use control (`bench run --control shuffled`): a deterministic within-category derangement,
cached apart from the real run, and a gap that only a model reading the image can show."""

from __future__ import annotations

import json
import random
from collections import Counter

import pyarrow.parquet as pq
import pytest

from mmdata.bench.control import shuffled_images
from mmdata.bench.make import make_benchmark
from mmdata.bench.run import PREDICTIONS, run_benchmark
from mmdata.bench.tsv import load_benchmark
from mmdata.schema import LANGUAGES
from mmdata.world.lexicon import BACKGROUNDS
from mmdata.world.qa import value_text
from mmdata.world.render import RGB

from .conftest import cli


class BackgroundReader:
    """A scripted model that looks at the image: background questions are answered from the colour of the
    top-left pixel (matched to the option in the row's language); anything else is a fixed guess per row."""

    uses_rows = True
    name = "test:background-reader"

    def generate(self, images, prompts, rows=()):
        out = []
        for ims, r in zip(images, rows, strict=True):
            if r.category == "background":
                px = ims[0].convert("RGB").getpixel((0, 0))
                bg = min(BACKGROUNDS, key=lambda b: sum((x - y) ** 2 for x, y in zip(RGB[b], px, strict=True)))
                word = value_text(("colour", bg), r.language)
                out.append(next((k for k, v in r.options.items() if v == word), "Z"))
            else:
                out.append(random.Random(f"{r.language}/{r.index}").choice(sorted(r.options)))
        return out


@pytest.fixture(scope="module")
def mid(world, tmp_path_factory):
    d = tmp_path_factory.mktemp("mid") / "b"
    make_benchmark(world, d, 450)  # 30 background questions per language
    return d


def test_derangement_within_category_same_for_every_language(bench):
    b = load_benchmark(bench / "mmbench")
    swapped, unchanged = shuffled_images(b.items)
    assert unchanged == 0 and len(swapped) == len(b.items)
    donors: dict[tuple[str, int], int] = {}
    owner = {it.image_key: (it.language, it.group) for it in b.items if it.index == it.group}
    for before, after in zip(b.items, swapped, strict=True):
        assert (after.index, after.question, after.options, after.answer) == (before.index, before.question, before.options, before.answer)
        assert after.image != before.image  # no item keeps its own picture
        lang, g = owner[after.image_key]
        assert lang == before.language
        donor = next(it for it in b.items if it.index == g and it.language == lang)
        assert donor.category == before.category  # swapped within its category
        donors[(before.language, before.group)] = g
    for lang in LANGUAGES:  # every language and every rotation gets the same donor
        assert {g: d for (la, g), d in donors.items() if la == lang} == {g: d for (la, g), d in donors.items() if la == "en"}
    per_cat = Counter(it.category for it in b.items if it.language == "en" and it.index == it.group)
    targets = Counter(donors[("en", g)] for g in {it.group for it in b.items})
    assert all(v == 1 for v in targets.values())  # a permutation: each image is shown exactly once more
    assert sum(per_cat.values()) == len(targets)
    again, _ = shuffled_images(load_benchmark(bench / "mmbench").items)
    assert [it.image_key for it in again] == [it.image_key for it in swapped]  # deterministic


def test_shared_images_are_skipped_and_a_lone_image_is_counted(mid):
    b = load_benchmark(mid / "mmmb")
    en = [it for it in b.items if it.language == "en" and it.category == "ocr"]
    a, c = en[0], en[1]
    c.image, c.image_key = a.image, a.image_key  # two questions about one picture
    swapped, unchanged = shuffled_images(en)
    assert unchanged == 0 and all(x.image != y.image for x, y in zip(en, swapped, strict=True))
    _, unchanged = shuffled_images([a, c])  # nothing else to swap with
    assert unchanged == 2


def test_a_model_that_reads_the_image_shows_a_gap(mid, tmp_path):
    res = run_benchmark(mid / "mmmb", BackgroundReader(), tmp_path / "r", db=None, control="shuffled", batch_size=64)
    s = res.scores
    assert res.computed == 2 * 6 * 450 and s["control"] == {"kind": "shuffled", "unchanged_rows": 0, "rows": 6 * 450}
    for lang in LANGUAGES:
        assert s["by_category"][lang]["background"] == 1.0  # it reads the real image
        assert s["shuffled_by_category"][lang]["background"] < 0.6  # another picture: about chance (1/3)
        others = {c: v for c, v in s["shuffled_by_category"][lang].items() if c != "background"}
        assert others == {c: v for c, v in s["by_category"][lang].items() if c != "background"}  # guesses ignore the image
    lo, hi = s["ci"]["image_use_gap"]
    assert s["image_use_gap"] == pytest.approx(s["mean"] - s["shuffled_mean"], abs=1e-6)
    assert 0 < lo <= s["image_use_gap"] <= hi
    assert abs(s["shuffled_mean"] - s["chance_mean"]) < 0.04  # the control sits at chance
    lo, hi = s["ci"]["shuffled_mean"]
    assert lo <= s["shuffled_mean"] <= hi and set(s["shuffled"]) == set(LANGUAGES)


class BlackImages:
    """Any model, shown an all-black picture of the same size in place of every image."""

    uses_rows = True

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, f"black-images:{inner.name}"

    def generate(self, images, prompts, rows=()):
        from PIL import Image

        black = [[Image.new("RGB", im.size) for im in ims] for ims in images]
        return self.inner.generate(black, prompts, rows=rows)


def test_a_model_given_black_images_loses_its_gap(mid, tmp_path):
    """The gap comes from the picture: the same image reader shown black images answers the same with
    the real and the swapped item, so the gap is zero and background falls to one fixed answer."""
    res = run_benchmark(mid / "mmmb", BlackImages(BackgroundReader()), tmp_path / "r", db=None, control="shuffled", batch_size=64)
    s = res.scores
    assert s["image_use_gap"] == pytest.approx(0.0, abs=1e-9)
    lo, hi = s["ci"]["image_use_gap"]
    assert lo <= 0 <= hi
    for lang in LANGUAGES:
        assert s["by_category"][lang]["background"] < 0.6  # every background read as black: right only on black scenes


def test_oracle_cannot_show_a_gap_and_control_predictions_are_cached_apart(bench, tmp_path):
    out = tmp_path / "run"
    plain = run_benchmark(bench / "mmmb", "random:4", out, db=None)
    assert "shuffled_mean" not in plain.scores and plain.scores["control"] is None
    both = run_benchmark(bench / "mmmb", "random:4", out, db=None, control="shuffled")
    n = 6 * 30
    assert (both.reused, both.computed) == (n, n)  # the real pass is reused; the control is new
    t = pq.read_table(out / PREDICTIONS).to_pydict()
    assert Counter(t["control"]) == {"none": n, "shuffled": n}
    assert both.scores["mean"] == plain.scores["mean"]  # the control never touches the real scores
    again = run_benchmark(bench / "mmmb", "random:4", out, db=None)
    assert again.computed == 0 and again.scores["overall"] == plain.scores["overall"]
    o = run_benchmark(bench / "mmmb", "oracle", tmp_path / "o", db=None, control="shuffled").scores
    assert o["mean"] == o["shuffled_mean"] == 1.0 and o["image_use_gap"] == 0.0


def test_cli_control(bench, tmp_path):
    r = cli("bench", "run", bench / "mmmb", "--model", "random:1", "--out", tmp_path / "r", "--limit", "6",
            "--control", "shuffled", "--db", tmp_path / "lb.duckdb")  # fmt: skip
    assert r.returncode == 0, r.stderr
    msg = " ".join(r.stderr.split())
    assert "image-use gap" in msg and "72 generated" in msg
    s = json.loads((tmp_path / "r" / "scores.json").read_text())
    assert {"shuffled_mean", "image_use_gap", "shuffled", "shuffled_by_category"} <= set(s)
    r = cli("bench", "run", bench / "mmmb", "--model", "random:1", "--out", tmp_path / "x", "--control", "black",
            "--db", tmp_path / "lb.duckdb")  # fmt: skip
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "'black' is not one of 'shuffled'" in r.stderr
