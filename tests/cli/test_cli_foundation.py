"""CLI: world, sources list/read, one-line errors with a non-zero exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mmdata.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli") / "w"
    r = run("world", "--out", str(d), "--size", "tiny", "--seed", "2")
    assert r.returncode == 0, r.stderr
    return d


def test_world_command_writes_manifest(world):
    info = json.loads((world / "world.json").read_text())
    assert info["seed"] == 2 and info["size"] == "tiny"


def test_sources_list_shows_every_adapter():
    r = run("sources", "list")
    assert r.returncode == 0
    for n in ("vqav2", "refcoco+", "llava_instruct_ar", "sharegpt"):
        assert n in r.stdout


def test_sources_read_prints_records(world):
    r = run("sources", "read", "gqa", str(world / "sources/gqa"), "--limit", "3")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 3 and all(x["dataset"] == "gqa" and x["task"] == "vqa_open" for x in rows)
    assert "3 record(s) read" in r.stderr


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    d = tmp_path / "gqa"
    d.mkdir()
    (d / "train_balanced_questions.json").write_text('{"q1": {"imageId": 3}}')
    r = run("sources", "read", "gqa", str(d))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "train_balanced_questions.json" in lines[0] and "imageId" in lines[0]


def test_unknown_source_name(tmp_path):
    r = run("sources", "read", "vqa2", str(tmp_path))
    assert r.returncode == 2 and "unknown source 'vqa2'" in r.stderr


def test_quarantine_file(world, tmp_path):
    src = world / "sources/ocrvqa"
    victim = sorted((world / "images/ocr").iterdir())[0]
    victim.unlink()
    q = tmp_path / "q.jsonl"
    r = run("sources", "read", "ocrvqa", str(src), "--limit", "0", "--quarantine", str(q))
    assert r.returncode == 0, r.stderr
    bad = [json.loads(x) for x in q.read_text().splitlines()]
    assert len(bad) == 5 and all(b["image"] == victim.name for b in bad)
