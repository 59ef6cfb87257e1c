"""Every registered adapter reads a hand-written copy of its native format into exact Records.

The inputs live in :mod:`tests.sources.samples` (literal JSON typed by hand); the expected Records
below are typed by hand too, field by field, from docs/sources.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mmdata.schema import RECORD_COLUMNS, RECORD_SCHEMA
from mmdata.sources import ReadReport, names, read_table
from tests.sources.samples import SAMPLES, Sample, image_bytes, write_sample


def rec(dataset: str, task: str, split: str, record_id: str, **values) -> dict:
    out = {c: None for c in RECORD_COLUMNS}
    out.update(dataset=dataset, task=task, split=split, record_id=record_id, language="en")
    out.update(values)
    return out


def img(shas: dict, path: str, width: int, height: int) -> dict:
    return {"path": path, "sha256": shas[path], "width": width, "height": height}


def read_rows(name: str, root, **kw) -> list[dict]:
    table = read_table(name, root, **kw)
    assert table.schema.equals(RECORD_SCHEMA)
    rows = table.to_pylist()
    for r in rows:
        if r["extra"] is not None:
            r["extra"] = json.loads(r["extra"])
    return rows


def materialise(tmp_path, sample: Sample):
    root = tmp_path / "src"
    root.mkdir()
    return root, write_sample(root, sample)


def test_every_registered_adapter_has_a_handwritten_sample():
    assert sorted(SAMPLES) == names()
    assert len(names()) == 27


def test_translated_vqav2_reads_vqav2s_layout_in_its_language(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["vqav2_pt"]())
    p42 = "val2014/COCO_val2014_000000000042.jpg"
    rows = read_rows("vqav2_pt", root)
    assert rows[0] == rec(
        "vqav2_pt", "vqa_open", "val", "42000", language="pt",
        image_id="42", image=img(shas, p42, 32, 24),
        question="De que cor é o ônibus?", answer="vermelho",
        answers=[{"text": "vermelho", "weight": 0.75}, {"text": "bordô", "weight": 0.25}],
        extra={"question_type": "what color is the", "answer_type": "other"},
    )  # fmt: skip
    assert [r["language"] for r in read_rows("vqav2_zh", root)] == ["zh", "zh"]


def test_vqav2(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["vqav2"]())
    p42, p73 = "val2014/COCO_val2014_000000000042.jpg", "val2014/COCO_val2014_000000000073.jpg"
    assert read_rows("vqav2", root) == [
        rec(
            "vqav2", "vqa_open", "val", "42000",
            image_id="42", image=img(shas, p42, 32, 24),
            question="What color is the bus?", answer="red",
            answers=[{"text": "red", "weight": 0.75}, {"text": "maroon", "weight": 0.25}],
            extra={"question_type": "what color is the", "answer_type": "other"},
        ),
        rec(
            "vqav2", "vqa_open", "val", "73001",
            image_id="73", image=img(shas, p73, 20, 16),
            question="Is it raining?", answer="no", answers=[{"text": "no", "weight": 1.0}],
            extra={"question_type": "is it", "answer_type": "yes/no"},
        ),
    ]  # fmt: skip


def test_gqa(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["gqa"]())
    assert read_rows("gqa", root) == [
        # files in sorted order: testdev_… before train_…
        rec(
            "gqa", "vqa_open", "testdev", "20968379",
            image_id="n288870", image=img(shas, "n288870.jpg", 12, 20),
            question="Who is wearing the shirt?", answer="girl", answers=[{"text": "girl", "weight": 1.0}],
            extra={"fullAnswer": "The girl is wearing the shirt.", "type": "relS", "balanced": True},
        ),
        rec(
            "gqa", "vqa_open", "train", "02930152",
            image_id="2354786", image=img(shas, "2354786.jpg", 24, 16),
            question="Is the sky dark?", answer="yes", answers=[{"text": "yes", "weight": 1.0}],
            extra={"fullAnswer": "Yes, the sky is dark.", "type": "verifyAttr", "balanced": True},
        ),
        rec(
            "gqa", "vqa_open", "train", "07333408",
            image_id="2375429", image=img(shas, "2375429.jpg", 16, 16),
            question="What is on the white wall?", answer="pipe", answers=[{"text": "pipe", "weight": 1.0}],
            extra={"fullAnswer": "The pipe is on the wall.", "type": None, "balanced": True},
        ),
    ]  # fmt: skip


def test_ocrvqa(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["ocrvqa"]())
    book1 = {"title": "Cooking at Home", "authorName": "Jane Doe", "genre": "Cookbooks, Food & Wine"}
    book2 = {"title": "Ein Buch über Berge", "authorName": "Max Müller", "genre": "Travel"}
    im1, im2 = img(shas, "1234567890.jpg", 20, 30), img(shas, "0987654321.png", 16, 24)
    assert read_rows("ocrvqa", root) == [
        rec("ocrvqa", "vqa_open", "train", "1234567890_0", image_id="1234567890", image=im1,
            question="Who wrote this book?", answer="Jane Doe", extra=book1),
        rec("ocrvqa", "vqa_open", "train", "1234567890_1", image_id="1234567890", image=im1,
            question="What is the title of this book?", answer="Cooking at Home", extra=book1),
        rec("ocrvqa", "vqa_open", "train", "1234567890_2", image_id="1234567890", image=im1,
            question="What type of book is this?", answer="Cookbooks, Food & Wine", extra=book1),
        rec("ocrvqa", "vqa_open", "test", "0987654321_0", image_id="0987654321", image=im2,
            question="Is this a comedy book?", answer="No", extra=book2),
    ]  # fmt: skip


def test_vsr(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["vsr"]())
    assert read_rows("vsr", root) == [
        # dev.jsonl is read first (sorted names); dev → val; the blank line 2 of train.jsonl is skipped
        rec(
            "vsr", "vqa_open", "val", "dev-1",
            image_id="000000045071", image=img(shas, "000000045071.jpg", 10, 10),
            question="Is it true that The dog has the frisbee?", answer="yes",
            caption="The dog has the frisbee.",
            extra={"relation": "has as a part", "subj": "dog", "obj": "frisbee", "label": 1,
                   "subj_obj_source": "file", "reference_frame": None},
        ),
        rec(
            "vsr", "vqa_open", "train", "train-1",
            image_id="000000085637", image=img(shas, "000000085637.jpg", 16, 12),
            question="Is the cat on the suitcase?", answer="yes",
            caption="The cat is on the suitcase.",
            extra={"relation": "on", "subj": "cat", "obj": "suitcase", "label": 1,
                   "subj_obj_source": "file", "reference_frame": None},
        ),
        rec(
            "vsr", "vqa_open", "train", "train-3",
            image_id="000000262118", image=img(shas, "000000262118.jpg", 12, 16),
            question="Is the horse far away from the car?", answer="no",
            caption="The horse is far away from the car.",
            extra={"relation": "far away from", "subj": "horse", "obj": "car", "label": 0,
                   "subj_obj_source": "file", "reference_frame": None},
        ),
    ]  # fmt: skip


def test_scienceqa(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["scienceqa"]())
    assert read_rows("scienceqa", root) == [
        rec(
            "scienceqa", "vqa_mc", "train", "5",
            image_id="5", image=img(shas, "train/5/image.png", 30, 20),
            question="Which of these states is farthest north?", answer="West Virginia",
            choices=["West Virginia", "Louisiana", "Arizona", "Oklahoma"], answer_idx=0, context=None,
            extra={
                "lecture": "Maps have four cardinal directions, or main directions.",
                "solution": "To find the answer, look at the compass rose.",
                "subject": "social science", "topic": "geography", "category": "Geography",
                "skill": "Read a map: cardinal directions", "grade": "grade2", "task": "closed choice",
            },
        ),
        rec(
            "scienceqa", "vqa_mc", "val", "18",
            question="Which tense does the sentence use?\nMona will print her name with care.",
            answer="future tense", choices=["present tense", "future tense", "past tense"], answer_idx=1,
            extra={
                "lecture": "Present tense verbs tell you about something that is happening now.",
                "solution": "The sentence is in future tense.",
                "subject": "language science", "topic": "verbs", "category": "Verb tense",
                "skill": "Is the sentence in the past, present, or future tense?", "grade": "grade6",
                "task": "closed choice",
            },
        ),
        rec(
            "scienceqa", "vqa_mc", "test", "21",
            image_id="21", image=img(shas, "test/21/image.png", 18, 14),
            question="Identify the question that Tom's experiment can best answer.",
            answer="Do ping pong balls roll farther?",
            choices=["Do ping pong balls stop rolling sooner?", "Do ping pong balls roll farther?"], answer_idx=1,
            context="The passage below describes an experiment.",
            extra={
                "lecture": "", "solution": "", "subject": "natural science",
                "topic": "science-and-engineering-practices", "category": "Designing experiments",
                "skill": "Identify the experimental question", "grade": "grade8", "task": "closed choice",
            },
        ),
    ]  # fmt: skip


def test_aokvqa(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["aokvqa"]())
    assert read_rows("aokvqa", root) == [
        rec(
            "aokvqa", "vqa_mc", "test", "2PWbQZqQnKjr4Ecq3ctgYr",
            image_id="1054", image=img(shas, "test2017/000000001054.jpg", 14, 10),
            question="What sport is being played?", choices=["tennis", "soccer", "golf", "baseball"],
            extra={"rationales": None, "difficult_direct_answer": True},
        ),
        rec(
            "aokvqa", "vqa_mc", "val", "22jbM6gDxdaMaunuzgrsBB",
            image_id="461751", image=img(shas, "val2017/000000461751.jpg", 24, 18),
            question="What is in the motorcyclist's mouth?", answer="cigarette",
            answers=[{"text": "cigarette", "weight": 0.75}, {"text": "cigar", "weight": 0.25}],
            choices=["toothpick", "food", "popsicle stick", "cigarette"], answer_idx=3,
            extra={
                "rationales": ["He's smoking while riding.", "The man has a cigarette in his mouth."],
                "difficult_direct_answer": False,
            },
        ),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "split_a", "split_b"), [("refcoco", "train", "testA"), ("refcoco+", "val", "testB"), ("refcocog", "train", "test")])
def test_refcoco_family(tmp_path, name, split_a, split_b):
    root, shas = materialise(tmp_path, SAMPLES[name]())
    im581 = img(shas, "train2014/COCO_train2014_000000000581.jpg", 64, 48)
    im900 = img(shas, "train2014/COCO_train2014_000000000900.jpg", 32, 32)
    assert read_rows(name, root) == [
        rec(name, "rec", split_a, "7:1", image_id="581", image=im581, bbox=[0.125, 0.25, 0.375, 0.75],
            phrase="dog on left", extra={"raw": "Dog on left", "category": "dog", "ref_id": 7, "ann_id": 1001}),
        rec(name, "rec", split_a, "7:2", image_id="581", image=im581, bbox=[0.125, 0.25, 0.375, 0.75],
            phrase="the brown dog", extra={"raw": "the brown dog.", "category": "dog", "ref_id": 7, "ann_id": 1001}),
        rec(name, "rec", split_b, "8:3", image_id="581", image=im581, bbox=[0.5, 0.0, 1.0, 1.0],
            phrase="man on right", extra={"raw": "Man on right", "category": "person", "ref_id": 8, "ann_id": 1002}),
        rec(name, "rec", split_a, "9:4", image_id="900", image=im900, bbox=[0.0, 0.25, 0.5, 0.5],
            phrase="small dog", extra={"raw": "small dog", "category": "dog", "ref_id": 9, "ann_id": 1003}),
    ]  # fmt: skip


def test_refcocog_reads_google_split_when_umd_is_absent(tmp_path):
    sample = SAMPLES["refcocog"]()
    sample.files["refs(google).json"] = sample.files.pop("refs(umd).json")
    root, _ = materialise(tmp_path, sample)
    rows = read_rows("refcocog", root)
    assert [r["record_id"] for r in rows] == ["7:1", "7:2", "8:3", "9:4"]


def test_refcoco_image_size_comes_from_the_annotation_file(tmp_path):
    sample = SAMPLES["refcoco"]()
    sample.images["train2014/COCO_train2014_000000000581.jpg"] = (8, 6)  # the file on disk is smaller
    root, _ = materialise(tmp_path, sample)
    first = read_rows("refcoco", root)[0]
    assert (first["image"]["width"], first["image"]["height"]) == (64, 48)


def test_vg_regions(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["vg_regions"]())
    im1, im10 = img(shas, "VG_100K_2/1.jpg", 64, 32), img(shas, "VG_100K/10.jpg", 40, 40)
    assert read_rows("vg_regions", root) == [
        rec("vg_regions", "rec", "train", "1382", image_id="1", image=im1, bbox=[0.25, 0.25, 0.5, 0.5],
            phrase="the clock is green in colour"),
        # sticks out right and bottom: clipped to the image
        rec("vg_regions", "rec", "train", "1383", image_id="1", image=im1, bbox=[0.75, 0.5, 1.0, 1.0],
            phrase="shade is along the street "),
        # image_data.json names this image with "id" (VG 1.0); box starts left of the image
        rec("vg_regions", "rec", "train", "5000", image_id="10", image=im10, bbox=[0.0, 0.0, 0.5, 0.5],
            phrase="a dog"),
    ]  # fmt: skip


def test_coco_captions(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["coco_captions"]())
    im9 = img(shas, "train2017/000000000009.jpg", 20, 16)
    im139 = img(shas, "val2017/000000000139.jpg", 40, 24)
    assert read_rows("coco_captions", root) == [
        rec("coco_captions", "caption", "train", "661611", image_id="9", image=im9,
            caption="Closeup of bins of food that include broccoli and bread."),
        rec("coco_captions", "caption", "val", "370", image_id="139", image=im139,
            caption="A woman stands in the dining area at the table."),
        rec("coco_captions", "caption", "val", "446", image_id="139", image=im139,
            caption="A room with chairs, a table, and a woman in it."),
    ]  # fmt: skip


def test_coco_captions_in_path_itself(tmp_path):
    sample = SAMPLES["coco_captions"]()
    sample.files = {k.removeprefix("annotations/"): v for k, v in sample.files.items()}
    root, _ = materialise(tmp_path, sample)
    assert [r["record_id"] for r in read_rows("coco_captions", root)] == ["661611", "370", "446"]


@pytest.mark.parametrize(
    ("name", "language"),
    [("llava_instruct", "en")] + [(f"llava_instruct_{lang}", lang) for lang in ("zh", "pt", "ar", "tr", "ru")],
)
def test_llava_family(tmp_path, name, language):
    root, shas = materialise(tmp_path, SAMPLES[name]())
    im = img(shas, "coco/train2017/000000033471.jpg", 32, 20)
    assert read_rows(name, root) == [
        rec(name, "v_inst", "train", "000000033471", language=language, image_id=im["path"], image=im, turns=[
            {"role": "user", "content": "What are the colors of the bus in the image?\n<image>"},
            {"role": "assistant", "content": "The bus in the image is white and red."},
            {"role": "user", "content": "公交车后面能看到什么？"},
            {"role": "assistant", "content": "车后面有一个广告牌。"},
        ]),
        rec(name, "v_inst", "train", "000000033471#1", language=language, image_id=im["path"], image=im, turns=[
            {"role": "user", "content": "<image>\nDescribe the image concisely."},
            {"role": "assistant", "content": "A red and white bus at a stop."},
        ]),
        # "000000052846" has no turns and is skipped; id 12 has no image
        rec(name, "v_inst", "train", "12", language=language, turns=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
        ]),
    ]  # fmt: skip


def test_sharegpt(tmp_path):
    root, _ = materialise(tmp_path, SAMPLES["sharegpt"]())
    assert read_rows("sharegpt", root) == [
        # part0 before part1 (sorted); the id repeated in part1 becomes "#1"
        rec("sharegpt", "t_inst", "train", "QWJhYvA_1", turns=[
            {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hi!"},
        ]),
        rec("sharegpt", "t_inst", "train", "QWJhYvA_0", turns=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Summarize the plot of Hamlet in one line."},
            {"role": "assistant", "content": "A prince avenges his father and everyone dies."},
            {"role": "user", "content": "Shorter?"},
            {"role": "assistant", "content": "Revenge, then tragedy."},
            {"role": "assistant", "content": "Revenge."},
            {"role": "assistant", "content": "Done."},
        ]),
        rec("sharegpt", "t_inst", "train", "QWJhYvA_1#1", turns=[
            {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
        ]),
    ]  # fmt: skip


def test_decompress(tmp_path):
    root, shas = materialise(tmp_path, SAMPLES["decompress"]())
    a, b = img(shas, "coco/train2017/000000100000.jpg", 64, 64), img(shas, "vg/VG_100K/2000001.jpg", 64, 48)
    assert read_rows("decompress", root) == [
        rec("decompress", "decompress", "train", "decompress-5c2e0b7d9a41f3e8", image_id=a["path"], image=a, turns=[
            {"role": "user", "content": "<image>\nList the full visual code sequence of this image."},
            {"role": "assistant", "content": "<image-codes>"},
        ]),
        rec("decompress", "decompress", "train", "decompress-0b93d1c4e7a2f605", image_id=b["path"], image=b, turns=[
            {"role": "user", "content": "<image>\nUnfold the compressed image into all of its codes."},
            {"role": "assistant", "content": "<image-codes>"},
        ]),
    ]  # fmt: skip


def test_explicit_image_root_and_report(tmp_path):
    """``images=`` overrides PATH/images; the report names the root and the native files."""
    root, shas = materialise(tmp_path, SAMPLES["gqa"]())
    moved = tmp_path / "gqa-images"
    (root / "images").rename(moved)
    rep = ReadReport()
    rows = read_rows("gqa", root, images=moved, report=rep)
    assert [r["image"]["sha256"] for r in rows] == [shas["n288870.jpg"], shas["2354786.jpg"], shas["2375429.jpg"]]
    assert rep.records == 3 and rep.quarantined == [] and rep.image_root == str(moved)
    assert [p.rsplit("/", 1)[-1] for p in rep.files] == ["testdev_balanced_questions.json", "train_balanced_questions.json"]


def test_limit_and_small_batches_keep_order(tmp_path):
    from mmdata.sources import read

    root, _ = materialise(tmp_path, SAMPLES["ocrvqa"]())
    batches = list(read("ocrvqa", root, batch_size=1, limit=3))
    assert [b.num_rows for b in batches] == [1, 1, 1]
    assert [b.column("record_id")[0].as_py() for b in batches] == ["1234567890_0", "1234567890_1", "1234567890_2"]


def test_images_dir_symlinked_into_a_shared_pool(tmp_path):
    """PATH/images may be a symlink to a pool shared by several sources (like one COCO folder)."""
    root, shas = materialise(tmp_path, SAMPLES["refcoco"]())
    pool = tmp_path / "pool" / "coco"
    pool.parent.mkdir()
    (root / "images").rename(pool)
    (root / "images").symlink_to(pool, target_is_directory=True)
    rows = read_rows("refcoco", root)
    assert [r["image"]["sha256"] for r in rows] == [shas["train2014/COCO_train2014_000000000581.jpg"]] * 3 + [
        shas["train2014/COCO_train2014_000000000900.jpg"]
    ]
    assert rows[0]["image"]["path"] == "train2014/COCO_train2014_000000000581.jpg"


def test_reading_twice_gives_identical_tables(tmp_path):
    root, _ = materialise(tmp_path, SAMPLES["vg_regions"]())
    assert read_table("vg_regions", root).equals(read_table("vg_regions", root))


def test_vsr_claim_to_question():
    from mmdata.sources.vsr import claim_to_question

    assert claim_to_question("The cat is on the suitcase.") == "Is the cat on the suitcase?"
    assert claim_to_question("The teddy bear is in front of the person.") == "Is the teddy bear in front of the person?"
    assert claim_to_question("  The car is parallel to the bus  ") == "Is the car parallel to the bus?"
    assert claim_to_question("The dog has the frisbee.") == "Is it true that The dog has the frisbee?"
    assert claim_to_question("A cat is on the bed.") == "Is it true that A cat is on the bed?"


# ---- hub parquet sources -------------------------------------------------------------------------


def emb(name: str, w: int, h: int) -> dict:
    """The Record reference of an embedded image: its place in the extracted store, by content."""
    data = image_bytes(name, w, h)
    digest = hashlib.sha256(data).hexdigest()
    ext = "png" if name.endswith(".png") else "jpg"
    return {"path": f"{digest[:2]}/{digest}.{ext}", "sha256": digest, "width": w, "height": h}


def test_cauldron(tmp_path):
    root, _ = materialise(tmp_path, SAMPLES["cauldron"]())
    a, b, c, d = emb("cauldron-a.png", 24, 16), emb("cauldron-b.jpg", 12, 20), emb("cauldron-c.png", 16, 16), emb("cauldron-d.jpg", 20, 10)
    rep = ReadReport()
    rows = read_rows("cauldron", root, report=rep)
    assert rows == [
        # subsets and shards in sorted path order; a multi-image row keeps every image, in order
        rec("cauldron", "v_inst", "train", "mimic_cgd/train-00000-of-00002:0", image_id=c["sha256"], image=c, images=[c, d, a],
            turns=[{"role": "user", "content": "What changed between the images?"},
                   {"role": "assistant", "content": "The cup moved."}],
            extra={"subset": "mimic_cgd", "sources": ["mimic_cgd"]}),
        rec("cauldron", "t_inst", "train", "mimic_cgd/train-00001-of-00002:0",
            turns=[{"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}],
            extra={"subset": "mimic_cgd", "sources": ["mimic_cgd"]}),
        rec("cauldron", "v_inst", "train", "vqav2/train-00000-of-00001:0", image_id=a["sha256"], image=a, turns=[
            {"role": "user", "content": "What color is the bus?\nAnswer briefly."}, {"role": "assistant", "content": "Red."},
            {"role": "user", "content": "How many people are on it?"}, {"role": "assistant", "content": "2"},
        ], extra={"subset": "vqav2", "sources": ["vqav2"]}),
        rec("cauldron", "v_inst", "train", "vqav2/train-00000-of-00001:1", image_id=b["sha256"], image=b,
            turns=[{"role": "user", "content": "Is it raining?"}, {"role": "assistant", "content": "No."}],
            extra={"subset": "vqav2", "sources": ["vqav2"]}),
    ]  # fmt: skip
    # the image root is the content-addressed store: the embedded bytes, untouched, as ordinary files
    store = Path(rep.image_root)
    for ref, name, w, h in ((a, "cauldron-a.png", 24, 16), (d, "cauldron-d.jpg", 20, 10)):
        assert (store / ref["path"]).read_bytes() == image_bytes(name, w, h)
    # one subset directory alone reads the same Records for that subset
    assert [r["record_id"] for r in read_rows("cauldron", root / "vqav2")] == ["vqav2/train-00000-of-00001:0", "vqav2/train-00000-of-00001:1"]


def test_llava_onevision(tmp_path):
    root, _ = materialise(tmp_path, SAMPLES["llava_onevision"]())
    a, b = emb("ov-a.png", 20, 12), emb("ov-b.jpg", 10, 14)
    clevr = {"subset": "CLEVR-Math(MathV360K)", "data_source": "CLEVR-Math(MathV360K)"}
    assert read_rows("llava_onevision", root) == [
        rec("llava_onevision", "v_inst", "train", "CLEVR_train_000123.png", image_id=a["sha256"], image=a, turns=[
            {"role": "user", "content": "<image>\nSubtract all red cubes. How many objects are left?"},
            {"role": "assistant", "content": "3"},
        ], extra=clevr),
        rec("llava_onevision", "t_inst", "train", "magpie_0001", turns=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name a prime above 10."},
            {"role": "assistant", "content": "11"},
        ], extra={"subset": "CLEVR-Math(MathV360K)", "data_source": "magpie_pro"}),
        rec("llava_onevision", "v_inst", "train", "CLEVR_train_000123.png#1", image_id=b["sha256"], image=b, turns=[
            {"role": "user", "content": "<image>\nIs there a sphere?"}, {"role": "assistant", "content": "Yes"},
        ], extra=clevr),
    ]  # fmt: skip


def test_hf_parquet_in_both_layouts(tmp_path):
    root, _ = materialise(tmp_path, SAMPLES["hf"]())
    a, b, c = emb("hf-a.png", 8, 6), emb("hf-b.jpg", 6, 8), emb("hf-c.png", 10, 10)
    assert read_rows("hf", root) == [
        rec("hf", "v_inst", "train", "cauldron_style/data/train-00000-of-00001:0", image_id=a["sha256"], image=a, images=[a, b],
            turns=[{"role": "user", "content": "Which image is wider?"}, {"role": "assistant", "content": "The first."}],
            extra={"subset": "cauldron_style/data", "sources": ["diffs"]}),
        rec("hf", "v_inst", "val", "m4-1", image_id=b["sha256"], image=b, images=[b, c], turns=[
            {"role": "user", "content": "<image>\n<image>\nAre these the same scene?"}, {"role": "assistant", "content": "No."},
        ], extra={"subset": "llava_style/data", "data_source": None}),
        # a one-element images list is a single-image record: images stays null
        rec("hf", "v_inst", "val", "m4-2", image_id=c["sha256"], image=c, turns=[
            {"role": "user", "content": "<image>\nDescribe."}, {"role": "assistant", "content": "A grey square."},
        ], extra={"subset": "llava_style/data", "data_source": None}),
    ]  # fmt: skip
