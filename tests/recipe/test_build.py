"""Build outputs, determinism, crash safety and the Ray engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.dataset as pads
import pytest

from mmdata.recipe.build import build
from mmdata.schema import validate_conversations

from .helpers import write_recipe


@pytest.fixture(scope="module")
def mix(tiny_world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mix")
    r = write_recipe(tmp / "r.yaml", tiny_world, output={"formats": ["parquet", "llava", "hf"], "shard_rows": 300},
                     balance={"strategy": "per-dataset", "size": 800})  # fmt: skip
    return r, build(r, tmp / "out")


def test_manifest_has_everything(mix):
    _, res = mix
    m = json.loads((res.out / "manifest.json").read_text())
    assert m["recipe"]["name"] == "test" and m["seed"] == 0
    for key in ("sources", "image_roots", "counts", "tasks", "template_usage", "software", "content_hash", "balance", "dedup"):
        assert key in m
    for c in m["counts"].values():
        assert set(c) >= {"records_in", "items_after_merge", "dedup_dropped", "sampled", "epochs"}
    assert all(len(s["ingest_key"]) == 32 for s in m["sources"].values())
    assert sum(m["template_usage"].values()) == m["n_items"] == 800
    assert len(m["files"]["data"]) == 3  # 800 rows, shards of 300


def test_outputs_load_with_datasets_and_validate(mix):
    import datasets

    _, res = mix
    table = pads.dataset(res.out / "data").to_table()
    validate_conversations(table)
    ds = datasets.load_dataset("parquet", data_files=str(res.out / "data/*.parquet"), split="train",
                               cache_dir=str(res.out.parent / "hfc"))  # fmt: skip
    assert ds.num_rows == 800 and ds[0]["id"] == table.column("id")[0].as_py()
    # the hf export: the datasets.Image feature, image bytes embedded, loadable (and pushable) as is
    hf = datasets.load_dataset("parquet", data_files=str(res.out / "hf/data/*.parquet"), split="train",
                               cache_dir=str(res.out.parent / "hfc2"))  # fmt: skip
    assert hf.num_rows == 800 and isinstance(hf.features["images"].feature, datasets.Image)
    row = next(r for r in hf if r["images"])
    assert row["images"][0].size[0] > 0 and row["conversations"][0]["from"] == "human"
    llava = json.loads((res.out / "llava.json").read_text())
    assert len(llava) == 800 and llava[0]["conversations"][0]["from"] == "human"
    for item in llava:  # LLaVA's loader: human and gpt alternate, starting with human; no system turn
        roles = [t["from"] for t in item["conversations"]]
        assert roles[0] == "human" and all(a != b for a, b in zip(roles, roles[1:], strict=False)) and set(roles) <= {"human", "gpt"}
    with_img = [x for x in llava if "image" in x]
    assert with_img and all(os.path.isfile(x["image"]) for x in with_img[:20])
    html = (res.out / "report.html").read_text()
    assert html.count("<svg") == 5 and "<table>" in html  # composition (2), shape (3) charts, inline
    import re
    import xml.etree.ElementTree as ET

    charts = {ET.fromstring(s).get("aria-label"): s for s in re.findall(r"<svg.*?</svg>", html, re.S)}  # each chart is well-formed SVG
    sampled = res.manifest["counts"]
    for name, c in sampled.items():  # every dataset is a labelled bar carrying its sampled count
        assert f">{name}</text>" in charts["items by dataset"] and f">{c['sampled']:,}</text>" in charts["items by dataset"]


def test_content_hash_is_the_digest_of_the_shards_as_written(mix):
    # the writer digests each shard as it writes it; the reference reads the finished files back
    from mmdata.recipe.output import content_hash

    r, res = mix
    shards = [res.out / f for f in res.manifest["files"]["data"]]
    assert len(shards) > 1  # more than one shard: the digest runs across files, in order
    assert res.manifest["content_hash"] == content_hash(shards)
    assert res.manifest["content_hash"] != content_hash(shards[::-1])


def test_rebuild_same_hash_other_seed_differs(mix, tmp_path):
    r, res = mix
    again = build(r, tmp_path / "again")
    assert again.manifest["content_hash"] == res.manifest["content_hash"]
    assert (tmp_path / "again/manifest.json").read_bytes() == (res.out / "manifest.json").read_bytes()
    other = build(r, tmp_path / "other", overrides=["seed=1"])
    assert other.manifest["content_hash"] != res.manifest["content_hash"]


def test_query_cli(mix):
    _, res = mix
    q = subprocess.run([sys.executable, "-m", "mmdata.cli", "query", str(res.out),
                        "select count(*) as n, count(distinct dataset) as d from items"], capture_output=True, text=True)  # fmt: skip
    assert q.returncode == 0 and "800" in q.stdout and "13" in q.stdout


def test_killed_build_leaves_nothing_and_rerun_matches(tiny_world, tmp_path):
    r = write_recipe(tmp_path / "r.yaml", tiny_world, output={"formats": ["parquet", "llava"], "shard_rows": 7},
                     balance={"strategy": "per-dataset", "size": 3000})  # fmt: skip
    out = tmp_path / "mix"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "mmdata.cli", "build", str(r), "--out", str(out)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    killed_mid_write = False
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        partial = [d for d in tmp_path.glob(".mix.*.partial") if (d / "data").is_dir() and any((d / "data").iterdir())]
        if partial:
            os.kill(p.pid, signal.SIGKILL)
            killed_mid_write = True
            break
        time.sleep(0.002)
    p.wait()
    assert killed_mid_write, "the build finished before it could be killed"
    assert not out.exists()  # nothing partial is visible under the output name
    assert list(tmp_path.glob(".mix.*.partial"))  # the killed writer's scratch is hidden...
    res = build(r, out)  # ...and swept by the next build
    assert not list(tmp_path.glob(".mix.*.partial"))
    clean = build(r, tmp_path / "clean")
    assert res.manifest["content_hash"] == clean.manifest["content_hash"]


def test_mmdata_sets_the_allocators_before_polars_and_pyarrow_load():
    """polars' jemalloc keeps freed pages for a second and Arrow uses the system allocator (the build's
    time and peak RSS, reports/perf.md): importing mmdata first sets both, and a value the user set is kept."""
    import os
    import subprocess
    import sys

    # (polars prepends its own defaults to _RJEM_MALLOC_CONF when it loads; jemalloc keeps the last value)
    code = ("import mmdata, os; conf = os.environ['_RJEM_MALLOC_CONF']; import pyarrow as pa, polars; "
            "print(pa.default_memory_pool().backend_name, conf, os.environ['_RJEM_MALLOC_CONF'].endswith(conf))")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "_RJEM_MALLOC_CONF")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["system", "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000", "True"]
    mine = subprocess.run([sys.executable, "-c", code], env={**env, "ARROW_DEFAULT_MEMORY_POOL": "jemalloc", "_RJEM_MALLOC_CONF": "x:1"},
                          capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert mine[1] == "x:1" and mine[0] in ("jemalloc", "mimalloc", "system")


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc only")
def test_freed_memory_goes_back_to_the_system():
    """What a stage frees stays resident in glibc's arenas until
    ``return_freed_memory`` hands it back: 192 MiB of small blocks freed behind a live one."""
    code = """
import ctypes
from mmdata.recipe.build import return_freed_memory
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def anon():
    return next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("RssAnon:")) // 1024
blocks = [libc.malloc(64 * 1024) for _ in range(3072)]
for b in blocks:
    ctypes.memset(b, 1, 64 * 1024)
pin = libc.malloc(64 * 1024)  # the heap's top stays in use: free() alone cannot shrink it
for b in blocks:
    libc.free(b)
before = anon()
return_freed_memory()
print(before, anon())
"""
    before, after = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert before - after > 150, (before, after)


def test_every_stage_hands_freed_memory_back(tiny_world, tmp_path, monkeypatch):
    import mmdata.recipe.build as b

    calls = []
    monkeypatch.setattr(b, "return_freed_memory", lambda: calls.append(1))
    b.build(write_recipe(tmp_path / "r.yaml", tiny_world), tmp_path / "mix")
    assert len(calls) == len(b.STAGES)
