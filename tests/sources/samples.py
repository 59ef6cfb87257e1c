"""Hand-written miniature copies of each dataset in its real native format (literal JSON / rows).

Written independently of any generator: every value below is typed by hand, shaped like the files
the datasets actually publish (extra keys the adapters ignore are kept, as in the real files).
``write_sample`` materialises one under a directory, with tiny real images in ``images/``. A
``.parquet`` file is given as its list of rows and written with the published dataset's column
types (:data:`PARQUET_SCHEMAS`); embedded images are the bytes of :func:`image_bytes`.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image


class Blank:
    """An empty line inside a ``.jsonl`` file."""


BLANK = Blank()


@dataclass
class Sample:
    files: dict[str, Any]  # path under the dataset dir -> JSON value (a list of lines for .jsonl) or bytes
    images: dict[str, tuple[int, int]] = field(default_factory=dict)  # path under images/ -> (w, h)


def image_bytes(rel: str, w: int, h: int) -> bytes:
    """A small real image; the colour depends on the path so different images hash differently."""
    seed = hashlib.sha256(rel.encode()).digest()
    im = Image.new("RGB", (w, h), (seed[0], seed[1], seed[2]))
    buf = io.BytesIO()
    im.save(buf, format="PNG" if rel.endswith(".png") else "JPEG")
    return buf.getvalue()


IMAGE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
TURNS = pa.list_(pa.struct([pa.field("from", pa.string()), pa.field("value", pa.string())]))
# the column types of the published parquet files, keyed by their column names
PARQUET_SCHEMAS = {
    frozenset({"images", "texts"}): pa.schema([
        pa.field("images", pa.list_(IMAGE)),
        pa.field("texts", pa.list_(pa.struct([pa.field("user", pa.string()), pa.field("assistant", pa.string()),
                                              pa.field("source", pa.string())]))),
    ]),
    frozenset({"id", "image", "conversations", "data_source"}): pa.schema([
        pa.field("id", pa.string()), pa.field("image", IMAGE), pa.field("conversations", TURNS), pa.field("data_source", pa.string()),
    ]),
    frozenset({"id", "images", "conversations"}): pa.schema([
        pa.field("id", pa.string()), pa.field("images", pa.list_(IMAGE)), pa.field("conversations", TURNS),
    ]),
}  # fmt: skip


def parquet_file(rows: Any) -> bytes:
    """Parquet bytes for a list of row dicts: the published column types when the columns are known,
    else inferred types; rows that fit no Arrow type (a fuzzer's edits) become JSON text cells."""
    attempts = []
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        cols = frozenset(k for r in rows for k in r)
        if cols in PARQUET_SCHEMAS:
            attempts.append(lambda: pa.Table.from_pylist(rows, schema=PARQUET_SCHEMAS[cols]))
        attempts.append(lambda: pa.Table.from_pylist(rows))
        names = sorted({k for r in rows for k in r})
        attempts.append(lambda: pa.table({n: [_json_text(r.get(n)) for r in rows] for n in names}))
    attempts.append(lambda: pa.table({"value": [_json_text(rows)]}))
    for make in attempts:
        try:
            sink = pa.BufferOutputStream()
            pq.write_table(make(), sink)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            continue
        return sink.getvalue().to_pybytes()
    raise AssertionError("unreachable: the last attempt always builds a table")


def _json_text(value: Any) -> str:
    return json.dumps(value, default=lambda b: b.hex() if isinstance(b, bytes) else str(b))


def encode_file(name: str, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if name.endswith(".parquet"):
        return parquet_file(value)
    if name.endswith(".jsonl") and isinstance(value, list):
        lines = ["" if isinstance(v, Blank) else json.dumps(v) for v in value]
        return ("\n".join(lines) + "\n").encode()
    return json.dumps(value).encode()


def write_sample(root: Path, sample: Sample) -> dict[str, str]:
    """Write files and images under ``root``; return ``{image path: sha256}``."""
    for name, value in sample.files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(encode_file(name, value))
    shas = {}
    for rel, (w, h) in sample.images.items():
        p = root / "images" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        data = image_bytes(rel, w, h)
        p.write_bytes(data)
        shas[rel] = hashlib.sha256(data).hexdigest()
    return shas


# ------------------------------------------------------------------------------------------------


def vqav2() -> Sample:
    return Sample(
        files={
            "v2_OpenEnded_mscoco_val2014_questions.json": {
                "info": {"description": "This is v2.0 of the VQA dataset.", "version": "2.0", "year": 2017},
                "task_type": "Open-Ended",
                "data_type": "mscoco",
                "license": {"url": "http://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"},
                "data_subtype": "val2014",
                "questions": [
                    {"image_id": 42, "question": "What color is the bus?", "question_id": 42000},
                    {"image_id": 73, "question": "Is it raining?", "question_id": 73001},
                ],
            },
            "v2_mscoco_val2014_annotations.json": {
                "info": {"version": "2.0"},
                "license": {"name": "CC BY 4.0"},
                "data_subtype": "val2014",
                "annotations": [
                    {
                        "question_type": "is it",
                        "multiple_choice_answer": "no",
                        "answers": [
                            {"answer": "no", "answer_confidence": "yes", "answer_id": 1},
                            {"answer": "no", "answer_confidence": "yes", "answer_id": 2},
                        ],
                        "image_id": 73,
                        "answer_type": "yes/no",
                        "question_id": 73001,
                    },
                    {
                        "question_type": "what color is the",
                        "multiple_choice_answer": "red",
                        "answers": [
                            {"answer": "red", "answer_confidence": "yes", "answer_id": 1},
                            {"answer": "red", "answer_confidence": "yes", "answer_id": 2},
                            {"answer": "maroon", "answer_confidence": "maybe", "answer_id": 3},
                            {"answer": "red", "answer_confidence": "yes", "answer_id": 4},
                        ],
                        "image_id": 42,
                        "answer_type": "other",
                        "question_id": 42000,
                    },
                ],
            },
        },
        images={"val2014/COCO_val2014_000000000042.jpg": (32, 24), "val2014/COCO_val2014_000000000073.jpg": (20, 16)},
    )


def vqav2_translated() -> Sample:
    """VQAv2's layout with the texts in Portuguese (what ``vqav2_<lang>`` reads; the language comes from the source)."""
    smp = vqav2()
    words = {"What color is the bus?": "De que cor é o ônibus?", "Is it raining?": "Está chovendo?", "no": "não",
             "red": "vermelho", "maroon": "bordô"}  # fmt: skip
    for q in smp.files["v2_OpenEnded_mscoco_val2014_questions.json"]["questions"]:
        q["question"] = words[q["question"]]
    for a in smp.files["v2_mscoco_val2014_annotations.json"]["annotations"]:
        a["multiple_choice_answer"] = words[a["multiple_choice_answer"]]
        for x in a["answers"]:
            x["answer"] = words[x["answer"]]
    return smp


def gqa() -> Sample:
    return Sample(
        files={
            "train_balanced_questions.json": {
                "02930152": {
                    "semantic": [{"operation": "select", "dependencies": [], "argument": "sky (2486325)"}],
                    "entailed": ["02930160"],
                    "equivalent": ["02930152"],
                    "question": "Is the sky dark?",
                    "imageId": "2354786",
                    "isBalanced": True,
                    "groups": {"global": None, "local": "06-sky_dark"},
                    "answer": "yes",
                    "semanticStr": "select: sky (2486325)->verify color: dark [0]",
                    "annotations": {"answer": {}, "question": {"2": "2486325"}, "fullAnswer": {"2": "2486325"}},
                    "types": {"detailed": "verifyAttr", "semantic": "attr", "structural": "verify"},
                    "fullAnswer": "Yes, the sky is dark.",
                },
                "07333408": {
                    "question": "What is on the white wall?",
                    "imageId": "2375429",
                    "isBalanced": True,
                    "answer": "pipe",
                    "fullAnswer": "The pipe is on the wall.",
                    "types": {"semantic": "rel", "structural": "query"},
                },
            },
            "testdev_balanced_questions.json": {
                "20968379": {
                    "question": "Who is wearing the shirt?",
                    "imageId": "n288870",
                    "isBalanced": True,
                    "answer": "girl",
                    "fullAnswer": "The girl is wearing the shirt.",
                    "types": {"detailed": "relS", "semantic": "rel", "structural": "query"},
                },
            },
        },
        images={"2354786.jpg": (24, 16), "2375429.jpg": (16, 16), "n288870.jpg": (12, 20)},
    )


def ocrvqa() -> Sample:
    return Sample(
        files={
            "dataset.json": {
                "1234567890": {
                    "imageURL": "http://ecx.images-amazon.com/images/I/51Vn3zmF5hL.jpg",
                    "questions": ["Who wrote this book?", "What is the title of this book?", "What type of book is this?"],
                    "answers": ["Jane Doe", "Cooking at Home", "Cookbooks, Food & Wine"],
                    "title": "Cooking at Home",
                    "authorName": "Jane Doe",
                    "genre": "Cookbooks, Food & Wine",
                    "split": 1,
                },
                "0987654321": {
                    "imageURL": "http://ecx.images-amazon.com/images/I/41QzXwq7ZpL.png",
                    "questions": ["Is this a comedy book?"],
                    "answers": ["No"],
                    "title": "Ein Buch über Berge",
                    "authorName": "Max Müller",
                    "genre": "Travel",
                    "split": 3,
                },
            }
        },
        images={"1234567890.jpg": (20, 30), "0987654321.png": (16, 24)},
    )


def vsr() -> Sample:
    return Sample(
        files={
            "train.jsonl": [
                {
                    "image": "000000085637.jpg",
                    "image_link": "http://images.cocodataset.org/train2017/000000085637.jpg",
                    "caption": "The cat is on the suitcase.",
                    "label": 1,
                    "relation": "on",
                    "annotator_id": 31,
                    "vote_true_validator_id": [2, 29],
                    "vote_false_validator_id": [],
                    "subj": "cat",
                    "obj": "suitcase",
                },
                BLANK,
                {
                    "image": "000000262118.jpg",
                    "caption": "The horse is far away from the car.",
                    "label": 0,
                    "relation": "far away from",
                    "subj": "horse",
                    "obj": "car",
                },
            ],
            "dev.jsonl": [
                {
                    "image": "000000045071.jpg",
                    "caption": "The dog has the frisbee.",
                    "label": 1,
                    "relation": "has as a part",
                    "subj": "dog",
                    "obj": "frisbee",
                }
            ],
        },
        images={"000000085637.jpg": (16, 12), "000000262118.jpg": (12, 16), "000000045071.jpg": (10, 10)},
    )


_SQA_TAXONOMY = {"subject": "social science", "topic": "geography", "category": "Geography"}


def scienceqa() -> Sample:
    return Sample(
        files={
            "problems.json": {
                "5": {
                    "question": "Which of these states is farthest north?",
                    "choices": ["West Virginia", "Louisiana", "Arizona", "Oklahoma"],
                    "answer": 0,
                    "hint": "",
                    "image": "image.png",
                    "task": "closed choice",
                    "grade": "grade2",
                    **_SQA_TAXONOMY,
                    "skill": "Read a map: cardinal directions",
                    "lecture": "Maps have four cardinal directions, or main directions.",
                    "solution": "To find the answer, look at the compass rose.",
                    "split": "train",
                },
                "18": {
                    "question": "Which tense does the sentence use?\nMona will print her name with care.",
                    "choices": ["present tense", "future tense", "past tense"],
                    "answer": 1,
                    "hint": "",
                    "image": None,
                    "task": "closed choice",
                    "grade": "grade6",
                    "subject": "language science",
                    "topic": "verbs",
                    "category": "Verb tense",
                    "skill": "Is the sentence in the past, present, or future tense?",
                    "lecture": "Present tense verbs tell you about something that is happening now.",
                    "solution": "The sentence is in future tense.",
                    "split": "val",
                },
                "21": {
                    "question": "Identify the question that Tom's experiment can best answer.",
                    "choices": ["Do ping pong balls stop rolling sooner?", "Do ping pong balls roll farther?"],
                    "answer": 1,
                    "hint": "The passage below describes an experiment.",
                    "image": "image.png",
                    "task": "closed choice",
                    "grade": "grade8",
                    "subject": "natural science",
                    "topic": "science-and-engineering-practices",
                    "category": "Designing experiments",
                    "skill": "Identify the experimental question",
                    "lecture": "",
                    "solution": "",
                    "split": "test",
                },
            }
        },
        images={"train/5/image.png": (30, 20), "test/21/image.png": (18, 14)},
    )


def aokvqa() -> Sample:
    return Sample(
        files={
            "aokvqa_v1p0_val.json": [
                {
                    "split": "val",
                    "image_id": 461751,
                    "question_id": "22jbM6gDxdaMaunuzgrsBB",
                    "question": "What is in the motorcyclist's mouth?",
                    "choices": ["toothpick", "food", "popsicle stick", "cigarette"],
                    "correct_choice_idx": 3,
                    "direct_answers": ["cigarette", "cigarette", "cigar", "cigarette"],
                    "difficult_direct_answer": False,
                    "rationales": ["He's smoking while riding.", "The man has a cigarette in his mouth."],
                }
            ],
            "aokvqa_v1p0_test.json": [
                {
                    "split": "test",
                    "image_id": 1054,
                    "question_id": "2PWbQZqQnKjr4Ecq3ctgYr",
                    "question": "What sport is being played?",
                    "choices": ["tennis", "soccer", "golf", "baseball"],
                    "difficult_direct_answer": True,
                }
            ],
        },
        images={"val2017/000000461751.jpg": (24, 18), "test2017/000000001054.jpg": (14, 10)},
    )


def _coco_instances() -> dict:
    return {
        "info": {"description": "This is stable 1.0 version of the 2014 MS COCO dataset."},
        "images": [
            {
                "license": 1,
                "file_name": "COCO_train2014_000000000581.jpg",
                "coco_url": "http://mscoco.org/images/581",
                "height": 48,
                "width": 64,
                "date_captured": "2013-11-14 16:28:13",
                "flickr_url": "http://farm1.staticflickr.com/1/581.jpg",
                "id": 581,
            },
            {"license": 2, "file_name": "COCO_train2014_000000000900.jpg", "height": 32, "width": 32, "id": 900},
        ],
        "licenses": [],
        "annotations": [
            {
                "segmentation": [[8.0, 12.0, 24.0, 12.0, 24.0, 36.0]],
                "area": 192.0,
                "iscrowd": 0,
                "image_id": 581,
                "bbox": [8, 12, 16, 24],
                "category_id": 18,
                "id": 1001,
            },
            {"iscrowd": 0, "image_id": 581, "bbox": [32.0, 0.0, 32.0, 48.0], "category_id": 1, "id": 1002},
            {"iscrowd": 0, "image_id": 900, "bbox": [0, 8, 16, 8], "category_id": 18, "id": 1003},
        ],
        "categories": [
            {"supercategory": "person", "id": 1, "name": "person"},
            {"supercategory": "animal", "id": 18, "name": "dog"},
        ],
    }


def _refs(split_a: str, split_b: str) -> list:
    return [
        {
            "sent_ids": [1, 2],
            "file_name": "COCO_train2014_000000000581_1001.jpg",
            "ann_id": 1001,
            "ref_id": 7,
            "image_id": 581,
            "split": split_a,
            "sentences": [
                {"tokens": ["dog", "on", "left"], "raw": "Dog on left", "sent_id": 1, "sent": "dog on left"},
                {"tokens": ["the", "brown", "dog"], "raw": "the brown dog.", "sent_id": 2, "sent": "the brown dog"},
            ],
            "category_id": 18,
        },
        {
            "sent_ids": [3],
            "file_name": "COCO_train2014_000000000581_1002.jpg",
            "ann_id": 1002,
            "ref_id": 8,
            "image_id": 581,
            "split": split_b,
            "sentences": [{"tokens": ["man", "on", "right"], "raw": "Man on right", "sent_id": 3, "sent": "man on right"}],
            "category_id": 1,
        },
        {
            "sent_ids": [4],
            "ann_id": 1003,
            "ref_id": 9,
            "image_id": 900,
            "split": split_a,
            "sentences": [{"tokens": ["small", "dog"], "raw": "small dog", "sent_id": 4, "sent": "small dog"}],
            "category_id": 18,
        },
    ]


_COCO14_IMAGES = {"train2014/COCO_train2014_000000000581.jpg": (64, 48), "train2014/COCO_train2014_000000000900.jpg": (32, 32)}


def refcoco() -> Sample:
    return Sample(files={"instances.json": _coco_instances(), "refs(unc).json": _refs("train", "testA")}, images=dict(_COCO14_IMAGES))


def refcoco_plus() -> Sample:
    return Sample(files={"instances.json": _coco_instances(), "refs(unc).json": _refs("val", "testB")}, images=dict(_COCO14_IMAGES))


def refcocog() -> Sample:
    return Sample(files={"instances.json": _coco_instances(), "refs(umd).json": _refs("train", "test")}, images=dict(_COCO14_IMAGES))


def vg_regions() -> Sample:
    return Sample(
        files={
            "image_data.json": [
                {
                    "width": 64,
                    "url": "https://cs.stanford.edu/people/rak248/VG_100K_2/1.jpg",
                    "height": 32,
                    "image_id": 1,
                    "coco_id": None,
                    "flickr_id": None,
                },
                {
                    "width": 40,
                    "url": "https://cs.stanford.edu/people/rak248/VG_100K/10.jpg",
                    "height": 40,
                    "id": 10,
                    "coco_id": 139,
                    "flickr_id": 2345,
                },
            ],
            "region_descriptions.json": [
                {
                    "regions": [
                        {"region_id": 1382, "width": 16, "height": 8, "image_id": 1, "phrase": "the clock is green in colour", "y": 8, "x": 16},
                        {"region_id": 1383, "width": 32, "height": 40, "image_id": 1, "phrase": "shade is along the street ", "y": 16, "x": 48},
                    ],
                    "id": 1,
                },
                {"regions": [{"region_id": 5000, "width": 30, "height": 20.0, "image_id": 10, "phrase": "a dog", "y": 0, "x": -10}], "id": 10},
            ],
        },
        images={"VG_100K_2/1.jpg": (64, 32), "VG_100K/10.jpg": (40, 40)},
    )


def coco_captions() -> Sample:
    return Sample(
        files={
            "annotations/captions_val2017.json": {
                "info": {"description": "COCO 2017 Dataset"},
                "licenses": [],
                "images": [
                    {
                        "license": 4,
                        "file_name": "000000000139.jpg",
                        "coco_url": "http://images.cocodataset.org/val2017/000000000139.jpg",
                        "height": 24,
                        "width": 40,
                        "date_captured": "2013-11-21 01:34:01",
                        "flickr_url": "http://farm9.staticflickr.com/8035/8024364858_9c41dc1666_z.jpg",
                        "id": 139,
                    }
                ],
                "annotations": [
                    {"image_id": 139, "id": 370, "caption": "A woman stands in the dining area at the table.\n"},
                    {"image_id": 139, "id": 446, "caption": "  A room with chairs, a table, and a woman in it."},
                ],
            },
            "annotations/captions_train2017.json": {
                "images": [{"file_name": "000000000009.jpg", "height": 16, "width": 20, "id": 9}],
                "annotations": [{"image_id": 9, "id": 661611, "caption": "Closeup of bins of food that include broccoli and bread."}],
            },
        },
        images={"val2017/000000000139.jpg": (40, 24), "train2017/000000000009.jpg": (20, 16)},
    )


def llava() -> Sample:
    return Sample(
        files={
            "llava_instruct_mini.json": [
                {
                    "id": "000000033471",
                    "image": "coco/train2017/000000033471.jpg",
                    "conversations": [
                        {"from": "human", "value": "What are the colors of the bus in the image?\n<image>"},
                        {"from": "gpt", "value": "The bus in the image is white and red."},
                        {"from": "human", "value": "公交车后面能看到什么？"},
                        {"from": "gpt", "value": "车后面有一个广告牌。"},
                    ],
                },
                {
                    "id": "000000033471",
                    "image": "coco/train2017/000000033471.jpg",
                    "conversations": [
                        {"from": "human", "value": "<image>\nDescribe the image concisely."},
                        {"from": "gpt", "value": "A red and white bus at a stop."},
                    ],
                },
                {"id": "000000052846", "image": "coco/train2017/000000052846.jpg", "conversations": []},
                {"id": 12, "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
            ],
        },
        images={"coco/train2017/000000033471.jpg": (32, 20), "coco/train2017/000000052846.jpg": (20, 20)},
    )


def decompress() -> Sample:
    """UniCode's image-decompression source, as ``mmdata tokenizer decompress-data`` writes it."""
    return Sample(
        files={
            "decompress.json": [
                {
                    "id": "decompress-5c2e0b7d9a41f3e8",
                    "image": "coco/train2017/000000100000.jpg",
                    "conversations": [
                        {"from": "human", "value": "<image>\nList the full visual code sequence of this image."},
                        {"from": "gpt", "value": "<image-codes>"},
                    ],
                },
                {
                    "id": "decompress-0b93d1c4e7a2f605",
                    "image": "vg/VG_100K/2000001.jpg",
                    "conversations": [
                        {"from": "human", "value": "<image>\nUnfold the compressed image into all of its codes."},
                        {"from": "gpt", "value": "<image-codes>"},
                    ],
                },
            ],
        },
        images={"coco/train2017/000000100000.jpg": (64, 64), "vg/VG_100K/2000001.jpg": (64, 48)},
    )


def sharegpt() -> Sample:
    return Sample(
        files={
            "sg_90k_part1.json": [
                {
                    "id": "QWJhYvA_0",
                    "conversations": [
                        {"from": "system", "value": "You are a helpful assistant."},
                        {"from": "human", "value": "Summarize the plot of Hamlet in one line."},
                        {"from": "chatgpt", "value": "A prince avenges his father and everyone dies."},
                        {"from": "user", "value": "Shorter?"},
                        {"from": "bing", "value": "Revenge, then tragedy."},
                        {"from": "bard", "value": "Revenge."},
                        {"from": "assistant", "value": "Done."},
                    ],
                },
                {"id": "QWJhYvA_1", "conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]},
            ],
            "sg_90k_part0.json": [
                {"id": "QWJhYvA_1", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hi!"}]},
            ],
        }
    )


def embedded(name: str, w: int, h: int, path: str | None = None) -> dict:
    """An Image struct as the hub stores it: the file's bytes and (often null) its original name."""
    return {"bytes": image_bytes(name, w, h), "path": path}


def cauldron() -> Sample:
    """Two subsets of The Cauldron, one shard each: one image per row, and several images per row."""
    return Sample(
        files={
            "vqav2/train-00000-of-00001.parquet": [
                {
                    "images": [embedded("cauldron-a.png", 24, 16)],
                    "texts": [
                        {"user": "What color is the bus?\nAnswer briefly.", "assistant": "Red.", "source": "vqav2"},
                        {"user": "How many people are on it?", "assistant": "2", "source": "vqav2"},
                    ],
                },
                {
                    "images": [embedded("cauldron-b.jpg", 12, 20)],
                    "texts": [{"user": "Is it raining?", "assistant": "No.", "source": "vqav2"}],
                },
            ],
            "mimic_cgd/train-00000-of-00002.parquet": [
                {
                    "images": [embedded("cauldron-c.png", 16, 16), embedded("cauldron-d.jpg", 20, 10), embedded("cauldron-a.png", 24, 16)],
                    "texts": [{"user": "What changed between the images?", "assistant": "The cup moved.", "source": "mimic_cgd"}],
                },
            ],
            "mimic_cgd/train-00001-of-00002.parquet": [
                {"images": [], "texts": [{"user": "Say hi.", "assistant": "Hi!", "source": "mimic_cgd"}]},
            ],
        }
    )


def llava_onevision() -> Sample:
    return Sample(
        files={
            "CLEVR-Math(MathV360K)/train-00000-of-00001.parquet": [
                {
                    "id": "CLEVR_train_000123.png",
                    "image": embedded("ov-a.png", 20, 12, "CLEVR_train_000123.png"),
                    "conversations": [
                        {"from": "human", "value": "<image>\nSubtract all red cubes. How many objects are left?"},
                        {"from": "gpt", "value": "3"},
                    ],
                    "data_source": "CLEVR-Math(MathV360K)",
                },
                {
                    "id": "magpie_0001",
                    "image": None,
                    "conversations": [
                        {"from": "system", "value": "You are terse."},
                        {"from": "human", "value": "Name a prime above 10."},
                        {"from": "gpt", "value": "11"},
                    ],
                    "data_source": "magpie_pro",
                },
                {
                    "id": "CLEVR_train_000123.png",
                    "image": embedded("ov-b.jpg", 10, 14),
                    "conversations": [{"from": "human", "value": "<image>\nIs there a sphere?"}, {"from": "gpt", "value": "Yes"}],
                    "data_source": "CLEVR-Math(MathV360K)",
                },
            ],
        }
    )


def hf() -> Sample:
    """Hub parquet exports in both layouts under one directory (the layout is detected per file)."""
    return Sample(
        files={
            "cauldron_style/data/train-00000-of-00001.parquet": [
                {
                    "images": [embedded("hf-a.png", 8, 6), embedded("hf-b.jpg", 6, 8)],
                    "texts": [{"user": "Which image is wider?", "assistant": "The first.", "source": "diffs"}],
                },
            ],
            "llava_style/data/validation-00000-of-00001.parquet": [
                {
                    "id": "m4-1",
                    "images": [embedded("hf-b.jpg", 6, 8), embedded("hf-c.png", 10, 10)],
                    "conversations": [
                        {"from": "human", "value": "<image>\n<image>\nAre these the same scene?"},
                        {"from": "gpt", "value": "No."},
                    ],
                },
                {
                    "id": "m4-2",
                    "images": [embedded("hf-c.png", 10, 10)],
                    "conversations": [{"from": "user", "value": "<image>\nDescribe."}, {"from": "assistant", "value": "A grey square."}],
                },
            ],
        }
    )


SAMPLES = {
    "cauldron": cauldron,
    "llava_onevision": llava_onevision,
    "hf": hf,
    "vqav2": vqav2,
    "gqa": gqa,
    "ocrvqa": ocrvqa,
    "vsr": vsr,
    "scienceqa": scienceqa,
    "aokvqa": aokvqa,
    "refcoco": refcoco,
    "refcoco+": refcoco_plus,
    "refcocog": refcocog,
    "vg_regions": vg_regions,
    "coco_captions": coco_captions,
    "sharegpt": sharegpt,
    "decompress": decompress,
    "llava_instruct": llava,
    **{f"llava_instruct_{lang}": llava for lang in ("zh", "pt", "ar", "tr", "ru")},
    **{f"vqav2_{lang}": vqav2_translated for lang in ("zh", "pt", "ar", "tr", "ru")},
}
