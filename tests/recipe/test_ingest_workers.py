"""Large sources are read in worker processes (mmdata.recipe.ingest_worker), several at a time: the
cache entries, the mixture and the errors are the ones an in-process read gives."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from mmdata.errors import MmdataError
from mmdata.recipe import ingest
from mmdata.recipe.build import build

from .helpers import write_recipe

SOURCES = ["vqav2", "refcoco", "coco_captions", "llava_instruct"]


def _ingest_files(cache_root):
    return {p.parent.name: p.read_bytes() for p in sorted((cache_root / "ingest").glob("*/records.parquet"))}


def test_worker_reads_equal_in_process_reads(tiny_world, tmp_path, monkeypatch):
    r = write_recipe(tmp_path / "r.yaml", tiny_world, SOURCES, balance={"strategy": "per-dataset", "size": 400})
    monkeypatch.setenv("MMDATA_CACHE", str(tmp_path / "c-inproc"))
    monkeypatch.setattr(ingest, "ISOLATE_BYTES", 1 << 60)
    inproc = build(r, tmp_path / "a", jobs=1)
    monkeypatch.setenv("MMDATA_CACHE", str(tmp_path / "c-workers"))
    monkeypatch.setattr(ingest, "ISOLATE_BYTES", 0)  # every source in a worker, two at a time
    workers = build(r, tmp_path / "b", jobs=2)
    assert workers.manifest["content_hash"] == inproc.manifest["content_hash"]
    assert workers.stats["sources"] == inproc.stats["sources"]
    a, b = _ingest_files(tmp_path / "c-inproc"), _ingest_files(tmp_path / "c-workers")
    assert len(a) == len(SOURCES) and a == b  # same keys, same bytes
    assert not list((tmp_path / "c-workers" / "ingest").glob(".*partial"))


def test_worker_error_is_the_in_process_error(tiny_world, tmp_path, monkeypatch):
    world = tmp_path / "world"
    shutil.copytree(tiny_world / "sources" / "vqav2", world / "sources" / "vqav2")
    (world / "images").symlink_to(tiny_world / "images")
    q = next((world / "sources" / "vqav2").glob("*questions*.json"))
    q.write_bytes(q.read_bytes()[:-40])  # truncated JSON
    r = write_recipe(tmp_path / "r.yaml", world, ["vqav2"])
    errors = []
    for cut in (1 << 60, 0):
        monkeypatch.setenv("MMDATA_CACHE", str(tmp_path / f"c{cut}"))
        monkeypatch.setattr(ingest, "ISOLATE_BYTES", cut)
        with pytest.raises(MmdataError) as e:
            build(r, tmp_path / f"out{cut}")
        errors.append(e.value)
    inproc, worker = errors
    assert str(worker) == str(inproc) and "\n" not in str(worker)
    assert worker.file == inproc.file and q.name in worker.file
    assert not (tmp_path / "out0").exists()


def test_worker_failures_leave_no_cache_entry(tiny_world, tmp_path, monkeypatch):
    """A worker's one-line error comes back as that error; a worker that dies otherwise raises with
    its exit status and the end of its stderr. Neither leaves a cache entry."""
    monkeypatch.setenv("MMDATA_CACHE", str(tmp_path / "c"))
    from mmdata import cache
    from mmdata.recipe.ingest_worker import read_isolated

    with pytest.raises(MmdataError, match="unknown source 'no-such-source'"):
        cache.run("ingest", {"t": 1}, lambda tmp: read_isolated("no-such-source", tmp_path, tmp_path, tmp))
    src = tiny_world / "sources" / "vqav2"
    with pytest.raises(RuntimeError, match=r"(?s)exit status 1.*FileNotFoundError"):  # its scratch folder is gone
        cache.run("ingest", {"t": 2}, lambda tmp: read_isolated("vqav2", src, tiny_world / "images", tmp / "gone"))
    assert cache.lookup("ingest", {"t": 1}) is None and cache.lookup("ingest", {"t": 2}) is None
    bad = subprocess.run([sys.executable, "-m", "mmdata.recipe.ingest_worker", "vqav2"], capture_output=True, text=True)
    assert bad.returncode != 0
