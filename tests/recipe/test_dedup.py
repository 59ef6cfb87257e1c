"""Dedup: Honeybee's exact rule on hand-made cases; semantic dedup against the world's planted duplicates."""

from __future__ import annotations

import pyarrow as pa
import pytest

from mmdata.recipe.build import build
from mmdata.recipe.dedup_eval import score_dedup
from mmdata.recipe.merge import merge_groups, single_items

from .helpers import write_recipe


def work(rows, dedup="exact", max_turns=10):
    cols = {k: [] for k in ("dataset", "task", "group", "pos", "record_id", "dkey", "emb", "max_turns", "dedup")}
    for pos, (group, rid, key) in enumerate(rows):
        for k, v in zip(cols, ("d", "vqa_open", group, pos, rid, key, None, max_turns, dedup), strict=True):
            cols[k].append(v)
    return pa.table(cols, schema=pa.schema([("dataset", pa.string()), ("task", pa.string()), ("group", pa.string()),
                                            ("pos", pa.int64()), ("record_id", pa.string()), ("dkey", pa.string()),
                                            ("emb", pa.int32()), ("max_turns", pa.int32()), ("dedup", pa.string())]))  # fmt: skip


def test_exact_rule_honeybee_example():
    # Honeybee Fig. 5: "What's on the beach? pillow" / "What is on the beach? pillow" collapse; "dresser" stays
    rows = [("img1", "q1", "pillow"), ("img1", "q2", "pillow"), ("img1", "q3", "dresser"), ("img2", "q4", "pillow")]
    out = merge_groups(work(rows))
    drops = out["drops"].to_pylist()
    assert [(d["kept_id"], d["dropped_id"], d["rule"], d["similarity"]) for d in drops] == [("q1", "q2", "exact", 1.0)]
    items = out["items"].to_pylist()
    assert [i["record_ids"] for i in items] == [["q1", "q3"], ["q4"]]  # same answer on another image is kept
    assert [i["dedup_dropped"] for i in items] == [1, 0]


def test_exact_keeps_first_and_chunks_in_file_order():
    rows = [("g", f"r{i}", k) for i, k in enumerate(["yes", "no", "yes", "2", "no", "3", "blue"])]
    out = merge_groups(work(rows, max_turns=2))
    assert [d["dropped_id"] for d in out["drops"].to_pylist()] == ["r2", "r4"]
    assert [i["record_ids"] for i in out["items"].to_pylist()] == [["r0", "r1"], ["r3", "r5"], ["r6"]]


def test_none_and_null_keys_never_drop():
    rows = [("g", "a", "x"), ("g", "b", "x"), ("g", "c", None), ("g", "d", None)]
    assert merge_groups(work(rows, dedup="none"))["drops"].num_rows == 0
    assert [d["dropped_id"] for d in merge_groups(work(rows))["drops"].to_pylist()] == ["b"]


def test_single_items_are_what_merging_one_turn_without_dedup_gives():
    # records of shared and unshared images, out of group order: one turn per item, nothing dropped
    rows = [("img2", "a", "x"), ("img1", "b", "x"), ("img2", "c", "x"), ("img3", "d", None), ("img1", "e", "y")]
    t = work(rows, dedup="none", max_turns=1)
    t = t.set_column(3, "pos", pa.array([p + 40 for p in t.column("pos").to_pylist()], pa.int64()))
    merged = merge_groups(t, ids=False)["items"]
    assert merged.equals(single_items("d", "vqa_open", 40, len(rows)))
    assert merged.column("positions").to_pylist() == [[40], [41], [42], [43], [44]]


def test_parts_cut_in_group_order_merge_as_the_whole(monkeypatch):
    import polars as pl

    from mmdata.recipe import stages

    monkeypatch.setattr(stages, "PART_ROWS", 4)  # a large source: cut into group-aligned parts carrying their group numbers
    rows = [(f"img{i % 5}", f"r{i}", ["yes", "no", "2"][i % 3]) for i in range(23)]
    whole = merge_groups(work(rows, max_turns=2))
    parts = stages._partitions(pl.from_arrow(work(rows, max_turns=2)))
    assert len(parts) > 1 and all("gid" in p.columns for p in parts)
    got = [merge_groups(p) for p in parts]
    assert pa.concat_tables([g["items"] for g in got]).sort_by("first_pos").equals(whole["items"])
    assert pa.concat_tables([g["drops"] for g in got]).sort_by("dropped_pos").equals(whole["drops"])
    assert whole["drops"].num_rows > 0


def test_semantic_recovers_planted_duplicates(small_world, tmp_path):
    r = write_recipe(tmp_path / "sem.yaml", small_world, ["vqav2", "gqa"],
                     multiturn={"max_turns": 10, "dedup": "semantic", "threshold": 0.82},
                     balance={"strategy": "per-dataset", "size": 500})  # fmt: skip
    res = build(r, tmp_path / "sem")
    s = score_dedup(tmp_path / "sem", small_world)
    assert s["groups"] > 300
    assert s["recovery"] >= 0.90, s
    assert s["false_drop_rate"] < 0.02, s
    emb = res.manifest["dedup"]["embedding"]
    assert emb["model"] == "all-MiniLM-L6-v2" and 0 < emb["unique_strings"] < s["eligible_records"]
    # the audit names kept and dropped ids with their similarity
    import pyarrow.parquet as pq

    audit = pq.read_table(tmp_path / "sem/dedup.parquet").to_pylist()
    assert audit and all(a["similarity"] >= 0.82 and a["rule"] == "semantic" and a["kept_id"] != a["dropped_id"] for a in audit)
    # exact (Honeybee) on the same data drops far more records that are not duplicates
    write_recipe(tmp_path / "ex.yaml", small_world, ["vqav2", "gqa"], multiturn={"max_turns": 10, "dedup": "exact"},
                 balance={"strategy": "per-dataset", "size": 500})  # fmt: skip
    build(tmp_path / "ex.yaml", tmp_path / "ex")
    assert score_dedup(tmp_path / "ex", small_world)["false_drop_rate"] > 5 * s["false_drop_rate"]


def test_embedding_cache_reused(small_world, tmp_path, monkeypatch):
    from mmdata import cache
    from mmdata.recipe.embed import EmbeddingCache

    monkeypatch.setenv("MMDATA_CACHE", str(tmp_path / "cache"))  # an empty cache, not the session's

    c = EmbeddingCache()
    a = c.embed(["what colour is the circle red", "how many squares 2"])
    assert c.embedded == 2 and a.shape == (2, 384)
    assert len(cache.find("embeddings", {"model": c.fingerprint})) == 1  # one cache entry, keyed by the weights' digest
    c2 = EmbeddingCache()
    b = c2.embed(["how many squares 2", "what colour is the circle red"])
    assert c2.embedded == 0 and c2.hits == 2
    assert (b[::-1] == a).all()
    assert abs(float(a[0] @ a[0]) - 1.0) < 1e-5


@pytest.mark.parametrize("near", [0.82])
def test_dedup_inspect_cli(small_world, tmp_path, near):
    import subprocess
    import sys

    write_recipe(tmp_path / "sem.yaml", small_world, ["gqa"], multiturn={"max_turns": 10, "dedup": "semantic"},
                 balance={"strategy": "per-dataset", "size": 100})  # fmt: skip
    build(tmp_path / "sem.yaml", tmp_path / "m")
    r = subprocess.run([sys.executable, "-m", "mmdata.cli", "dedup", "inspect", str(tmp_path / "m"), "--near", str(near)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "pairs near 0.82" in r.stdout and ("yes" in r.stdout or "no" in r.stdout)


def test_semantic_groups_interleaved_in_file_order():
    # an image's questions need not be adjacent in the file: a group is every record of the image
    import numpy as np

    rng = np.random.default_rng(0)
    v, w = rng.normal(size=(2, 16))
    emb = np.stack([v, w, v + 0.01, w + 0.01]).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    t = work([("img1", "a0", None), ("img2", "b1", None), ("img1", "a2", None), ("img2", "b3", None)], dedup="semantic")
    t = t.set_column(t.schema.get_field_index("emb"), "emb", pa.array([0, 1, 2, 3], pa.int32()))
    out = merge_groups(t, emb=emb, threshold=0.9)
    assert [(d["kept_id"], d["dropped_id"]) for d in out["drops"].to_pylist()] == [("a0", "a2"), ("b1", "b3")]
    assert [i["record_ids"] for i in out["items"].to_pylist()] == [["a0"], ["b1"]]


def test_groups_that_share_a_hash_stay_apart(monkeypatch):
    # groups are ordered by a 64-bit hash of their name; should two names share one, the names decide
    import numpy as np
    import polars as pl

    rows = [
        ("img2", "b0", "x"),
        ("img1", "a1", "x"),
        ("img2", "b2", "x"),
        ("img1", "a3", "y"),
        ("img3", "c4", "x"),
        ("img1", "a5", "x"),
    ]
    want = merge_groups(work(rows, max_turns=2))
    monkeypatch.setattr(pl.Series, "hash", lambda self, seed=0: pl.Series(np.zeros(len(self), np.uint64)))
    got = merge_groups(work(rows, max_turns=2))
    assert [i["record_ids"] for i in got["items"].to_pylist()] == [["b0"], ["a1", "a3"], ["c4"]]
    assert [(d["kept_id"], d["dropped_id"]) for d in got["drops"].to_pylist()] == [("b0", "b2"), ("a1", "a5")]
    assert got["items"].equals(want["items"]) and got["drops"].equals(want["drops"])
