"""The local engine runs parts in threads: results stay in part order, a generator of parts is drawn
lazily, a failing part fails the map, and a build is byte-identical with any thread count."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pytest

from mmdata.recipe import stages
from mmdata.recipe.build import build
from mmdata.recipe.engine import LocalEngine

from .helpers import write_recipe


def _slow_identity(t: pa.Table, *, delay: float, extra: int = 0) -> dict:
    k = t.column("k")[0].as_py()
    time.sleep(delay * (5 - k))  # later parts finish first
    return {"k": k, "extra": extra, "thread": threading.current_thread().name}


def test_results_in_part_order_parts_drawn_lazily():
    drawn = []

    def parts():
        for k in range(5):
            drawn.append(k)
            yield pa.table({"k": [k]})

    eng = LocalEngine(threads=2)
    it = eng.imap_tables(_slow_identity, parts(), [lambda k=k: {"extra": 10 * k} for k in range(5)], delay=0.01)
    first = next(it)
    assert first["k"] == 0 and first["extra"] == 0
    assert len(drawn) <= 3  # two in flight, one started when the first result was taken
    rest = list(it)
    assert [r["k"] for r in [first, *rest]] == [0, 1, 2, 3, 4]
    assert [r["extra"] for r in rest] == [10, 20, 30, 40]  # each part gets its own arguments
    assert len({r["thread"] for r in [first, *rest]}) == 2


def test_a_failing_part_fails_the_map():
    def fn(t, **_):
        if t.column("k")[0].as_py() == 2:
            raise ValueError("part 2 is bad")
        return t

    with pytest.raises(ValueError, match="part 2 is bad"):
        LocalEngine(threads=2).map_tables(fn, [pa.table({"k": [k]}) for k in range(6)])


def test_build_identical_with_one_or_three_threads(tiny_world, tmp_path, monkeypatch):
    # small parts, so merging and rendering both run many parts concurrently
    monkeypatch.setattr(stages, "PART_ROWS", 300)
    monkeypatch.setattr(stages, "RENDER_ROWS", 150)
    r = write_recipe(tmp_path / "r.yaml", tiny_world, ["vqav2", "gqa", "refcoco", "llava_instruct"],
                     balance={"strategy": "per-dataset", "size": 1200})  # fmt: skip
    one = build(r, tmp_path / "one", jobs=1)
    three = build(r, tmp_path / "three", jobs=3)
    assert one.manifest["content_hash"] == three.manifest["content_hash"]
    assert one.manifest["n_items"] == three.manifest["n_items"] == 1200
    for f in ("dedup.parquet", "sampling.parquet"):
        assert (one.out / f).read_bytes() == (three.out / f).read_bytes()


def test_a_large_source_that_fails_to_read_fails_the_build(tiny_world, tmp_path, monkeypatch):
    # large sources are read and cut by a reader thread: its error reaches the build, nothing hangs
    from mmdata.errors import MmdataError

    monkeypatch.setattr(stages, "PART_ROWS", 20)
    real = stages._source_work
    where = []

    def broken(src, offset, per_source):
        if src.dataset == "gqa":
            where.append(threading.current_thread().name)
            raise MmdataError("unreadable work table", file="gqa")
        return real(src, offset, per_source)

    monkeypatch.setattr(stages, "_source_work", broken)
    r = write_recipe(tmp_path / "r.yaml", tiny_world, ["vqav2", "gqa", "refcoco"], balance={"strategy": "per-dataset", "size": 600})
    with pytest.raises(MmdataError, match="unreadable work table"):
        build(r, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert where == ["mmdata-read"]  # gqa is larger than a part here
    assert not [t for t in threading.enumerate() if t.name == "mmdata-read"]
