"""Template policy: fine/coarse × single/multi pick the specified template ids; inversion swaps input
and target; every shipped template renders."""

from __future__ import annotations

import subprocess
import sys

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from mmdata.recipe.build import build
from mmdata.recipe.check import check_templates
from mmdata.recipe.templates import TemplateBank, fmt_bbox
from mmdata.schema import TASKS

from .helpers import write_recipe

DS = ["vqav2", "gqa", "aokvqa", "refcoco", "refcoco+", "coco_captions", "llava_instruct"]


def rows(out):
    return pads.dataset(out / "data").to_table().to_pylist()


@pytest.fixture(scope="module")
def policies(tiny_world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tpl")
    out = {}
    for gran in ("fine", "coarse"):
        for div in ("single", "multi"):
            r = write_recipe(tmp / f"{gran}-{div}.yaml", tiny_world, DS, templates={"granularity": gran, "diversity": div},
                             balance={"strategy": "per-dataset", "size": 700})  # fmt: skip
            out[(gran, div)] = rows(build(r, tmp / f"{gran}-{div}").out)
    return out


def test_fine_single_uses_one_template_per_dataset(policies):
    by = {}
    for r in policies[("fine", "single")]:
        by.setdefault(r["dataset"], set()).add(r["template_id"])
    assert by["vqav2"] == {"fine/vqav2"} and by["refcoco+"] == {"fine/refcoco+"} and by["llava_instruct"] == {"native"}
    assert by["refcoco"] != by["refcoco+"]


def test_coarse_single_shares_one_template_per_task(policies):
    by = {}
    for r in policies[("coarse", "single")]:
        by.setdefault(r["task"], set()).add(r["template_id"])
    assert by["vqa_open"] == {"coarse/vqa_open"} and by["rec"] == {"coarse/rec"} and by["vqa_mc"] == {"coarse/vqa_mc"}


def test_multi_draws_many_templates_with_fine_suffix(policies):
    fine = {r["template_id"] for r in policies[("fine", "multi")] if r["dataset"] == "vqav2"}
    coarse = {r["template_id"] for r in policies[("coarse", "multi")] if r["dataset"] == "vqav2"}
    assert len(fine) >= 8 and all(t.startswith("multi/vqa_open/") and t.endswith("@vqav2") for t in fine)
    assert len(coarse) >= 8 and all(t.startswith("multi/vqa_open/") and "@" not in t for t in coarse)
    # fine multi carries the dataset's hint, coarse multi does not
    hint = TemplateBank.load().hints[("vqav2", "vqa_open")]["forward"]
    assert any(hint in r["turns"][0]["content"] for r in policies[("fine", "multi")] if r["dataset"] == "vqav2")
    assert not any(hint in r["turns"][0]["content"] for r in policies[("coarse", "multi")] if r["dataset"] == "vqav2")


def test_no_inversion_by_default(policies):
    assert not any(r["inverted"] for rs in policies.values() for r in rs)


def test_inverted_items_swap_input_and_target(tiny_world, tmp_path):
    r = write_recipe(tmp_path / "inv.yaml", tiny_world, ["vqav2", "refcoco", "coco_captions", "aokvqa"],
                     templates={"inverted_ratio": 1.0}, multiturn={"max_turns": 1},
                     balance={"strategy": "per-dataset", "size": 200})  # fmt: skip
    out = build(r, tmp_path / "inv").out
    from mmdata.sources import read_table

    src = {}
    for d in ("vqav2", "refcoco", "coco_captions", "aokvqa"):
        for rec in read_table(d, tiny_world / "sources" / d).to_pylist():
            src[rec["record_id"]] = rec
    items = rows(out)
    assert items and all(i["inverted"] and i["template_id"].endswith("/inv") for i in items)
    for i in items:
        rec = src[i["source_record_ids"][0]]
        user, assistant = i["turns"][0]["content"], i["turns"][1]["content"]
        if i["dataset"] == "vqav2":
            assert assistant == rec["question"] and rec["answer"] in user
        elif i["dataset"] == "refcoco":
            assert assistant == rec["phrase"] and fmt_bbox(rec["bbox"]) in user
        elif i["dataset"] == "coco_captions":
            assert rec["caption"] in user and rec["caption"] not in assistant
        else:
            assert assistant == rec["question"] and rec["answer"] in user


def test_forward_targets(policies, tiny_world):
    from mmdata.sources import read_table

    vq = {r["record_id"]: r for r in read_table("vqav2", tiny_world / "sources/vqav2").to_pylist()}
    for i in policies[("fine", "single")]:
        if i["dataset"] != "vqav2":
            continue
        answers = [t["content"] for t in i["turns"] if t["role"] == "assistant"]
        assert answers == [vq[rid]["answer"] for rid in i["source_record_ids"]]
        assert i["turns"][0]["content"].startswith("<image>\n")
        assert sum(t["content"].count("<image>") for t in i["turns"]) == 1


def test_shipped_templates_check_and_counts():
    n, counts = check_templates()
    assert n >= 90 and counts["multi"] >= 40
    bank = TemplateBank.load()
    for task in ("vqa_open", "vqa_mc", "rec", "caption"):
        assert len([t for t in bank.multi[task] if not t.inverted]) >= 10
        assert [t for t in bank.multi[task] if t.inverted] and [t for t in bank.coarse[task] if t.inverted]
    assert set(bank.fine) >= {"vqav2", "gqa", "ocrvqa", "vsr", "scienceqa", "aokvqa", "refcoco", "refcoco+", "refcocog",
                              "vg_regions", "coco_captions"}  # fmt: skip
    assert all(t.task in TASKS for t in bank.all())
    r = subprocess.run([sys.executable, "-m", "mmdata.cli", "templates", "check"], capture_output=True, text=True)
    assert r.returncode == 0 and "templates OK" in r.stdout


def test_mc_options_reshuffle_per_draw(tiny_world, tmp_path):
    r = write_recipe(tmp_path / "mc.yaml", tiny_world, ["aokvqa"], balance={"strategy": "per-dataset", "size": 120})
    items = rows(build(r, tmp_path / "mc").out)
    seen = {}
    for i in items:
        seen.setdefault(i["source_record_ids"][0], set()).add(i["turns"][0]["content"])
    assert any(len(v) > 1 for v in seen.values())  # the same question drawn twice shows different option orders
    assert pq.read_table(tmp_path / "mc/data/part-00000.parquet").num_rows == 120


def test_compiled_templates_render_exactly_like_jinja():
    import random

    import polars as pl

    from mmdata.recipe.check import SAMPLES
    from mmdata.recipe.compiled import compile_template, to_expr
    from mmdata.recipe.templates import turn_variables

    bank = TemplateBank.load()
    compiled = 0
    for t in bank.all():
        for hint in ("", "Answer briefly.", bank.hints.get((t.dataset or "", t.task), {}).get("forward", "x")):
            c = compile_template(t, hint)
            if c is None:
                continue
            compiled += 1
            for row in SAMPLES[t.task]:
                for ctx in (row.get("context"), ""):
                    v = turn_variables({**row, "context": ctx}, t.task, hint, random.Random(1))
                    df = pl.DataFrame({k: [val] for k, val in v.items() if isinstance(val, str)})
                    got = df.select(to_expr(c[0]).alias("u"), to_expr(c[1]).alias("a")).row(0)
                    assert got == t.render(v), t.id
    assert compiled >= 90 * 3


@pytest.mark.parametrize(("gran", "div"), [("fine", "single"), ("coarse", "single"), ("fine", "multi"), ("coarse", "multi")])
def test_reg_and_ocr_vqa_render_with_every_policy(tiny_world, tmp_path, gran, div):
    """A REC source turned into REG (`task: reg`) and OCR-VQA kept apart (`task: ocr_vqa`) have templates
    at every granularity and diversity."""
    import yaml

    data = {"name": "t", "seed": 0, "root": str(tiny_world), "templates": {"granularity": gran, "diversity": div},
            "sources": [{"dataset": "refcoco", "path": "sources/refcoco", "task": "reg", "max_turns": 1},
                        {"dataset": "ocrvqa", "path": "sources/ocrvqa", "task": "ocr_vqa"}], "balance": {"size": 60}}  # fmt: skip
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(data))
    out = rows(build(tmp_path / "r.yaml", tmp_path / "m").out)
    reg = [r for r in out if r["task"] == "reg"]
    ocr = [r for r in out if r["task"] == "ocr_vqa"]
    assert reg and ocr
    assert all("[" in r["turns"][0]["content"] and "]" in r["turns"][0]["content"] for r in reg)  # the box is the input
    assert all(not r["turns"][1]["content"].startswith("[") for r in reg)  # the expression is the target
    if gran == "fine" and div == "single":
        assert {r["template_id"] for r in reg} == {"fine/refcoco/reg"} and {r["template_id"] for r in ocr} == {"fine/ocrvqa/ocr"}
