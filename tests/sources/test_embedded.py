"""Embedded hub images: the content-addressed store, bounded batches, quarantine, save_to_disk input.

Images inside parquet/arrow tables are written once, byte for byte, as ``<sha256[:2]>/<sha256>.<ext>``
under a store keyed by the source files; Records point there, so every later stage reads plain files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mmdata import cache
from mmdata.errors import MmdataError
from mmdata.sources import ReadReport, get, read_table
from mmdata.sources.embedded import extracted_root
from mmdata.sources.hub import BATCH_ROWS, iter_batches
from mmdata.sources.image_meta import header_size, image_ext
from tests.sources.samples import PARQUET_SCHEMAS, SAMPLES, embedded, image_bytes, parquet_file, write_sample


def materialise(tmp_path: Path, name: str, mutate=None) -> Path:
    sample = SAMPLES[name]()
    if mutate is not None:
        mutate(sample)
    root = tmp_path / "src"
    root.mkdir()
    write_sample(root, sample)
    return root


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- the store ---------------------------------------------------------------------------------------


def test_store_holds_each_image_once_byte_for_byte_and_is_reused(tmp_path):
    root = materialise(tmp_path, "cauldron")
    rep = ReadReport()
    read_table("cauldron", root, report=rep)
    store = Path(rep.image_root)
    assert store.parent == cache.root() / "extracted"
    files = sorted(p.relative_to(store).as_posix() for p in store.rglob("*")
                   if p.is_file() and p.name != "extracted.json" and not p.name.startswith("."))  # fmt: skip
    want = {name: image_bytes(name, w, h) for name, w, h in
            [("cauldron-a.png", 24, 16), ("cauldron-b.jpg", 12, 20), ("cauldron-c.png", 16, 16), ("cauldron-d.jpg", 20, 10)]}  # fmt: skip
    assert files == sorted(f"{sha(d)[:2]}/{sha(d)}.{'png' if n.endswith('png') else 'jpg'}" for n, d in want.items())
    for d in want.values():
        assert next(store.rglob(f"{sha(d)}.*")).read_bytes() == d
    info = json.loads((store / "extracted.json").read_text())
    assert info["images"] == 4  # cauldron-a.png appears in two rows, stored once
    # a second read reuses the store without rewriting it
    mtimes = {p: p.stat().st_mtime_ns for p in store.rglob("*") if p.name != ".complete"}  # .complete's mtime marks use
    again = ReadReport()
    assert read_table("cauldron", root, report=again).equals(read_table("cauldron", root))
    assert again.image_root == rep.image_root and {p: p.stat().st_mtime_ns for p in store.rglob("*") if p.name != ".complete"} == mtimes


def test_store_key_follows_file_content_not_location(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = materialise(tmp_path / "a", "llava_onevision"), materialise(tmp_path / "b", "llava_onevision")
    adapter = get("llava_onevision")
    assert adapter.default_image_root(a) == adapter.default_image_root(b)
    f = next(b.rglob("*.parquet"))
    rows = SAMPLES["llava_onevision"]().files[f.relative_to(b).as_posix()]
    rows[1]["conversations"][0]["value"] = "changed"
    f.write_bytes(parquet_file(rows))
    assert adapter.default_image_root(b) != adapter.default_image_root(a)


def test_failed_extraction_leaves_no_store(tmp_path):
    def boom():
        yield image_bytes("x.png", 4, 4)
        raise MmdataError("broken shard")

    f = tmp_path / "x.parquet"
    f.write_bytes(b"anything")
    with pytest.raises(MmdataError, match="broken shard"):
        extracted_root([f], boom)
    assert cache.lookup("extracted", {"files": cache.files_digest([f])}) is None
    assert not [p for p in (cache.root() / "extracted").iterdir() if p.name.endswith(".partial")]


def test_image_ext_and_webp_header():
    def enc(fmt, **kw):
        buf = io.BytesIO()
        Image.new("RGBA" if fmt == "WEBP" else "RGB", (37, 23), (9, 9, 9)).save(buf, fmt, **kw)
        return buf.getvalue()

    assert [image_ext(enc(f)) for f in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")] == ["png", "jpg", "gif", "bmp", "webp", "tif"]
    assert image_ext(b"\x00not an image") == "bin"
    for kw in ({"lossless": False}, {"lossless": True}, {"exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"}):
        data = enc("WEBP", **kw)
        assert header_size(data) == (37, 23), data[12:16]


# ---- bounded batches ------------------------------------------------------------------------------------


def test_parquet_is_read_in_bounded_batches(tmp_path):
    n = 3 * BATCH_ROWS + 17
    f = tmp_path / "train-00000-of-00001.parquet"
    rows = [{"images": [], "texts": [{"user": f"q{i}", "assistant": "a", "source": "s"}]} for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows, schema=PARQUET_SCHEMAS[frozenset({"images", "texts"})]), f, row_group_size=n)
    sizes = [b.num_rows for b in iter_batches(f, ["texts"])]
    assert sum(sizes) == n and max(sizes) <= BATCH_ROWS
    t = read_table("cauldron", f)
    assert t.num_rows == n and t.column("record_id")[n - 1].as_py() == f"{tmp_path.name}/train-00000-of-00001:{n - 1}"


def test_reading_never_holds_the_whole_file(tmp_path):
    """Arrow memory in use while streaming a 24 MB shard stays a small fraction of the file."""
    import random

    rng = random.Random(0)
    f = tmp_path / "train-00000-of-00001.parquet"
    schema = PARQUET_SCHEMAS[frozenset({"images", "texts"})]
    with pq.ParquetWriter(f, schema, compression="none") as w:
        for _ in range(16):  # row groups of 500 rows, ~1.5 MB each
            rows = [{"images": [{"bytes": rng.randbytes(3000), "path": None}], "texts": [{"user": "q", "assistant": "a", "source": "s"}]}
                    for _ in range(500)]  # fmt: skip
            w.write_table(pa.Table.from_pylist(rows, schema=schema))
    size = f.stat().st_size
    base, peak, n = pa.total_allocated_bytes(), 0, 0
    for batch in iter_batches(f, ["images", "texts"]):
        n += batch.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert n == 8000 and size > 20e6
    assert peak < size / 4, (peak, size)


# ---- quarantine: absent and undecodable embedded images; rows with no turns ---------------------------------


def test_embedded_image_problems_are_quarantined_not_raised(tmp_path):
    def spoil(s):
        rows = s.files["vqav2/train-00000-of-00001.parquet"]
        rows[0]["images"][0] = {"bytes": b"\x00garbage, not an image", "path": None}
        rows[1]["images"][0] = {"bytes": None, "path": "lost.jpg"}
        mixed = s.files["mimic_cgd/train-00000-of-00002.parquet"][0]
        mixed["images"][1] = None  # one missing image quarantines the whole multi-image row
        s.files["mimic_cgd/train-00001-of-00002.parquet"][0]["texts"] = []

    root = materialise(tmp_path, "cauldron", spoil)
    rep = ReadReport()
    assert read_table("cauldron", root, report=rep).num_rows == 0
    reasons = {q["record_id"]: q["reason"] for q in rep.quarantined}
    assert reasons.keys() == {"mimic_cgd/train-00000-of-00002:0", "mimic_cgd/train-00001-of-00002:0",
                              "vqav2/train-00000-of-00001:0", "vqav2/train-00000-of-00001:1"}  # fmt: skip
    assert "images[1] holds no image" in reasons["mimic_cgd/train-00000-of-00002:0"]
    assert "no texts" in reasons["mimic_cgd/train-00001-of-00002:0"]
    assert "cannot be decoded" in reasons["vqav2/train-00000-of-00001:0"]
    assert "'lost.jpg' is not embedded" in reasons["vqav2/train-00000-of-00001:1"]
    assert rep.records == 0


def test_onevision_struct_with_neither_bytes_nor_path_is_text_only(tmp_path):
    def empty_struct(s):
        s.files["CLEVR-Math(MathV360K)/train-00000-of-00001.parquet"][1]["image"] = {"bytes": None, "path": None}

    rows = read_table("llava_onevision", materialise(tmp_path, "llava_onevision", empty_struct)).to_pylist()
    assert [(r["record_id"], r["task"], r["image"]) for r in rows][1] == ("magpie_0001", "t_inst", None)


# ---- datasets.save_to_disk --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A Dataset and a DatasetDict written by the datasets library itself, with Image features."""
    import datasets

    base = tmp_path_factory.mktemp("saved")
    img = datasets.Image()
    conv = datasets.Features({
        "id": datasets.Value("string"), "image": img, "data_source": datasets.Value("string"),
        "conversations": [{"from": datasets.Value("string"), "value": datasets.Value("string")}],
    })  # fmt: skip
    ds = datasets.Dataset.from_dict(
        {
            "id": ["s1", "s2"],
            "image": [embedded("saved-a.png", 12, 8), None],
            "data_source": ["mine", "text"],
            "conversations": [
                [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A square."}],
                [{"from": "human", "value": "Hello"}, {"from": "gpt", "value": "Hi"}],
            ],
        },
        features=conv,
    )
    ds.save_to_disk(str(base / "conv"))
    cauldron = datasets.Features({"images": datasets.Sequence(img),
                                  "texts": [{"user": datasets.Value("string"), "assistant": datasets.Value("string"),
                                             "source": datasets.Value("string")}]})  # fmt: skip
    rows = {"images": [[embedded("saved-b.jpg", 8, 8), embedded("saved-a.png", 12, 8)]],
            "texts": [[{"user": "Same?", "assistant": "No.", "source": "pairs"}]]}  # fmt: skip
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=cauldron),
                               "validation": datasets.Dataset.from_dict(rows, features=cauldron)})  # fmt: skip
    dd.save_to_disk(str(base / "dict"))
    return base


def test_hf_reads_a_save_to_disk_dataset(saved):
    a = image_bytes("saved-a.png", 12, 8)
    rep = ReadReport()
    rows = read_table("hf", saved / "conv", report=rep).to_pylist()
    assert sorted(p.name for p in (saved / "conv").iterdir() if p.suffix != ".arrow") == ["dataset_info.json", "state.json"]
    ref = {"path": f"{sha(a)[:2]}/{sha(a)}.png", "sha256": sha(a), "width": 12, "height": 8}
    assert [(r["record_id"], r["split"], r["task"], r["image"], r["images"], r["turns"], json.loads(r["extra"])) for r in rows] == [
        ("s1", "train", "v_inst", ref, None,
         [{"role": "user", "content": "<image>\nWhat is it?"}, {"role": "assistant", "content": "A square."}],
         {"subset": None, "data_source": "mine"}),
        ("s2", "train", "t_inst", None, None,
         [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}], {"subset": None, "data_source": "text"}),
    ]  # fmt: skip
    assert (Path(rep.image_root) / ref["path"]).read_bytes() == a


def test_hf_reads_a_save_to_disk_dataset_dict(saved):
    rows = read_table("hf", saved / "dict").to_pylist()
    assert [(r["record_id"], r["split"], len(r["images"])) for r in rows] == [
        ("train/data-00000-of-00001:0", "train", 2), ("validation/data-00000-of-00001:0", "val", 2),
    ]  # fmt: skip
    assert rows[0]["image"] == rows[0]["images"][0] and rows[0]["images"][1]["sha256"] == sha(image_bytes("saved-a.png", 12, 8))


def test_hf_reads_one_arrow_file(saved):
    (f,) = (saved / "conv").glob("*.arrow")
    assert [r["record_id"] for r in read_table("hf", f).to_pylist()] == ["s1", "s2"]


# ---- the CLI lists what each adapter accepts --------------------------------------------------------------


def test_sources_list_shows_accepted_files_and_versions():
    env = {**os.environ, "COLUMNS": "400"}
    r = subprocess.run([sys.executable, "-m", "mmdata.cli", "sources", "list"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    for text in ("refs(google).p", "all_vsr_validated_data.jsonl", "train_all_questions/", "OpenEnded_mscoco_",
                 "captions_train2014.json", "save_to_disk", "LLaVA-OneVision-Data", "the_cauldron"):  # fmt: skip
        assert text in r.stdout, text
    for name in ("cauldron", "llava_onevision", "hf"):
        assert get(name).accepts
