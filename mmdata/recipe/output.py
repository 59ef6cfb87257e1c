"""Mixture outputs: Parquet shards of Conversations, LLaVA JSON, a `datasets` copy, the manifest.

``content_hash`` is the SHA-256 over the shard files' names and bytes in order: the identity of the
data. Everything is written inside the build's temporary directory, which becomes ``DIR`` only when
the build has finished (see :func:`mmdata.io.atomic_dir`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata.schema import CONVERSATION_SCHEMA


def write_shards(table: pa.Table, out: Path, shard_rows: int) -> list[Path]:
    d = out / "data"
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    n = max(1, -(-table.num_rows // shard_rows))
    for k in range(n):
        part = table.slice(k * shard_rows, shard_rows)
        p = d / f"part-{k:05d}.parquet"
        pq.write_table(part, p, compression="zstd", row_group_size=min(shard_rows, 10_000), write_statistics=False)
        paths.append(p)
    return paths


def content_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


def write_llava(table: pa.Table, out: Path, image_roots: dict[str, str]) -> None:
    """LLaVA-Instruct layout: ``[{id, image, conversations: [{from: human|gpt, value}]}]``.
    ``image`` is an absolute path (the mixture spans several image roots)."""
    role = {"user": "human", "assistant": "gpt", "system": "system"}
    items = []
    for r in table.select(["id", "images", "turns", "dataset"]).to_pylist():
        item = {"id": r["id"]}
        if r["images"]:
            item["image"] = str(Path(image_roots[r["dataset"]]) / r["images"][0]["path"])
        item["conversations"] = [{"from": role[t["role"]], "value": t["content"]} for t in r["turns"]]
        items.append(item)
    (out / "llava.json").write_bytes(orjson.dumps(items))


def write_hf(paths: list[Path], out: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_parquet([str(p) for p in paths], cache_dir=str(out / ".hf-cache"), features=None)
    ds.save_to_disk(str(out / "hf"))
    import shutil

    shutil.rmtree(out / ".hf-cache", ignore_errors=True)


def empty_conversations() -> pa.Table:
    return CONVERSATION_SCHEMA.empty_table()
