"""Decontamination against a benchmark: image-hash and normalised-question matches are dropped."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from mmdata.bench.make import make_benchmark
from mmdata.bench.tsv import load_benchmark
from mmdata.recipe.build import build
from mmdata.recipe.normalize import norm_expr, norm_text


def test_drops_records_sharing_image_or_question(tiny_world, tmp_path):
    bench = tmp_path / "bench"
    make_benchmark(tiny_world, bench, per_language=10)
    items = load_benchmark(bench / "mmmb").items
    en = [it for it in items if it.language == "en"]
    zh = [it for it in items if it.language == "zh"]
    # a hand-written VQAv2 source: one record shows a benchmark image, one asks a benchmark question
    # (in Chinese, differently cased and punctuated), one is clean
    src = tmp_path / "vqa"
    (src / "images/train2014").mkdir(parents=True)
    qs, anns = [], []
    for k, (img_bytes, q) in enumerate([(en[0].image, "Is it nice?"), (en[1].image[:0] + _png(), zh[2].question.upper() + "!!"),
                                        (_png(), "Something entirely new?")]):  # fmt: skip
        iid = 10 + k
        (src / f"images/train2014/COCO_train2014_{iid:012d}.jpg").write_bytes(img_bytes)
        qs.append({"image_id": iid, "question": q, "question_id": iid * 1000})
        anns.append({"question_id": iid * 1000, "image_id": iid, "multiple_choice_answer": "yes", "question_type": "is",
                     "answer_type": "yes/no", "answers": [{"answer": "yes", "answer_confidence": "yes", "answer_id": 1}]})  # fmt: skip
    (src / "v2_OpenEnded_mscoco_train2014_questions.json").write_bytes(orjson.dumps({"questions": qs}))
    (src / "v2_mscoco_train2014_annotations.json").write_bytes(orjson.dumps({"annotations": anns}))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"name": "d", "sources": [{"dataset": "vqav2", "path": str(src), "images": str(src / "images")}],
                                  "decontaminate": [str(bench)], "multiturn": {"max_turns": 1}}))  # fmt: skip
    res = build(recipe, tmp_path / "mix")
    d = res.manifest["decontamination"]
    assert d["dropped"] == {"vqav2": {"image": 1, "question": 1}} and d["dropped_total"] == 2
    assert res.manifest["counts"]["vqav2"]["records_in"] == 1
    ids = {i["source_record_ids"][0] for i in __import__("pyarrow.dataset").dataset.dataset(tmp_path / "mix/data").to_table().to_pylist()}
    assert ids == {"12000"}
    # image rule only
    res2 = build(recipe, tmp_path / "mix2", overrides=["decontaminate_by=[image]"])
    assert res2.manifest["decontamination"]["dropped"] == {"vqav2": {"image": 1, "question": 0}}


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cn", "Cs")), max_size=40))
def test_vectorised_normalisation_matches_python(s):
    # characters unassigned in Python's Unicode database may normalise differently in Rust's newer tables
    import polars as pl

    got = pl.DataFrame({"s": [s]}).select(norm_expr(pl.col("s")))["s"][0]
    assert got == norm_text(s)
