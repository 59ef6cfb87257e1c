"""The render's scatter: each part gets exactly its Records, in position order, whatever the number of
scattering threads."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mmdata.recipe import stages
from mmdata.recipe.build import BuildState
from mmdata.recipe.config import load_recipe
from mmdata.recipe.engine import LocalEngine
from mmdata.recipe.scatter import read_part, scatter

from .helpers import write_recipe


def test_scatter_gives_each_part_its_records_with_any_thread_count(tiny_world, tmp_path, monkeypatch):
    monkeypatch.setenv("MMDATA_CACHE", str(tmp_path / "c"))
    r, base = load_recipe(write_recipe(tmp_path / "r.yaml", tiny_world, ["vqav2", "gqa", "refcoco", "coco_captions", "sharegpt"]))
    st = BuildState(r, base, tmp_path / "o", LocalEngine())
    stages.ingest(st)
    total = sum(i.n for i in st.ingested)
    everything = pa.concat_tables([i.read(["record_id", "question"]) for i in st.ingested])
    rng = np.random.default_rng(0)
    parts = [np.unique(rng.integers(0, total, size=n)) for n in (50, 1, 300, 120)] + [np.arange(total)]
    got = {}
    for threads in (1, 2, 3):
        folder = tmp_path / f"t{threads}"
        folder.mkdir()
        files = scatter(st.ingested, parts, ["record_id", "question"], folder, threads=threads)
        assert len(files) == len(parts) and all(len(f) == len(files[0]) for f in files)
        assert 2 <= len(files[0]) <= threads if threads > 1 else len(files[0]) == 1  # the sources were split
        got[threads] = [read_part(f) for f in files]
        for p, t in zip(parts, got[threads], strict=True):
            assert t.equals(everything.take(pa.array(p)))
    assert all(a.equals(b) for a, b in zip(got[1], got[3], strict=True))
