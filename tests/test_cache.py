"""The content-addressed cache (mmdata.cache): keys are content, writes are atomic, locks are per key."""

from __future__ import annotations

import os
import threading
import time

import pytest

from mmdata import cache
from mmdata.cli import main


def test_run_computes_once_then_hits(tmp_path):
    calls = []

    def fill(tmp):
        calls.append(1)
        (tmp / "out.txt").write_text("x")

    a = cache.run("bench", {"k": 1}, fill)
    b = cache.run("bench", {"k": 1}, fill)
    c = cache.run("bench", {"k": 2}, fill)
    assert len(calls) == 2 and not a.hit and b.hit and a.path == b.path != c.path
    assert (b.path / "out.txt").read_text() == "x" and (b.path / cache.ENTRY).is_file()
    assert cache.lookup("bench", {"k": 1}).path == a.path and cache.lookup("bench", {"k": 3}) is None


def test_key_is_canonical_and_versioned(monkeypatch):
    k1 = cache.key_of("bench", {"a": 1, "b": [1, 2]})
    assert k1 == cache.key_of("bench", {"b": [1, 2], "a": 1})  # key order does not matter
    assert k1 != cache.key_of("mixture", {"a": 1, "b": [1, 2]})  # the kind is part of the key
    monkeypatch.setitem(cache.VERSIONS, "bench", "999")
    assert k1 != cache.key_of("bench", {"a": 1, "b": [1, 2]})  # so is the kind's version
    with pytest.raises(ValueError, match="unknown cache kind"):
        cache.key_of("nope", {})


def test_a_failed_step_leaves_nothing_under_its_key():
    def boom(tmp):
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.run("bench", {"k": "fail"}, boom)
    assert not cache.path_of("bench", {"k": "fail"}).exists()
    assert not [p for p in cache.path_of("bench", {"k": "fail"}).parent.iterdir() if p.name.endswith(".partial")]


def test_two_processes_needing_one_step_run_it_once():
    calls = []

    def slow(tmp):
        calls.append(1)
        time.sleep(0.3)
        (tmp / "out.txt").write_text("x")

    outs, events = [], []
    threads = [threading.Thread(target=lambda: outs.append(cache.run("stage2", {"k": 1}, slow, on_event=events.append)))
               for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and outs[0].path == outs[1].path and (outs[0].path / "out.txt").read_text() == "x"
    assert sorted(e["event"] for e in events) == ["cached", "ran"]


def test_listing_digest_follows_images_and_symlinks(tmp_path):
    imgs = tmp_path / "imgs"
    (imgs / "sub").mkdir(parents=True)
    (imgs / "a.jpg").write_bytes(b"a")
    (imgs / "sub" / "b.jpg").write_bytes(b"b")
    link = tmp_path / "link"
    os.symlink(imgs, link)
    d0 = cache.listing_digest(imgs)
    assert cache.listing_digest(link) == d0  # a symlinked image root lists the same files
    (imgs / "sub" / "b.jpg").unlink()
    d1 = cache.listing_digest(imgs)
    assert d1 != d0  # a deleted image changes the key
    (imgs / "a.jpg").write_bytes(b"A")
    os.utime(imgs / "a.jpg", ns=(1, 1))
    assert cache.listing_digest(imgs) != d1  # so does a replaced one
    os.symlink(imgs, imgs / "loop")  # a link cycle ends
    cache.listing_digest(imgs)


def test_listing_digests_take_nested_folders_from_one_walk(tmp_path):
    coco = tmp_path / "coco"
    (coco / "train2017" / "deep").mkdir(parents=True)
    (coco / "val2017").mkdir()
    for rel in ("a.jpg", "train2017/b.jpg", "train2017/deep/c.jpg", "val2017/d.jpg"):
        (coco / rel).write_bytes(rel.encode())
    other = tmp_path / "other"
    other.mkdir()
    (other / "e.jpg").write_bytes(b"e")
    folders = [coco / "train2017", coco, other, coco / "train2017" / "deep", tmp_path / "missing"]
    got = cache.listing_digests(folders)
    assert got == {os.path.realpath(f): cache.listing_digest(f) for f in folders}
    assert len(set(got.values())) == len(folders)
    # a link inside the outer folder: the inner folder is walked on its own, with the same answer
    os.symlink(other, coco / "train2017" / "linked")
    got = cache.listing_digests(folders)
    assert got == {os.path.realpath(f): cache.listing_digest(f) for f in folders}
    assert got[os.path.realpath(coco / "train2017")] != cache.listing_digest(coco / "val2017")


def test_tree_and_file_digests_are_content(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "model.safetensors").write_bytes(b"weights-1")
    d1 = cache.tree_digest(tmp_path / "w")
    (tmp_path / "w" / "model.safetensors").write_bytes(b"weights-2")
    assert cache.tree_digest(tmp_path / "w") != d1
    (tmp_path / "w" / "model.safetensors").write_bytes(b"weights-1")
    assert cache.tree_digest(tmp_path / "w") == d1  # same bytes, same digest, whatever the mtime
    assert cache.files_digest([tmp_path / "w" / "model.safetensors"]) == cache.files_digest([tmp_path / "w" / "model.safetensors"])


def test_fast_file_digest_is_content_too(tmp_path):
    import hashlib

    import xxhash

    f = tmp_path / "annotations.json"
    f.write_bytes(b'{"a": 1}')
    assert cache.file_digest(f) == hashlib.sha256(b'{"a": 1}').hexdigest()
    assert cache.file_digest(f, fast=True) == xxhash.xxh3_128_hexdigest(b'{"a": 1}')  # memoised apart from SHA-256
    fast = cache.files_digest([f], fast=True)
    assert fast != cache.files_digest([f])
    f.write_bytes(b'{"a": 22}')
    assert cache.files_digest([f], fast=True) != fast  # new bytes, new key


def test_gc_keeps_recent_entries_and_trims_to_a_size():
    for k in range(3):
        cache.run("bench", {"gc": k}, lambda tmp, k=k: (tmp / "blob").write_bytes(b"x" * (1000 * (k + 1))))
    old = cache.path_of("bench", {"gc": 0})
    os.utime(old / cache.COMPLETE, (0, 0))  # unused since 1970
    gone = cache.gc(kind="bench", older_than_s=86400, dry_run=True)
    assert [g.path for g in gone] == [old] and old.exists()  # a dry run removes nothing
    cache.gc(kind="bench", older_than_s=86400)
    assert not old.exists() and cache.path_of("bench", {"gc": 1}).exists()
    cache.gc(kind="bench", keep_bytes=3500)  # least recently used first: {gc:1} goes, {gc:2} (3000 B) stays
    assert not cache.path_of("bench", {"gc": 1}).exists() and cache.path_of("bench", {"gc": 2}).exists()


def test_cache_cli_ls_du_gc(capsys):
    cache.run("bench", {"cli": 1}, lambda tmp: (tmp / "f").write_text("x"), label="a label")
    main(["cache", "ls", "--json"])
    import json

    rows = json.loads(capsys.readouterr().out)
    assert any(r["kind"] == "bench" and r["label"] == "a label" for r in rows)
    main(["cache", "du"])
    assert "bench" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["cache", "gc", "--older-than", "soon"])
    assert e.value.code == 2
    main(["cache", "gc", "--all", "--kind", "bench"])
    assert cache.lookup("bench", {"cli": 1}) is None
