"""The TSV loader and writer: real MMMB / MMBench layouts load unchanged; bad input is one clear error."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from mmdata.bench.run import run_benchmark
from mmdata.bench.tsv import load_benchmark, read_tsv, tsv_bytes, write_tsv
from mmdata.errors import MmdataError

from .conftest import cli


def _b64(colour: str, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def real_mmmb_ar(path):
    """A hand-written TSV in the released MMMB layout: no language column (the file name says ar),
    no hint or split, JPEG base64 images, a two-option yes/no row like Parrot's Arabic example."""
    red, blue = _b64("red", "JPEG"), _b64("blue", "JPEG")
    lines = [
        "index\tquestion\tA\tB\tC\tD\tanswer\tcategory\tl2-category\timage",
        f"0\tما لون الدائرة؟\tأحمر\tأزرق\tأخضر\tأصفر\tA\tColor\tAttributes\t{red}",
        f"1\tهل توجد دائرة زرقاء في الصورة؟\tنعم\tلا\t\t\tB\tExistence\tAttributes\t{red}",
        f"2\tما لون المربع؟\tأحمر\tأزرق\tأخضر\tأصفر\tB\tColor\tAttributes\t{blue}",
        f"3\tكم عدد المربعات؟\t1\t2\t3\t4\tA\tCount\tCounting\t{blue}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_real_mmmb_layout_loads_and_scores(tmp_path):
    p = real_mmmb_ar(tmp_path / "MMMB_ar.tsv")
    b = load_benchmark(p)
    assert b.name == "MMMB_ar" and not b.circular and b.languages == ["ar"]
    assert [it.index for it in b.items] == [0, 1, 2, 3]
    assert b.items[1].options == {"A": "نعم", "B": "لا"}  # absent C/D stay absent
    assert b.items[0].category == "Color" and b.items[3].l2_category == "Counting"
    assert Image.open(io.BytesIO(b.items[0].image)).size == (8, 8)
    s = run_benchmark(p, "oracle", tmp_path / "run", db=None).scores
    assert s["overall"] == {"ar": 1.0} and s["mean_non_en"] == 1.0 and s["consistency"] is None
    assert set(s["by_category"]["ar"]) == {"Color", "Existence", "Count"}
    s = run_benchmark(p, "constant:A", tmp_path / "run", db=None).scores
    assert s["overall"]["ar"] == 0.5 and s["extraction_failures"] == {"ar": 0}
    s = run_benchmark(p, "constant:C", tmp_path / "run", db=None).scores
    assert s["overall"]["ar"] == 0.0 and s["extraction_failures"] == {"ar": 1}  # C is no option of the yes/no row


def test_real_mmbench_layout_with_circular_copies(tmp_path):
    """MMBench dev layout: hint, source, comment and split columns, copies that reference the base image."""
    img = _b64("green")
    head = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\tsource\tl2-category\tcomment\tsplit\timage"
    rows = [
        f"5\t这是什么颜色？\t看图\t红\t绿\t蓝\t黄\tB\tcolor\tMMBench\tFP-S\tnan\tdev\t{img}",
        "1000005\t这是什么颜色？\t看图\t黄\t红\t绿\t蓝\tC\tcolor\tMMBench\tFP-S\tnan\tdev\t5",
        "2000005\t这是什么颜色？\t看图\t蓝\t黄\t红\t绿\tD\tcolor\tMMBench\tFP-S\tnan\tdev\t5",
        "3000005\t这是什么颜色？\t看图\t绿\t蓝\t黄\t红\tA\tcolor\tMMBench\tFP-S\tnan\tdev\t5",
    ]
    p = tmp_path / "mmbench_dev_cn.tsv"
    p.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    b = load_benchmark(p)
    assert b.circular and b.languages == ["zh"] and {it.group for it in b.items} == {5}
    assert all(it.image == b.items[0].image for it in b.items)
    assert b.items[0].hint == "看图" and b.items[0].extra == {"source": "MMBench", "comment": "nan"}
    s = run_benchmark(p, "oracle", tmp_path / "r", db=None).scores
    assert s["circular"] == {"zh": 1.0} and s["vanilla"] == {"zh": 1.0}
    s = run_benchmark(p, "constant:B", tmp_path / "r", db=None).scores
    assert s["circular"] == {"zh": 0.0} and s["vanilla"] == {"zh": 0.25}
    # the writer keeps the layout: copies still reference the base row's image
    out = tsv_bytes(b.items).decode().splitlines()
    assert out[2].split("\t")[out[0].split("\t").index("image")] == "5"
    assert [it.options for it in read_tsv_roundtrip(tmp_path, b.items)] == [it.options for it in b.items]


def read_tsv_roundtrip(tmp_path, items):
    p = write_tsv(tmp_path / "rt" / "x_cn.tsv", items)
    return read_tsv(p)


def test_language_column_wins_over_file_name_and_image_path(tmp_path):
    Image.new("RGB", (4, 4), "red").save(tmp_path / "img.png")
    p = tmp_path / "MMMB_en.tsv"
    p.write_text("index\tquestion\tA\tB\tanswer\tlanguage\timage_path\n0\tСколько?\t1\t2\tA\tru\timg.png\n")
    (it,) = read_tsv(p)
    assert it.language == "ru" and it.image_path == tmp_path / "img.png"
    again = read_tsv(write_tsv(tmp_path / "out" / "b.tsv", [it]))  # the writer embeds the file as base64
    assert again[0].image == (tmp_path / "img.png").read_bytes() and again[0].language == "ru"


GOOD = "index\tquestion\tA\tB\tanswer\timage\n0\tq\ta\tb\tA\t{img}\n"


@pytest.mark.parametrize(
    ("name", "text", "needles"),
    [
        ("MMMB_en.tsv", "index\tquestion\tA\tB\timage\n0\tq\ta\tb\t{img}\n", ["MMMB_en.tsv", "answer", "missing column"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tB\tanswer\timage\n0\tq\ta\tb\tA\t@@not-base64@@!!\n", ["index=0", "'image'", "base64"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tB\tanswer\timage\n0\tq\ta\tb\tA\t9\n", ["index=0", "'image'", "index 9"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tB\tanswer\tlanguage\timage\n0\tq\ta\tb\tA\tklingon\t{img}\n", ["index=0", "'language'", "klingon"]),
        ("bench.tsv", GOOD, ["bench.tsv", "'language'", "file name"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tB\tanswer\timage\nx1\tq\ta\tb\tA\t{img}\n", ["'index'", "x1"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tB\tanswer\timage\n0\tq\ta\tb\tE\t{img}\n", ["index=0", "'answer'", "'E'"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tB\tanswer\timage\n0\tq\ta\tb\tA\n", ["MMMB_en.tsv", "line 2", "fields"]),
        ("MMMB_en.tsv", GOOD + "0\tq\ta\tb\tB\t{img}\n", ["index=0", "duplicate"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tB\tanswer\timage_path\n0\tq\ta\tb\tA\t../secret.png\n", ["index=0", "'image_path'", "escapes"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tB\tanswer\timage\n0\tq\ta\tb\tA\t\n", ["index=0", "no image"]),
        ("MMMB_en.tsv", "index\tquestion\tA\tanswer\timage\n0\tq\ta\tA\t{img}\n", ["option columns"]),
        ("MMMB_en.tsv", "", ["empty file"]),
    ],
)
def test_bad_input_is_one_line_naming_file_row_field(tmp_path, name, text, needles):
    p = tmp_path / name
    p.write_text(text.format(img=_b64("red")), encoding="utf-8")
    with pytest.raises(MmdataError) as e:
        load_benchmark(p)
    msg = str(e.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)


def test_undecodable_image_fails_at_run_time_naming_the_row(tmp_path):
    p = tmp_path / "MMMB_pt.tsv"
    p.write_text(GOOD.format(img=base64.b64encode(b"this is not an image at all").decode()))
    with pytest.raises(MmdataError, match=r"MMMB_pt.tsv: record index=0: field 'image': image cannot be decoded"):
        run_benchmark(p, "oracle", tmp_path / "run", db=None)
    assert not (tmp_path / "run" / "scores.json").exists()


def test_cli_errors_exit_nonzero_with_one_line(tmp_path, bench):
    bad = tmp_path / "MMMB_en.tsv"
    bad.write_text("index\tquestion\tA\tB\timage\n0\tq\ta\tb\tx\n")
    for args, needle in [
        (("bench", "run", bad, "--model", "oracle", "--out", tmp_path / "o1"), "answer"),
        (("bench", "run", bench / "mmmb", "--model", "gpt-5", "--out", tmp_path / "o2"), "unknown model 'gpt-5'"),
        (("bench", "run", bench / "mmmb", "--model", "constant:AB", "--out", tmp_path / "o3"), "constant:LETTER"),
        (("bench", "run", bench, "--model", "oracle", "--out", tmp_path / "o4"), "pick one of its sets"),
        (("bench", "run", tmp_path / "missing.tsv", "--model", "oracle", "--out", tmp_path / "o5"), "not found"),
    ]:
        r = cli(*args, "--db", tmp_path / "lb.duckdb")
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (needle, r.stderr)
    assert not any((tmp_path / f"o{k}").exists() for k in range(1, 6))
    assert not (tmp_path / "lb.duckdb").exists()
