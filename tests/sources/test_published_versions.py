"""Every published version of each layout reads into exact Records (hand-written files, typed here).

VSR as the repository publishes it (no subj/obj) and with the later reference_frame; GQA's all-questions
version with the sharded train folder; VQA v1 next to v2 and the unanswered test-dev; COCO captions
2014 next to 2017; RefCOCO/+/g refs as the refer toolkit's Python 2 pickles for every splitBy.
"""

from __future__ import annotations

import json

import pytest

from mmdata.errors import MmdataError
from tests.sources.py2pickle import Py2Str, as_py2, dumps_py2
from tests.sources.samples import BLANK, SAMPLES, Sample
from tests.sources.test_handwritten_formats import img, materialise, read_rows, rec

# ---- VSR ------------------------------------------------------------------------------------------


def vsr_repository() -> Sample:
    """Lines as in cambridgeltl/visual-spatial-reasoning data/splits/random/*.jsonl: no subj/obj."""
    line = {
        "image": "000000050403.jpg",
        "image_link": "http://images.cocodataset.org/train2017/000000050403.jpg",
        "caption": "The teddy bear is in front of the person.",
        "label": 1,
        "relation": "in front of",
        "annotator_id": 31,
        "vote_true_validator_id": [2, 29, 31],
        "vote_false_validator_id": [],
    }
    return Sample(
        files={
            "train.jsonl": [
                line,
                BLANK,
                {**line, "image": "000000045071.jpg", "caption": "The dog has the frisbee.", "relation": "has as a part", "label": 0},
                {**line, "image": "000000262118.jpg", "caption": "A cup is at the left side of the laptop.",
                 "relation": "at the left side of", "reference_frame": "relative"},
            ],
        },
        images={"000000050403.jpg": (16, 12), "000000045071.jpg": (10, 10), "000000262118.jpg": (12, 16)},
    )  # fmt: skip


def test_vsr_as_published_derives_subj_and_obj(tmp_path):
    root, shas = materialise(tmp_path, vsr_repository())
    common = {"subj_obj_source": "caption", "reference_frame": None}
    assert read_rows("vsr", root) == [
        rec("vsr", "vqa_open", "train", "train-1", image_id="000000050403", image=img(shas, "000000050403.jpg", 16, 12),
            question="Is the teddy bear in front of the person?", answer="yes", caption="The teddy bear is in front of the person.",
            extra={"relation": "in front of", "subj": "teddy bear", "obj": "person", "label": 1, **common}),
        # the relation phrase is not in the caption: subj/obj are recorded as absent
        rec("vsr", "vqa_open", "train", "train-3", image_id="000000045071", image=img(shas, "000000045071.jpg", 10, 10),
            question="Is it true that The dog has the frisbee?", answer="no", caption="The dog has the frisbee.",
            extra={"relation": "has as a part", "subj": None, "obj": None, "label": 0, "subj_obj_source": "absent",
                   "reference_frame": None}),
        rec("vsr", "vqa_open", "train", "train-4", image_id="000000262118", image=img(shas, "000000262118.jpg", 12, 16),
            question="Is it true that A cup is at the left side of the laptop?", answer="yes",
            caption="A cup is at the left side of the laptop.",
            extra={"relation": "at the left side of", "subj": "cup", "obj": "laptop", "label": 1, "subj_obj_source": "caption",
                   "reference_frame": "relative"}),
    ]  # fmt: skip


def test_vsr_subj_obj_given_in_the_file_win_and_a_missing_one_is_derived(tmp_path):
    sample = vsr_repository()
    sample.files["train.jsonl"][0]["subj"] = "teddy"  # given: kept as written; obj is derived
    root, _ = materialise(tmp_path, sample)
    extra = read_rows("vsr", root)[0]["extra"]
    assert (extra["subj"], extra["obj"], extra["subj_obj_source"]) == ("teddy", "person", "caption")


def test_vsr_all_validated_data_file(tmp_path):
    sample = vsr_repository()
    lines = sample.files.pop("train.jsonl")
    root, _ = materialise(tmp_path, Sample(files={"all_vsr_validated_data.jsonl": lines}, images=sample.images))
    rows = read_rows("vsr", root)
    assert [(r["record_id"], r["split"]) for r in rows] == [(f"all_vsr_validated_data-{n}", "all") for n in (1, 3, 4)]


def test_vsr_reference_frame_of_the_wrong_type_is_an_error(tmp_path):
    sample = vsr_repository()
    sample.files["train.jsonl"][0]["reference_frame"] = 3
    root, _ = materialise(tmp_path, sample)
    with pytest.raises(MmdataError, match=r"train\.jsonl: record train-1: field 'reference_frame': expected string"):
        read_rows("vsr", root)


# ---- GQA ------------------------------------------------------------------------------------------


def _gqa_q(question, image, answer=None, full=None, balanced=False, detailed=None) -> dict:
    q = {"question": question, "imageId": image, "isBalanced": balanced, "semantic": [], "entailed": [], "equivalent": []}
    if answer is not None:
        q.update(answer=answer, fullAnswer=full)
    if detailed:
        q["types"] = {"detailed": detailed, "semantic": "attr", "structural": "query"}
    return q


def gqa_all() -> Sample:
    return Sample(
        files={
            "train_all_questions/train_all_questions_1.json": {
                "201": _gqa_q("What color is the car?", "2370799", "white", "The car is white.", detailed="chooseAttr"),
            },
            "train_all_questions/train_all_questions_0.json": {
                "100": _gqa_q("Is the sky blue?", "2354786", "yes", "Yes, the sky is blue.", balanced=True),
                "101": _gqa_q("Is there a cat?", "2354786", "no", "No, there are no cats."),
            },
            "val_all_questions.json": {"300": _gqa_q("What is on the wall?", "2375429", "clock", "The clock is on the wall.")},
            "test_all_questions.json": {"400": _gqa_q("Who is eating?", "n15846")},
        },
        images={"2354786.jpg": (24, 16), "2370799.jpg": (16, 12), "2375429.jpg": (16, 16), "n15846.jpg": (10, 10)},
    )


def test_gqa_all_questions_with_sharded_train_folder(tmp_path):
    root, shas = materialise(tmp_path, gqa_all())
    sky = img(shas, "2354786.jpg", 24, 16)
    assert read_rows("gqa", root) == [
        # splits in name order; train shards in numeric order; the unanswered test split has no answer
        rec("gqa", "vqa_open", "test", "400", image_id="n15846", image=img(shas, "n15846.jpg", 10, 10),
            question="Who is eating?", extra={"fullAnswer": None, "type": None, "balanced": False}),
        rec("gqa", "vqa_open", "train", "100", image_id="2354786", image=sky, question="Is the sky blue?", answer="yes",
            answers=[{"text": "yes", "weight": 1.0}], extra={"fullAnswer": "Yes, the sky is blue.", "type": None, "balanced": True}),
        rec("gqa", "vqa_open", "train", "101", image_id="2354786", image=sky, question="Is there a cat?", answer="no",
            answers=[{"text": "no", "weight": 1.0}], extra={"fullAnswer": "No, there are no cats.", "type": None, "balanced": False}),
        rec("gqa", "vqa_open", "train", "201", image_id="2370799", image=img(shas, "2370799.jpg", 16, 12),
            question="What color is the car?", answer="white", answers=[{"text": "white", "weight": 1.0}],
            extra={"fullAnswer": "The car is white.", "type": "chooseAttr", "balanced": False}),
        rec("gqa", "vqa_open", "val", "300", image_id="2375429", image=img(shas, "2375429.jpg", 16, 16),
            question="What is on the wall?", answer="clock", answers=[{"text": "clock", "weight": 1.0}],
            extra={"fullAnswer": "The clock is on the wall.", "type": None, "balanced": False}),
    ]  # fmt: skip


def test_gqa_shard_folder_or_one_file_as_path(tmp_path):
    root, _ = materialise(tmp_path, gqa_all())
    images = root / "images"
    assert [r["record_id"] for r in read_rows("gqa", root / "train_all_questions", images=images)] == ["100", "101", "201"]
    assert [r["record_id"] for r in read_rows("gqa", root / "val_all_questions.json", images=images)] == ["300"]


def test_gqa_prefers_balanced_files_when_both_versions_are_present(tmp_path):
    sample, balanced = gqa_all(), SAMPLES["gqa"]()
    sample.files.update(balanced.files)
    sample.images.update(balanced.images)
    root, _ = materialise(tmp_path, sample)
    assert [r["record_id"] for r in read_rows("gqa", root)] == ["20968379", "02930152", "07333408"]


def test_gqa_answer_is_required_in_answered_splits(tmp_path):
    sample = gqa_all()
    del sample.files["val_all_questions.json"]["300"]["answer"]
    root, _ = materialise(tmp_path, sample)
    with pytest.raises(MmdataError, match=r"val_all_questions\.json: record question 300: field 'answer': missing"):
        read_rows("gqa", root)


# ---- VQA v1 / v2 ----------------------------------------------------------------------------------


def vqa_v1() -> Sample:
    """VQA v1 file names, questions and annotations in separate folders as the zips extract them."""
    return Sample(
        files={
            "Questions/OpenEnded_mscoco_train2014_questions.json": {
                "info": {"version": "1.0"}, "task_type": "Open-Ended", "data_type": "mscoco", "data_subtype": "train2014",
                "questions": [{"image_id": 9, "question": "How many dishes?", "question_id": 9000}],
            },
            "Annotations/mscoco_train2014_annotations.json": {
                "info": {"version": "1.0"}, "data_subtype": "train2014",
                "annotations": [{"question_type": "how many", "multiple_choice_answer": "3", "image_id": 9, "question_id": 9000,
                                 "answer_type": "number", "answers": [{"answer": "3", "answer_confidence": "yes", "answer_id": 1},
                                                                      {"answer": "4", "answer_confidence": "maybe", "answer_id": 2}]}],
            },
            "Questions/OpenEnded_mscoco_test-dev2015_questions.json": {
                "data_subtype": "test-dev2015", "questions": [{"image_id": 1, "question": "What is this?", "question_id": 1000}],
            },
        },
        images={"train2014/COCO_train2014_000000000009.jpg": (20, 16), "test2015/COCO_test2015_000000000001.jpg": (8, 8)},
    )  # fmt: skip


def test_vqa_v1_names_subfolders_and_unanswered_test_dev(tmp_path):
    root, shas = materialise(tmp_path, vqa_v1())
    assert read_rows("vqav2", root) == [
        rec("vqav2", "vqa_open", "testdev", "1000", image_id="1",
            image=img(shas, "test2015/COCO_test2015_000000000001.jpg", 8, 8), question="What is this?"),
        rec("vqav2", "vqa_open", "train", "9000", image_id="9",
            image=img(shas, "train2014/COCO_train2014_000000000009.jpg", 20, 16), question="How many dishes?", answer="3",
            answers=[{"text": "3", "weight": 0.5}, {"text": "4", "weight": 0.5}],
            extra={"question_type": "how many", "answer_type": "number"}),
    ]  # fmt: skip


def test_vqa_v1_and_v2_in_one_directory_is_refused(tmp_path):
    sample = vqa_v1()
    sample.files = {k.split("/")[-1]: v for k, v in sample.files.items()}
    sample.files.update(SAMPLES["vqav2"]().files)
    root, _ = materialise(tmp_path, sample)
    with pytest.raises(MmdataError, match="both VQA v1 .* and v2 .* point PATH at one version"):
        read_rows("vqav2", root)


def test_vqa_v1_missing_annotations_for_an_answered_split(tmp_path):
    sample = vqa_v1()
    del sample.files["Annotations/mscoco_train2014_annotations.json"]
    root, _ = materialise(tmp_path, sample)
    with pytest.raises(MmdataError, match=r"annotations file mscoco_train2014_annotations\.json is missing"):
        read_rows("vqav2", root)


# ---- COCO captions 2014 ---------------------------------------------------------------------------


def test_coco_captions_2014_next_to_2017(tmp_path):
    sample = SAMPLES["coco_captions"]()
    sample.files["annotations/captions_train2014.json"] = {
        "info": {"description": "This is stable 1.0 version of the 2014 MS COCO dataset.", "version": "1.0", "year": 2014},
        "images": [{"license": 5, "file_name": "COCO_train2014_000000057870.jpg", "height": 18, "width": 30, "id": 57870}],
        "annotations": [{"image_id": 57870, "id": 787980, "caption": "A restaurant has modern wooden tables and chairs."}],
    }
    sample.files["annotations/captions_val2014.json"] = {
        "images": [{"file_name": "COCO_val2014_000000000042.jpg", "height": 10, "width": 12, "id": 42}],
        "annotations": [{"image_id": 42, "id": 641, "caption": "A man on a horse. "}],
    }
    sample.images.update({"train2014/COCO_train2014_000000057870.jpg": (30, 18), "val2014/COCO_val2014_000000000042.jpg": (12, 10)})
    root, shas = materialise(tmp_path, sample)
    rows = read_rows("coco_captions", root)
    assert [r["record_id"] for r in rows] == ["787980", "661611", "641", "370", "446"]  # train2014, train2017, val2014, val2017
    assert rows[0] == rec("coco_captions", "caption", "train", "787980", image_id="57870",
                          image=img(shas, "train2014/COCO_train2014_000000057870.jpg", 30, 18),
                          caption="A restaurant has modern wooden tables and chairs.")  # fmt: skip
    assert rows[2] == rec("coco_captions", "caption", "val", "641", image_id="42",
                          image=img(shas, "val2014/COCO_val2014_000000000042.jpg", 12, 10), caption="A man on a horse.")  # fmt: skip


# ---- RefCOCO / RefCOCO+ / RefCOCOg refs pickles ---------------------------------------------------


def _as_pickle(sample: Sample, json_name: str, pickle_name: str, *, py2_text: bool) -> Sample:
    refs = sample.files.pop(json_name)
    sample.files[pickle_name] = dumps_py2(as_py2(refs) if py2_text else refs)
    return sample


@pytest.mark.parametrize(
    ("name", "json_name", "pickle_name", "split_a", "split_b"),
    [
        ("refcoco", "refs(unc).json", "refs(unc).p", "train", "testA"),
        ("refcoco", "refs(unc).json", "refs(google).p", "train", "testA"),
        ("refcoco+", "refs(unc).json", "refs(unc).p", "val", "testB"),
        ("refcocog", "refs(umd).json", "refs(umd).p", "train", "test"),
        ("refcocog", "refs(umd).json", "refs(google).p", "train", "test"),
    ],
)
@pytest.mark.parametrize("py2_text", [True, False], ids=["py2-str", "unicode"])
def test_refs_pickles_read_directly(tmp_path, name, json_name, pickle_name, split_a, split_b, py2_text):
    sample = _as_pickle(SAMPLES[name](), json_name, pickle_name, py2_text=py2_text)
    root, shas = materialise(tmp_path, sample)
    im581 = img(shas, "train2014/COCO_train2014_000000000581.jpg", 64, 48)
    rows = read_rows(name, root)
    assert [(r["record_id"], r["split"], r["phrase"]) for r in rows] == [
        ("7:1", split_a, "dog on left"), ("7:2", split_a, "the brown dog"), ("8:3", split_b, "man on right"), ("9:4", split_a, "small dog"),
    ]  # fmt: skip
    assert rows[0] == rec(name, "rec", split_a, "7:1", image_id="581", image=im581, bbox=[0.125, 0.25, 0.375, 0.75],
                          phrase="dog on left", extra={"raw": "Dog on left", "category": "dog", "ref_id": 7, "ann_id": 1001})  # fmt: skip


def test_python2_byte_strings_decode_as_utf8_or_latin1(tmp_path):
    sample = SAMPLES["refcoco"]()
    refs = sample.files.pop("refs(unc).json")
    refs[0]["sentences"][0]["sent"] = "caf\u00e9 on left"  # as_py2 keeps it as UTF-8 bytes, as Python 2 did
    refs = as_py2(refs)
    refs[0][Py2Str(b"sentences")][1][Py2Str(b"sent")] = Py2Str(b"na\xefve dog")  # not UTF-8: read as Latin-1
    sample.files["refs(unc).p"] = dumps_py2(refs)
    root, _ = materialise(tmp_path, sample)
    assert [r["phrase"] for r in read_rows("refcoco", root)][:2] == ["caf\u00e9 on left", "na\u00efve dog"]


def test_json_refs_are_preferred_over_the_pickle(tmp_path):
    sample = SAMPLES["refcoco"]()
    sample.files["refs(unc).p"] = b"not a pickle at all"  # never opened: the JSON is there
    root, _ = materialise(tmp_path, sample)
    assert len(read_rows("refcoco", root)) == 4


def test_refs_of_another_dataset_only_is_a_clear_error(tmp_path):
    sample = _as_pickle(SAMPLES["refcoco"](), "refs(unc).json", "refs(umd).p", py2_text=True)
    root, _ = materialise(tmp_path, sample)
    with pytest.raises(MmdataError) as info:
        read_rows("refcoco", root)
    msg = str(info.value)
    assert "expected refs(unc).p or refs(google).p (or .json)" in msg and "found refs(umd).p" in msg and "\n" not in msg


def test_convert_refs_writes_the_json_the_adapter_reads(tmp_path):
    from mmdata.sources.refcoco import convert_refs

    sample = _as_pickle(SAMPLES["refcocog"](), "refs(umd).json", "refs(umd).p", py2_text=True)
    root, _ = materialise(tmp_path, sample)
    from_pickle = read_rows("refcocog", root)
    (done,) = convert_refs(root)
    assert done.status == "written" and done.target == root / "refs(umd).json"
    assert json.loads(done.target.read_text()) == SAMPLES["refcocog"]().files["refs(umd).json"]
    (root / "refs(umd).p").unlink()
    assert read_rows("refcocog", root) == from_pickle
