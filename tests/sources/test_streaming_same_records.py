"""The streaming adapters (bounded-memory JSON, on-disk joins) give the same Records as the whole-file
adapters they replaced: digests of every source's Record table on the tiny and small worlds and on
every hand-written sample, recorded with the whole-file adapters (commit 26045c4) in
``golden_records.json``. A deliberate change to a world writer or an adapter's output changes these
digests: regenerate the file from the commit that makes the change and say so in its message."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from mmdata.sources import ReadReport, read_table
from tests.sources.samples import SAMPLES, write_sample

GOLDEN = json.loads((Path(__file__).parent / "golden_records.json").read_text())


def digest(t: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, t.schema) as w:
        w.write_table(t.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def read(name: str, path: Path) -> list:
    rep = ReadReport()
    t = read_table(name, path, report=rep)
    return [t.num_rows, digest(t), len(rep.quarantined)]


@pytest.mark.parametrize("world", ["tiny", "small"])
def test_worlds(world, request):
    root = request.getfixturevalue(f"{world}_world")
    keys = sorted(k for k in GOLDEN if k.startswith(f"{world}/"))
    assert keys
    got = {k: read(k.split("/", 1)[1], root / "sources" / k.split("/", 1)[1]) for k in keys}
    assert got == {k: GOLDEN[k] for k in keys}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_handwritten_samples(name, tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    write_sample(root, SAMPLES[name]())
    assert read(name, root) == GOLDEN[f"sample/{name}"]
