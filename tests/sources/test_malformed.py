"""Malformed native input: always one ``MmdataError`` naming file, record and field — never a traceback.

Each case starts from a valid hand-written sample (:mod:`tests.sources.samples`), breaks one thing,
and checks the error's coordinates. Missing / undecodable images are not errors: they are quarantined.
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from mmdata.errors import MmdataError
from mmdata.sources import ReadReport, read_table
from tests.sources.samples import SAMPLES, Sample, write_sample


def first(x):
    return x[0] if isinstance(x, list) else next(iter(x.values()))


def build(tmp_path: Path, name: str, mutate: Callable[[Sample], None] | None = None) -> Path:
    sample = SAMPLES[name]()
    if mutate is not None:
        mutate(sample)
    root = tmp_path / "src"
    root.mkdir()
    write_sample(root, sample)
    return root


def expect_error(name: str, root: Path, *, file: str, field: str | None, record: str | None, text: str = "") -> MmdataError:
    with pytest.raises(MmdataError) as info:
        read_table(name, root)
    err = info.value
    msg = str(err)
    assert "\n" not in msg
    assert err.file is not None and Path(err.file).name == file, msg
    assert file in msg
    if field is not None:
        assert err.field == field, msg
        assert f"field '{field}'" in msg
    if record is not None:
        assert str(err.record) == record, msg
        assert f"record {record}" in msg
    assert text in msg
    return err


# (case id, adapter, mutation, file named, field named, record named, text in the message)
CASES: list[tuple] = []


def case(cid, name, file, field, record, text=""):
    def deco(fn):
        CASES.append(pytest.param(name, fn, file, field, record, text, id=cid))
        return fn

    return deco


# ---- JSON itself -----------------------------------------------------------------------------


@case("vqav2-invalid-json", "vqav2", "v2_OpenEnded_mscoco_val2014_questions.json", None, None, "invalid JSON")
def _(s):
    s.files["v2_OpenEnded_mscoco_val2014_questions.json"] = b'{"questions": [{"image_id": 42,'


@case("scienceqa-random-bytes", "scienceqa", "problems.json", None, None, "invalid JSON")
def _(s):
    s.files["problems.json"] = bytes(range(256))


@case("vsr-invalid-jsonl-line", "vsr", "train.jsonl", None, "line 2", "invalid JSON")
def _(s):
    good = {"image": "000000085637.jpg", "caption": "The cat is on the suitcase.", "label": 1, "relation": "on", "subj": "cat", "obj": "suitcase"}
    s.files["train.jsonl"] = json.dumps(good).encode() + b'\n{"image": "x.jpg", "caption": \n'


@case("gqa-top-level-list", "gqa", "train_balanced_questions.json", None, "(top level)", "expected a JSON object")
def _(s):
    s.files["train_balanced_questions.json"] = list(s.files["train_balanced_questions.json"].values())


@case("llava-top-level-object", "llava_instruct", "llava_instruct_mini.json", None, "(top level)", "expected a JSON list")
def _(s):
    s.files["llava_instruct_mini.json"] = {"data": s.files["llava_instruct_mini.json"]}


# ---- missing keys, wrong types, bools ----------------------------------------------------------


@case("vqav2-answers-string", "vqav2", "v2_mscoco_val2014_annotations.json", "answers", "question_id=42000", "expected list, got string")
def _(s):
    s.files["v2_mscoco_val2014_annotations.json"]["annotations"][1]["answers"] = "red"


@case("vqav2-question-id-bool", "vqav2", "v2_OpenEnded_mscoco_val2014_questions.json", "question_id", "#0", "got bool")
def _(s):
    s.files["v2_OpenEnded_mscoco_val2014_questions.json"]["questions"][0]["question_id"] = True


@case("gqa-missing-imageId", "gqa", "train_balanced_questions.json", "imageId", "question 07333408", "missing required key")
def _(s):
    del s.files["train_balanced_questions.json"]["07333408"]["imageId"]


@case("gqa-detailed-type-number", "gqa", "testdev_balanced_questions.json", "types.detailed", "question 20968379", "expected string")
def _(s):
    s.files["testdev_balanced_questions.json"]["20968379"]["types"]["detailed"] = 3


@case("gqa-isBalanced-string", "gqa", "testdev_balanced_questions.json", "isBalanced", "question 20968379", "expected boolean")
def _(s):
    s.files["testdev_balanced_questions.json"]["20968379"]["isBalanced"] = "yes"


@case("ocrvqa-questions-answers-mismatch", "ocrvqa", "dataset.json", "answers", "book 1234567890", "3 questions but 2 answers")
def _(s):
    s.files["dataset.json"]["1234567890"]["answers"].pop()


@case("ocrvqa-split-code", "ocrvqa", "dataset.json", "split", "book 0987654321", "1, 2 or 3")
def _(s):
    s.files["dataset.json"]["0987654321"]["split"] = 7


@case("ocrvqa-split-bool", "ocrvqa", "dataset.json", "split", "book 1234567890", "got bool")
def _(s):
    s.files["dataset.json"]["1234567890"]["split"] = True


@case("vsr-label-2", "vsr", "train.jsonl", "label", "train-3", "0 or 1")
def _(s):
    s.files["train.jsonl"][2]["label"] = 2


@case("vsr-label-bool", "vsr", "dev.jsonl", "label", "dev-1", "got bool")
def _(s):
    s.files["dev.jsonl"][0]["label"] = True


@case("scienceqa-choice-not-string", "scienceqa", "problems.json", "choices", "pid=18", "item 2 should be string")
def _(s):
    s.files["problems.json"]["18"]["choices"][2] = 3


@case("scienceqa-missing-image-key", "scienceqa", "problems.json", "image", "pid=5", "missing required key")
def _(s):
    del s.files["problems.json"]["5"]["image"]


@case("aokvqa-image-id-string", "aokvqa", "aokvqa_v1p0_val.json", "image_id", "question_id=22jbM6gDxdaMaunuzgrsBB", "expected integer")
def _(s):
    s.files["aokvqa_v1p0_val.json"][0]["image_id"] = "461751"


@case("aokvqa-missing-correct-idx-on-val", "aokvqa", "aokvqa_v1p0_val.json", "correct_choice_idx", "question_id=22jbM6gDxdaMaunuzgrsBB", "missing")
def _(s):
    del s.files["aokvqa_v1p0_val.json"][0]["correct_choice_idx"]


@case("llava-id-bool", "llava_instruct_zh", "llava_instruct_mini.json", "id", "#3", "got bool")
def _(s):
    s.files["llava_instruct_mini.json"][3]["id"] = False


@case("llava-unknown-role", "llava_instruct", "llava_instruct_mini.json", "from", "id=000000033471 conversations[1]", "unknown speaker 'robot'")
def _(s):
    s.files["llava_instruct_mini.json"][0]["conversations"][1]["from"] = "robot"


@case("llava-conversations-object", "llava_instruct_pt", "llava_instruct_mini.json", "conversations", "id=12", "expected list")
def _(s):
    s.files["llava_instruct_mini.json"][3]["conversations"] = {"from": "human", "value": "Hi"}


@case("sharegpt-value-null", "sharegpt", "sg_90k_part1.json", "value", "id=QWJhYvA_1 conversations[1]", "missing")
def _(s):
    s.files["sg_90k_part1.json"][1]["conversations"][1]["value"] = None


@case("coco-caption-number", "coco_captions", "captions_val2017.json", "caption", "id=446", "expected string, got integer")
def _(s):
    s.files["annotations/captions_val2017.json"]["annotations"][1]["caption"] = 5


@case("coco-unknown-image", "coco_captions", "captions_train2017.json", "image_id", "id=661611", "not in images[]")
def _(s):
    s.files["annotations/captions_train2017.json"]["annotations"][0]["image_id"] = 10


@case("coco-width-too-large", "coco_captions", "captions_val2017.json", "width", "images[0]", "positive integer")
def _(s):
    s.files["annotations/captions_val2017.json"]["images"][0]["width"] = 2**40


@case("vg-width-zero", "vg_regions", "image_data.json", "width", "image_id=10", "positive integer")
def _(s):
    s.files["image_data.json"][1]["width"] = 0


@case("vg-url-without-folder", "vg_regions", "image_data.json", "url", "image_id=1", "<folder>/<file>")
def _(s):
    s.files["image_data.json"][0]["url"] = "1.jpg"


@case("vg-region-unknown-image", "vg_regions", "region_descriptions.json", "image_id", "region_id=5000", "not in image_data.json")
def _(s):
    s.files["region_descriptions.json"][1]["regions"][0]["image_id"] = 11


@case("refcoco-unknown-ann", "refcoco", "refs(unc).json", "ann_id", "ref_id=8", "not in instances.json")
def _(s):
    s.files["refs(unc).json"][1]["ann_id"] = 999


@case("refcoco-sentence-missing-sent", "refcoco+", "refs(unc).json", "sent", "7:2", "missing required key")
def _(s):
    del s.files["refs(unc).json"][0]["sentences"][1]["sent"]


# ---- out-of-range values -------------------------------------------------------------------------


@case("scienceqa-answer-out-of-range", "scienceqa", "problems.json", "answer", "pid=21", "index 2 is out of range for 2")
def _(s):
    s.files["problems.json"]["21"]["answer"] = 2


@case("scienceqa-answer-negative", "scienceqa", "problems.json", "answer", "pid=5", "index -1")
def _(s):
    s.files["problems.json"]["5"]["answer"] = -1


@case("aokvqa-correct-idx-out-of-range", "aokvqa", "aokvqa_v1p0_val.json", "correct_choice_idx", "question_id=22jbM6gDxdaMaunuzgrsBB", "out of range for 4")
def _(s):
    s.files["aokvqa_v1p0_val.json"][0]["correct_choice_idx"] = 4


@case("refcoco-bbox-outside-image", "refcoco", "instances.json", "bbox", "annotations id=1002", "outside the 64x48 image")
def _(s):
    s.files["instances.json"]["annotations"][1]["bbox"] = [40, 0, 32, 48]


@case("refcocog-bbox-zero-size", "refcocog", "instances.json", "bbox", "annotations id=1001", "outside")
def _(s):
    s.files["instances.json"]["annotations"][0]["bbox"] = [8, 12, 0, 24]


@case("refcoco-bbox-three-numbers", "refcoco", "instances.json", "bbox", "annotations id=1001", "expected [x, y, w, h]")
def _(s):
    s.files["instances.json"]["annotations"][0]["bbox"] = [8, 12, 16]


@case("vg-box-no-area-inside", "vg_regions", "region_descriptions.json", "x/y/width/height", "region_id=1382", "outside")
def _(s):
    s.files["region_descriptions.json"][0]["regions"][0]["x"] = 70  # image is 64 wide: nothing left after clipping


# ---- paths escaping the image root ---------------------------------------------------------------


@case("llava-image-dotdot", "llava_instruct", "llava_instruct_mini.json", "image", "000000033471", "escapes its root")
def _(s):
    s.files["llava_instruct_mini.json"][0]["image"] = "../../etc/passwd"


@case("llava-image-absolute", "llava_instruct_ru", "llava_instruct_mini.json", "image", "000000033471", "absolute")
def _(s):
    s.files["llava_instruct_mini.json"][0]["image"] = "/etc/passwd"


@case("vsr-image-dotdot", "vsr", "dev.jsonl", "image", "dev-1", "escapes its root")
def _(s):
    s.files["dev.jsonl"][0]["image"] = "../../etc/passwd"


@case("vsr-image-absolute", "vsr", "train.jsonl", "image", "train-1", "absolute")
def _(s):
    s.files["train.jsonl"][0]["image"] = "/etc/passwd"


@case("scienceqa-image-absolute", "scienceqa", "problems.json", "image", "pid=5", "relative file name")
def _(s):
    s.files["problems.json"]["5"]["image"] = "/etc/passwd"


@case("scienceqa-image-dotdot", "scienceqa", "problems.json", "image", "21", "escapes its root")
def _(s):
    s.files["problems.json"]["21"]["image"] = "../../../../etc/passwd"


@case("coco-file-name-dotdot", "coco_captions", "captions_val2017.json", "image", "370", "escapes its root")
def _(s):
    s.files["annotations/captions_val2017.json"]["images"][0]["file_name"] = "../../etc/passwd"


@case("refcoco-file-name-absolute", "refcoco", "instances.json", "file_name", "images[0]", "relative file name")
def _(s):
    s.files["instances.json"]["images"][0]["file_name"] = "/etc/passwd"


@case("ocrvqa-key-dotdot", "ocrvqa", "dataset.json", "image", "../../etc/passwd_0", "escapes its root")
def _(s):
    s.files["dataset.json"]["../../etc/passwd"] = s.files["dataset.json"].pop("1234567890")


@case("gqa-imageId-absolute", "gqa", "testdev_balanced_questions.json", "image", "20968379", "absolute")
def _(s):
    s.files["testdev_balanced_questions.json"]["20968379"]["imageId"] = "/etc/passwd"


@case("vg-url-dotdot", "vg_regions", "region_descriptions.json", "image", "1382", "escapes its root")
def _(s):
    s.files["image_data.json"][0]["url"] = "https://example.org/../1.jpg"


# ---- hub parquet sources (cauldron, llava_onevision, hf) ------------------------------------------

CAULDRON_QA = "vqav2/train-00000-of-00001.parquet"
OV = "CLEVR-Math(MathV360K)/train-00000-of-00001.parquet"
HF_CONV = "llava_style/data/validation-00000-of-00001.parquet"


@case("cauldron-texts-strings", "cauldron", "train-00000-of-00001.parquet", "texts", None, "expected list<struct<user")
def _(s):
    for row in s.files[CAULDRON_QA]:
        row["texts"] = "What color is the bus?"


@case("cauldron-user-null", "cauldron", "train-00000-of-00001.parquet", "user", "vqav2/train-00000-of-00001:1 texts[0]", "missing")
def _(s):
    s.files[CAULDRON_QA][1]["texts"][0]["user"] = None


@case("cauldron-assistant-number", "cauldron", "train-00000-of-00002.parquet", "texts", None, "column has type")
def _(s):
    s.files["mimic_cgd/train-00000-of-00002.parquet"] = [{"images": [], "texts": [{"user": "q", "assistant": 3, "source": "x"}]}]


@case("cauldron-no-images-column", "cauldron", "train-00000-of-00001.parquet", "images", None, "column 'images' is missing")
def _(s):
    for row in s.files[CAULDRON_QA]:
        del row["images"]


@case("cauldron-images-are-strings", "cauldron", "train-00000-of-00001.parquet", "images", None, "expected list<struct<bytes")
def _(s):
    for row in s.files[CAULDRON_QA]:
        row["images"] = ["cat.jpg"]


@case("cauldron-image-single-struct", "cauldron", "train-00000-of-00001.parquet", "images", None, "expected list<")
def _(s):
    for row in s.files[CAULDRON_QA]:
        row["images"] = row["images"][0]


@case("cauldron-not-parquet", "cauldron", "train-00001-of-00002.parquet", None, None, "cannot read the parquet file")
def _(s):
    s.files["mimic_cgd/train-00001-of-00002.parquet"] = b"PAR1 this is not parquet"


@case("cauldron-truncated-parquet", "cauldron", "train-00000-of-00001.parquet", None, None, "cannot read the parquet file")
def _(s):
    from tests.sources.samples import parquet_file

    s.files[CAULDRON_QA] = parquet_file(s.files[CAULDRON_QA])[:-40]


@case("onevision-unknown-speaker", "llava_onevision", "train-00000-of-00001.parquet", "from",
      "id=magpie_0001 conversations[1]", "unknown speaker 'robot'")  # fmt: skip
def _(s):
    s.files[OV][1]["conversations"][1]["from"] = "robot"


@case("onevision-value-null", "llava_onevision", "train-00000-of-00001.parquet", "value",
      "id=CLEVR_train_000123.png#1 conversations[1]", "missing")  # fmt: skip
def _(s):
    s.files[OV][2]["conversations"][1]["value"] = None


@case("onevision-no-conversations", "llava_onevision", "train-00000-of-00001.parquet", "conversations", None, "is missing")
def _(s):
    for row in s.files[OV]:
        del row["conversations"]


@case("onevision-conversations-strings", "llava_onevision", "train-00000-of-00001.parquet", "conversations", None,
      "expected list<struct<from")  # fmt: skip
def _(s):
    for row in s.files[OV]:
        row["conversations"] = [t["value"] for t in row["conversations"]]


@case("onevision-image-is-a-path", "llava_onevision", "train-00000-of-00001.parquet", "image", None, "expected struct<bytes")
def _(s):
    for row in s.files[OV]:
        row["image"] = "CLEVR_train_000123.png"


@case("onevision-image-without-bytes-field", "llava_onevision", "train-00000-of-00001.parquet", "image", None, "column has type")
def _(s):
    for row in s.files[OV]:
        row["image"] = {"path": "x.png"}  # a struct without the bytes field
        row["width"] = 3  # (another column too, so the file is not written with the published types)


@case("onevision-id-float", "llava_onevision", "train-00000-of-00001.parquet", "id", None, "expected string or integer")
def _(s):
    for k, row in enumerate(s.files[OV]):
        row["id"] = k + 0.5


@case("onevision-data-source-list", "llava_onevision", "train-00000-of-00001.parquet", "data_source", None, "expected string")
def _(s):
    for row in s.files[OV]:
        row["data_source"] = [row["data_source"]]


@case("hf-columns-match-neither-layout", "hf", "validation-00000-of-00001.parquet", None, None, "match neither The Cauldron")
def _(s):
    s.files[HF_CONV] = [{"question": "What is it?", "answer": "a cat"}]


@case("hf-conversation-turn-null-speaker", "hf", "validation-00000-of-00001.parquet", "from", "id=m4-2 conversations[0]", "missing")
def _(s):
    s.files[HF_CONV][1]["conversations"][0]["from"] = None


@case("hf-state-lists-missing-arrow", "hf", "state.json", None, "_data_files[0]", "is missing")
def _(s):
    s.files = {"state.json": {"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": None}}


@case("hf-state-filename-escapes", "hf", "state.json", "filename", "_data_files[0]", "escapes its root")
def _(s):
    s.files = {"state.json": {"_data_files": [{"filename": "../../data-00000-of-00001.arrow"}]}}


@case("hf-state-not-a-list", "hf", "state.json", "_data_files", None, "_data_files list")
def _(s):
    s.files = {"state.json": {"_data_files": "data-00000-of-00001.arrow"}}


@case("hf-dataset-dict-splits-string", "hf", "dataset_dict.json", "splits", None, "expected {splits: [names]}")
def _(s):
    s.files = {"dataset_dict.json": {"splits": "train"}}


@case("hf-arrow-garbage", "hf", "data-00000-of-00001.arrow", None, None, "cannot read the arrow file")
def _(s):
    s.files = {"state.json": {"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}, "data-00000-of-00001.arrow": b"ARROW1\x00\x00junk"}


@pytest.mark.parametrize(("name", "mutate", "file", "field", "record", "text"), CASES)
def test_malformed_case(tmp_path, name, mutate, file, field, record, text):
    root = build(tmp_path, name, mutate)
    expect_error(name, root, file=file, field=field, record=record, text=text)


def test_there_are_many_distinct_cases():
    assert len(CASES) >= 70
    assert len({c.id for c in CASES}) == len(CASES)


# ---- layout errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "json_name", "pickle_name", "wanted"),
    [
        ("refcoco", "refs(unc).json", "refs(umd).p", "refs(unc).p or refs(google).p"),
        ("refcoco+", "refs(unc).json", "refs(google).p", "refs(unc).p"),
        ("refcocog", "refs(umd).json", "refs(unc).p", "refs(umd).p or refs(google).p"),
    ],
)
def test_refcoco_refs_of_another_dataset_are_not_taken(tmp_path, name, json_name, pickle_name, wanted):
    def other_refs(s):
        del s.files[json_name]
        s.files[pickle_name] = b"\x80\x02]q\x00."  # an empty list: never opened

    root = build(tmp_path, name, other_refs)
    with pytest.raises(MmdataError) as info:
        read_table(name, root)
    msg = str(info.value)
    assert f"expected {wanted} (or .json) in this directory (found {pickle_name}" in msg and "\n" not in msg


def test_refcoco_refs_pickle_of_the_wrong_shape(tmp_path):
    import pickle

    def wrap(s):
        s.files["refs(google).p"] = pickle.dumps({"refs": s.files.pop("refs(unc).json")}, protocol=2)

    root = build(tmp_path, "refcoco", wrap)
    expect_error("refcoco", root, file="refs(google).p", field=None, record="(top level)", text="expected a list of refs")


def test_refcoco_ref_in_a_pickle_with_a_bad_field(tmp_path):
    from tests.sources.py2pickle import as_py2, dumps_py2

    def bad(s):
        refs = s.files.pop("refs(unc).json")
        refs[1]["ann_id"] = "1002"
        s.files["refs(unc).p"] = dumps_py2(as_py2(refs))

    root = build(tmp_path, "refcoco", bad)
    expect_error("refcoco", root, file="refs(unc).p", field="ann_id", record="ref_id=8", text="expected integer, got string")


def test_refcoco_missing_instances(tmp_path):
    root = build(tmp_path, "refcoco", lambda s: s.files.pop("instances.json"))
    with pytest.raises(MmdataError, match=r"instances\.json"):
        read_table("refcoco", root)


def test_unknown_adapter_name(tmp_path):
    with pytest.raises(MmdataError, match=r"unknown source 'vqa2'.*vqav2"):
        read_table("vqa2", tmp_path)


def test_substring_of_a_name_is_not_a_name(tmp_path):
    with pytest.raises(MmdataError, match="unknown source 'llava'"):
        read_table("llava", tmp_path)


def test_source_path_missing(tmp_path):
    with pytest.raises(MmdataError) as info:
        read_table("gqa", tmp_path / "nowhere")
    assert "nowhere" in str(info.value) and "does not exist" in str(info.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gqa", "_balanced_questions.json"),
        ("ocrvqa", "dataset.json"),
        ("vsr", "train.jsonl"),
        ("scienceqa", "problems.json"),
        ("aokvqa", "aokvqa_v1p0_"),
        ("refcoco", "refs(unc).p or refs(google).p"),
        ("refcocog", "refs(umd).p or refs(google).p"),
        ("vg_regions", "region_descriptions.json"),
        ("coco_captions", "captions_"),
        ("llava_instruct", "*.json"),
        ("vqav2", "v2_OpenEnded_mscoco_"),
        ("cauldron", "no *.parquet files"),
        ("llava_onevision", "no *.parquet files"),
        ("hf", "save_to_disk directory (state.json"),
    ],
)
def test_empty_directory_names_the_expected_files(tmp_path, name, expected):
    with pytest.raises(MmdataError) as info:
        read_table(name, tmp_path)
    assert expected in str(info.value) and str(tmp_path) in str(info.value)


def test_vqav2_missing_annotations_file(tmp_path):
    root = build(tmp_path, "vqav2", lambda s: s.files.pop("v2_mscoco_val2014_annotations.json"))
    with pytest.raises(MmdataError, match=r"v2_mscoco_val2014_annotations\.json is missing"):
        read_table("vqav2", root)


def test_image_symlink_pointing_outside_the_root(tmp_path):
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    root = build(tmp_path, "gqa")
    target = root / "images" / "n288870.jpg"
    target.unlink()
    os.symlink(outside, target)
    expect_error("gqa", root, file="testdev_balanced_questions.json", field="image", record="20968379", text="resolves outside")


def test_ids_with_newlines_still_give_one_line_errors(tmp_path):
    def bad_speaker(s):
        item = s.files["llava_instruct_mini.json"][0]
        item["id"] = "c\nd"
        del item["conversations"][0]["from"]

    root = build(tmp_path, "llava_instruct", bad_speaker)
    expect_error("llava_instruct", root, file="llava_instruct_mini.json", field="from", record="id='c\\nd' conversations[0]")


def test_record_ids_with_newlines_are_escaped_by_the_reader(tmp_path):
    def bad_image(s):
        s.files["llava_instruct_mini.json"][0].update(id="a\nb", image="../x.jpg")

    root = build(tmp_path, "llava_instruct", bad_image)
    expect_error("llava_instruct", root, file="llava_instruct_mini.json", field="image", record="'a\\nb'", text="escapes its root")


def test_overlong_image_name_is_an_error_not_oserror(tmp_path):
    root = build(tmp_path, "llava_instruct", lambda s: s.files["llava_instruct_mini.json"][0].update(image="a" * 400 + ".jpg"))
    expect_error("llava_instruct", root, file="llava_instruct_mini.json", field="image", record="000000033471", text="cannot be looked up")


# ---- quarantine: missing and undecodable images are set aside, not raised -----------------------


def test_missing_image_is_quarantined(tmp_path):
    root = build(tmp_path, "vqav2")
    (root / "images" / "val2014" / "COCO_val2014_000000000042.jpg").unlink()
    qfile = tmp_path / "q.jsonl"
    rep = ReadReport()
    table = read_table("vqav2", root, quarantine=qfile, report=rep)
    assert table.column("record_id").to_pylist() == ["73001"]
    lines = [json.loads(line) for line in qfile.read_text().splitlines()]
    assert len(lines) == 1
    q = lines[0]
    assert (q["dataset"], q["record_id"], q["image"]) == ("vqav2", "42000", "val2014/COCO_val2014_000000000042.jpg")
    assert q["file"].endswith("v2_OpenEnded_mscoco_val2014_questions.json")
    assert "not found" in q["reason"]
    assert rep.records == 1 and rep.quarantined == lines


def test_all_records_sharing_a_missing_image_are_quarantined(tmp_path):
    root = build(tmp_path, "refcoco")
    (root / "images" / "train2014" / "COCO_train2014_000000000581.jpg").unlink()
    rep = ReadReport()
    table = read_table("refcoco", root, report=rep)
    assert table.column("record_id").to_pylist() == ["9:4"]
    assert [q["record_id"] for q in rep.quarantined] == ["7:1", "7:2", "8:3"]


def test_garbage_image_is_quarantined_with_validate(tmp_path):
    root = build(tmp_path, "ocrvqa")
    (root / "images" / "0987654321.png").write_bytes(b"\x00garbage, not an image\xff" * 10)
    qfile = tmp_path / "q.jsonl"
    table = read_table("ocrvqa", root, validate=True, quarantine=qfile)
    assert table.column("record_id").to_pylist() == ["1234567890_0", "1234567890_1", "1234567890_2"]
    (q,) = [json.loads(line) for line in qfile.read_text().splitlines()]
    assert q["record_id"] == "0987654321_0" and q["image"] == "0987654321.png"
    assert "cannot be decoded" in q["reason"]


def test_truncated_jpeg_is_only_caught_by_validate(tmp_path):
    root = build(tmp_path, "gqa")
    noise = Image.frombytes("RGB", (64, 64), random.Random(0).randbytes(64 * 64 * 3))
    buf = io.BytesIO()
    noise.save(buf, format="JPEG", quality=95)
    data = buf.getvalue()
    (root / "images" / "2354786.jpg").write_bytes(data[: len(data) // 2])  # header intact, scan data cut short
    assert read_table("gqa", root).num_rows == 3
    rep = ReadReport()
    table = read_table("gqa", root, validate=True, report=rep)
    assert table.column("record_id").to_pylist() == ["20968379", "07333408"]
    assert [q["record_id"] for q in rep.quarantined] == ["02930152"]


def test_quarantine_file_is_empty_when_nothing_is_set_aside(tmp_path):
    root = build(tmp_path, "sharegpt")
    qfile = tmp_path / "q.jsonl"
    assert read_table("sharegpt", root, quarantine=qfile).num_rows == 3
    assert qfile.read_bytes() == b""


def test_image_header_claiming_a_huge_size_is_quarantined_not_raised(tmp_path):
    """Pillow refuses decompression bombs with its own exception type; that is a corrupt image too."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)  # 1.6 gigapixels, RGB
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")
    root = build(tmp_path, "scienceqa")
    (root / "images" / "train" / "5" / "image.png").write_bytes(png)
    rep = ReadReport()
    table = read_table("scienceqa", root, report=rep)
    assert table.column("record_id").to_pylist() == ["18", "21"]
    assert [q["record_id"] for q in rep.quarantined] == ["5"]
    assert "DecompressionBombError" in rep.quarantined[0]["reason"]


@pytest.mark.parametrize(("name", "file", "path", "record"), [
    ("vqav2", "v2_OpenEnded_mscoco_val2014_questions.json", ("questions", 0, "image_id"), "question_id=42000"),
    ("coco_captions", "annotations/captions_val2017.json", ("annotations", 0, "image_id"), None),
    ("refcoco", "refs(unc).json", (0, "image_id"), "ref_id=7"),
])  # fmt: skip
def test_an_integer_beyond_64_bits_is_a_one_line_error(tmp_path, name, file, path, record):
    """Found by the fuzz test: the on-disk joins store ids as 64-bit integers, so a larger one must be
    refused where it is read, naming its field, not overflow inside pyarrow."""

    def edit(s):
        node = s.files[file]
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = 2**63

    root = build(tmp_path, name, edit)
    expect_error(name, root, file=file.rsplit("/", 1)[-1], field="image_id", record=record, text="out of the 64-bit range")
