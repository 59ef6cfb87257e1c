"""`mmdata bench audit`: blind baselines find shortcuts, and the shipped synthetic MMMB has none."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmdata.bench.audit import audit_benchmark, mixture_answers
from mmdata.bench.tsv import Item, write_tsv
from mmdata.errors import MmdataError
from mmdata.schema import CONVERSATION_SCHEMA

from .conftest import cli

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
    "53de0000000c4944415478da63f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def _mixture(path, answers: dict[str, int]):
    """A minimal mixture directory whose assistant turns are ``answers`` (text → how many times)."""
    rows = []
    for text, n in answers.items():
        for k in range(n):
            rows.append({"id": f"{text}-{k}", "images": [], "turns": [{"role": "user", "content": "q?"},
                         {"role": "assistant", "content": text}], "dataset": "t", "task": "vqa_open",
                         "template_id": "t", "inverted": False, "source_record_ids": [], "dedup_dropped": 0,
                         "language": "en"})  # fmt: skip
    (path / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=CONVERSATION_SCHEMA), path / "data" / "part-00000.parquet")
    return path


def _shortcut_bench(path, n: int = 40):
    """Counting questions whose gold is always "1" and always option A: every blind baseline sees it."""
    items = []
    for i in range(n):
        items.append(Item(i, "How many circles are there?", {"A": "1", "B": str(2 + i % 3), "C": "0", "D": "5"}, "A",
                          "en", category="count", image=PNG, image_key=f"k{i}"))  # fmt: skip
    write_tsv(path / "MMMB_en.tsv", items, with_language=False)  # the published MMMB layout: language in the name
    return path


def test_shortcuts_are_found(tmp_path):
    bench = _shortcut_bench(tmp_path / "b")
    a = audit_benchmark(bench / "MMMB_en.tsv", _mixture(tmp_path / "mix", {"1": 5, "2": 3, "0": 1}))
    row = a.categories["count"]
    assert row.n == 20 and a.n_learn == 20 and row.chance == 0.25
    assert row.option_prior == 1.0 and row.question_prior == 1.0 and row.letter_prior == 1.0 and row.train_prior == 1.0
    assert a.overall.worst == pytest.approx(0.75) and a.languages["en"].n == 20
    js = a.to_json()
    assert js["overall"]["worst_excess"] == 0.75 and js["mixture_answers"] == 9


def test_a_baseline_that_knows_nothing_scores_chance_exactly(tmp_path):
    # every option text is gold equally often and the letters rotate: ties are credited by expectation
    items = []
    for i in range(48):
        texts = ["red", "blue", "green"]
        texts = texts[i % 3 :] + texts[: i % 3]
        items.append(Item(i, "What colour is it?", dict(zip("ABC", texts, strict=True)), "ABC"[(i // 3) % 3], "en",
                          category="colour", image=PNG, image_key=f"k{i}"))  # fmt: skip
    write_tsv(tmp_path / "MMMB_en.tsv", items)
    a = audit_benchmark(tmp_path / "MMMB_en.tsv", _mixture(tmp_path / "mix", {"yes": 3}))
    r = a.overall
    assert r.chance == pytest.approx(1 / 3)
    assert r.train_prior == pytest.approx(1 / 3)  # no option text is ever an answer: a three-way tie


def test_shipped_benchmark_blind_baselines_stay_near_chance(big_bench, world, tmp_path_factory):
    """The acceptance check of the synthetic MMMB: every blind baseline within chance + 3 pp overall
    (2,000 questions per language, as shipped), the training prior taken from an instruction mixture."""
    from mmdata.model.fixtures import write_fixture_mixture

    mix = write_fixture_mixture(world, tmp_path_factory.mktemp("audit-mix") / "m", "instruct")
    a = audit_benchmark(big_bench / "mmmb", mix)
    assert a.overall.n == 6 * 1000 and a.mixture_answers > 100
    for b in ("option_prior", "question_prior", "letter_prior", "train_prior"):
        assert getattr(a.overall, b) <= a.overall.chance + 0.03, (b, a.to_json()["overall"])
    for cat, row in a.categories.items():  # per category (about 67 distinct questions each): no gross shortcut
        assert row.worst <= 0.15, (cat, a.to_json()["categories"][cat])


def test_mixture_answers_fold_assistant_turns(tmp_path):
    mix = _mixture(tmp_path / "m", {"Red.": 2, "red": 1, "The circle is red.": 4})
    c = mixture_answers(mix)
    assert c["red"] == 3 and c["the circle is red"] == 4  # whole turns, folded (case, punctuation)
    with pytest.raises(MmdataError, match="not a mixture directory"):
        mixture_answers(tmp_path)


def test_cli_table_json_and_errors(bench, tmp_path):
    r = cli("bench", "audit", bench / "mmmb")
    assert r.returncode == 0, r.stderr
    assert "option prior" in r.stdout and "overall" in r.stdout and "chance" in r.stdout
    r = cli("bench", "audit", bench / "mmbench", "--json")
    assert r.returncode == 0, r.stderr
    js = json.loads(r.stdout)
    assert js["kind"] == "mmdata-bench-audit" and js["benchmark"] == "mmmb-synthetic/mmbench"
    assert set(js["categories"]) and js["overall"]["train_prior"] is None and "g_index" in js["split"]
    r = cli("bench", "audit", bench / "mmmb", "--train", tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "not a mixture directory" in r.stderr
    one = Item(2, "q", {"A": "a", "B": "b"}, "A", "en", image=PNG, image_key="k")
    write_tsv(tmp_path / "MMMB_en.tsv", [one])
    r = cli("bench", "audit", tmp_path / "MMMB_en.tsv")
    assert r.returncode == 2 and "both even and odd" in r.stderr
