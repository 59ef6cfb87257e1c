"""No silent loss: missing images fail the build (or are dropped on request, with a record), a source
that contributes nothing is an error, unusable records are set aside with a reason, and a killed
``world`` leaves nothing half-written and reruns to identical bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from mmdata.errors import MmdataError
from mmdata.recipe.build import build
from tests.recipe.helpers import write_recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def world(tiny_world, tmp_path):
    """A private copy of the tiny world that the test may damage."""
    d = tmp_path / "world"
    shutil.copytree(tiny_world, d, symlinks=True)
    return d


def test_rebuild_after_images_were_deleted(world, tmp_path):
    r = write_recipe(tmp_path / "r.yaml", world, ["vqav2", "coco_captions"], balance={"size": 200})
    first = build(r, tmp_path / "before")
    coco = sorted((world / "images" / "coco").rglob("*.jpg"))
    gone = coco[: len(coco) // 3]
    for p in gone:
        p.unlink()
    # the ingest cache is keyed by the image listing: the rebuild reads the sources again and sees the loss
    with pytest.raises(MmdataError) as e:
        build(r, tmp_path / "after")
    msg = str(e.value)
    assert "\n" not in msg and "source 'vqav2' lost" in msg and "images.max_missing=0.01" in msg and gone[0].name in msg
    assert not (tmp_path / "after").exists()
    # on request the build goes on without them, and says so everywhere
    res = build(r, tmp_path / "after", overrides=["images.missing=drop"])
    src = res.manifest["sources"]["vqav2"]
    assert src["set_aside"] > 0 and src["set_aside_by_reason"] == {"image not found": src["set_aside"]}
    q = pq.read_table(tmp_path / "after" / "quarantine.parquet").to_pylist()
    assert len(q) == src["set_aside"] + res.manifest["sources"]["coco_captions"]["set_aside"]
    assert {x["kind"] for x in q} == {"image"} and all(x["image"] for x in q)
    referenced = {i["path"] for row in pq.read_table(tmp_path / "after" / "data").to_pylist() for i in row["images"]}
    assert not referenced & {p.name for p in gone}  # the mixture never points at a deleted file
    assert "Set aside" in (tmp_path / "after" / "report.html").read_text()
    assert res.manifest["content_hash"] != first.manifest["content_hash"]


def test_a_source_that_contributes_nothing_is_an_error(world, tmp_path):
    r = write_recipe(tmp_path / "r.yaml", world, ["vqav2", "coco_captions"], balance={"size": 100})
    with pytest.raises(MmdataError, match=r"source 'vqav2' contributes no items: .* left out by its split/languages filters"):
        build(r, tmp_path / "m", overrides=["sources.0.split=val"])
    with pytest.raises(MmdataError, match=r"source 'vqav2' gets 0 of 10 items"):
        build(r, tmp_path / "m", overrides=["balance.strategy=tuned", "balance.size=10", "balance.weights={vqav2: 0.001, coco_captions: 1000}"])


def test_unusable_records_are_set_aside_with_a_reason(world, tmp_path):
    f = world / "sources" / "llava_instruct" / "llava_instruct_150k.json"
    convs = orjson.loads(f.read_bytes())
    convs[0]["conversations"] = [c for c in convs[0]["conversations"] if c["from"] == "human"]  # no answer at all
    convs[1]["conversations"][1]["value"] = "   "  # an empty answer
    f.write_bytes(orjson.dumps(convs))
    cap = next((world / "sources" / "coco_captions" / "annotations").glob("*.json"))
    doc = orjson.loads(cap.read_bytes())
    doc["annotations"][0]["caption"] = ""
    cap.write_bytes(orjson.dumps(doc))
    r = write_recipe(tmp_path / "r.yaml", world, ["llava_instruct", "coco_captions"], balance={"size": 100})
    res = build(r, tmp_path / "m")
    llava = res.manifest["sources"]["llava_instruct"]
    assert llava["set_aside_by_reason"] == {"no assistant turn with text": 1}  # convs[1] still has other answers
    assert res.manifest["sources"]["coco_captions"]["set_aside_by_reason"] == {"empty 'caption'": 1}
    q = pq.read_table(tmp_path / "m" / "quarantine.parquet").to_pylist()
    assert {x["record_id"] for x in q if x["dataset"] == "llava_instruct"} >= {convs[0]["id"]}
    ids = {i for row in pq.read_table(tmp_path / "m" / "data").to_pylist() for i in row["source_record_ids"]}
    assert not ids & {x["record_id"] for x in q}  # nothing set aside reaches the mixture


def _tree(d: Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}


def test_world_killed_mid_write_reruns_identically(tmp_path):
    out = tmp_path / "w"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "mmdata.cli", "world", "--out", str(out), "--size", "small"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    killed = False
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        parts = list(tmp_path.glob(".w.*.partial"))
        if parts and any(parts[0].rglob("*.jpg")):
            p.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    p.wait()
    assert killed, "the world finished before it could be killed"
    assert not out.exists() and list(tmp_path.glob(".w.*.partial"))  # nothing visible under the name
    subprocess.run([sys.executable, "-m", "mmdata.cli", "world", "--out", str(out), "--size", "small"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    assert not list(tmp_path.glob(".w.*.partial"))  # the killed writer's scratch was swept
    from mmdata.world.generate import generate

    generate(tmp_path / "clean", "small", 0)
    assert _tree(out) == _tree(tmp_path / "clean")
