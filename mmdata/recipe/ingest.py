"""Ingest: a recipe source → a Record table, through its adapter, cached by content fingerprint.

The fingerprint hashes the adapter name, the ingest format version and every input file's bytes
(image files are covered by the sha256 inside each Record). A source whose fingerprint has been
ingested before is read back from ``cache_dir("ingest")`` as Parquet instead of re-parsing its native
JSON — a rebuild of the same recipe touches no JSON at all.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmdata import __version__
from mmdata import sources as src
from mmdata.errors import MmdataError
from mmdata.io import atomic_write_bytes, cache_dir, sha256_file
from mmdata.recipe.config import SourceSpec
from mmdata.schema import RECORD_SCHEMA

INGEST_VERSION = "1"
# the Record columns a build uses (``extra`` and ``answers`` stay in the cache for inspection tools)
BUILD_COLUMNS = ("dataset", "task", "split", "record_id", "image", "language", "question", "answer", "choices", "answer_idx",
                 "bbox", "phrase", "caption", "context", "turns")  # fmt: skip
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_hash(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        _FILE_HASHES[key] = sha256_file(path)
    return _FILE_HASHES[key]


@dataclass
class Ingested:
    dataset: str
    table: pa.Table  # Records after split/language filters and task override
    fingerprint: str
    image_root: str
    files: list[str]
    records_read: int
    quarantined: list[dict] = field(default_factory=list)
    from_cache: bool = False


def fingerprint(name: str, files: list[Path], image_root: Path) -> str:
    h = hashlib.sha256(f"mmdata-ingest/{INGEST_VERSION}/{__version__}/{name}\n".encode())
    for f in files:
        h.update(f"{f.name}\0{file_hash(f)}\n".encode())
    h.update(str(image_root.resolve()).encode())
    return h.hexdigest()


def ingest(spec: SourceSpec, path: Path) -> Ingested:
    adapter = src.get(spec.dataset)
    if not path.exists():
        raise MmdataError(f"source path for {spec.dataset!r} does not exist", file=path, field="sources.path")
    files = adapter.files(path)
    images = Path(spec.images) if spec.images else adapter.default_image_root(path)
    fp = fingerprint(spec.dataset, files, images)
    cache = cache_dir("ingest") / f"{fp}.parquet"
    quarantined: list[dict] = []
    if cache.exists():
        table = pq.read_table(cache, columns=list(BUILD_COLUMNS))
        meta = pq.read_schema(cache).metadata or {}
        quarantined = [] if b"mmdata.quarantined" not in meta else __import__("orjson").loads(meta[b"mmdata.quarantined"])
        from_cache = True
    else:
        rep = src.ReadReport()
        batches = list(src.read(spec.dataset, path, images=images, report=rep))
        table = pa.Table.from_batches(batches, schema=RECORD_SCHEMA)
        quarantined = rep.quarantined
        import orjson

        meta = {b"mmdata.quarantined": orjson.dumps(quarantined)}
        sink = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd")
        atomic_write_bytes(cache, sink.getvalue().to_pybytes())
        table = table.select(list(BUILD_COLUMNS))
        from_cache = False
    n = table.num_rows
    table = table.replace_schema_metadata(None)
    if spec.split != "*":
        table = table.filter(pc.equal(table.column("split"), spec.split))
    if spec.languages:
        table = table.filter(pc.is_in(table.column("language"), value_set=pa.array(spec.languages)))
    if spec.task:
        table = table.set_column(table.schema.get_field_index("task"), "task", pa.array([spec.task] * table.num_rows, pa.string()))
    return Ingested(spec.dataset, table, fp, os.fspath(images.resolve()), [os.fspath(f) for f in files], n, quarantined, from_cache)
