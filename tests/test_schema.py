"""Record / Conversation schema validators name the offending column and row."""

import pyarrow as pa
import pytest

from mmdata.errors import MmdataError
from mmdata.schema import (
    CONVERSATION_SCHEMA,
    empty_record,
    records_to_batch,
    validate_conversations,
    validate_records,
)

IMG = {"path": "a.jpg", "sha256": "0" * 64, "width": 4, "height": 4}
IMG2 = {"path": "b.png", "sha256": "1" * 64, "width": 8, "height": 2}


def rec(i, **kw):
    return empty_record(dataset="d", task="vqa_open", split="train", record_id=f"r{i}", language="en", **kw)


def good_rows():
    return [
        rec(0, image=IMG, question="q", answer="a"),
        rec(1, bbox=[0.1, 0.2, 0.3, 0.4]),
        rec(2, choices=["x", "y"], answer_idx=1),
        rec(3, turns=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]),
        rec(4, image=IMG, images=[IMG, IMG2, IMG], turns=[{"role": "user", "content": "same?"}]),
    ]


def test_valid_table_passes_and_keeps_rows():
    t = validate_records(records_to_batch(good_rows()))
    assert t.num_rows == 5 and t.schema.names[0] == "dataset"
    assert t.column("images").to_pylist()[4] == [IMG, IMG2, IMG]


@pytest.mark.parametrize(
    ("row", "field", "text"),
    [
        (dict(bbox=[0.5, 0.2, 0.3, 0.4]), "bbox", "not a normalised"),
        (dict(bbox=[0.1, 0.2, 0.3, 1.5]), "bbox", "not a normalised"),
        (dict(bbox=[float("nan"), 0.2, 0.3, 0.4]), "bbox", "not a normalised"),
        (dict(choices=["x"], answer_idx=3), "answer_idx", "out of range for 1 choices"),
        (dict(answer_idx=0), "answer_idx", "out of range for 0 choices"),
        (dict(turns=[{"role": "robot", "content": "x"}]), "turns", "role must be one of"),
        (dict(image={**IMG, "width": 0}), "image", "positive width"),
        (dict(image={**IMG, "sha256": "abc"}), "image", "64-hex"),
        (dict(image=IMG, images=[IMG]), "images", "set only for two or more"),
        (dict(image=IMG2, images=[IMG, IMG2]), "images", "must equal the first element"),
        (dict(images=[IMG, IMG2]), "images", "must equal the first element"),
        (dict(image=IMG, images=[IMG, {**IMG2, "height": -1}]), "images", "positive width"),
        (dict(image=IMG, images=[IMG, None]), "images", "null reference"),
    ],
)
def test_bad_values_name_column_and_row(row, field, text):
    rows = good_rows() + [rec(9, **row)]
    with pytest.raises(MmdataError) as e:
        validate_records(records_to_batch(rows), source="x.parquet")
    msg = str(e.value)
    assert f"field '{field}'" in msg and text in msg and "row 5 (record_id=r9)" in msg and msg.startswith("x.parquet")


def test_unknown_task_and_missing_column():
    bad = good_rows()
    bad[2]["task"] = "vqa"
    with pytest.raises(MmdataError, match="unknown task 'vqa'.*row 2"):
        validate_records(records_to_batch(bad))
    t = pa.Table.from_batches([records_to_batch(good_rows())]).drop_columns(["language"])
    with pytest.raises(MmdataError, match="lacks column"):
        validate_records(t)


def test_conversation_validator():
    ok = {"id": "1", "images": [IMG], "turns": [{"role": "user", "content": "x"}], "dataset": "d", "task": "vqa_open",
          "template_id": "t", "inverted": False, "source_record_ids": ["a"], "dedup_dropped": 0, "language": "en"}  # fmt: skip
    validate_conversations(pa.Table.from_pylist([ok], schema=CONVERSATION_SCHEMA))
    with pytest.raises(MmdataError, match="no turns"):
        validate_conversations(pa.Table.from_pylist([{**ok, "turns": []}], schema=CONVERSATION_SCHEMA))
    with pytest.raises(MmdataError, match="role 'bot'"):
        validate_conversations(pa.Table.from_pylist([{**ok, "turns": [{"role": "bot", "content": "x"}]}], schema=CONVERSATION_SCHEMA))
