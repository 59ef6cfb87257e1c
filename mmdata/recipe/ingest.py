"""Ingest: a recipe source → a Record table, through its adapter, cached by content.

The cache key (:func:`source_inputs`) is the source's *content*: the bytes of every annotation file,
the listing of its image folder (every file's relative name, size and mtime), and the digest of the
adapter code. Delete, add or replace an image and the listing changes, so the source is read again
and the mixture never points at files that are gone. A hit reads the Records back from Parquet
without touching the native JSON.

The Records a source sets aside (missing or undecodable image, empty target text, no assistant turn)
travel with it as ``quarantine`` rows; the build reports them per source and applies the recipe's
``images`` policy (:func:`check_losses`).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmdata import cache
from mmdata import sources as src
from mmdata.errors import MmdataError
from mmdata.recipe.config import Images, SourceSpec
from mmdata.recipe.ingest_worker import read_isolated
from mmdata.schema import RECORD_SCHEMA

# the Record columns a build uses (``extra`` and ``answers`` stay in the cache for inspection tools)
BUILD_COLUMNS = ("dataset", "task", "split", "record_id", "image", "images", "language", "question", "answer", "choices", "answer_idx",
                 "bbox", "phrase", "caption", "context", "turns")  # fmt: skip
# the columns grouping reads of every Record (one source at a time, from the ingest cache's file)
LIGHT_COLUMNS = ("dataset", "task", "record_id", "image.path")
# a source whose annotation files add up to this many bytes is read in a separate process
# (:mod:`mmdata.recipe.ingest_worker`): what parsing its native JSON leaves allocated goes back to the
# system when that process ends, instead of staying in the build's for the stages after ingest
ISOLATE_BYTES = 4 * 1024 * 1024
QUARANTINE_SCHEMA = pa.schema([("dataset", pa.string()), ("record_id", pa.string()), ("file", pa.string()), ("image", pa.string()),
                               ("kind", pa.string()), ("reason", pa.string())])  # fmt: skip


@dataclass
class Ingested:
    """One source, ingested: its account (records read, set aside, filtered) and where its Records are.
    No Record column is held in memory: the stages read the columns they need from the cache file
    (:meth:`read`, or the render's scatter), one source at a time, so what a build holds between
    stages does not grow with the sources' size."""

    dataset: str
    n: int  # Records after the split / languages filters (and decontamination)
    task: str  # the source's task (the recipe's override, else its first Record's; "" when empty)
    key: str  # the ingest cache key (content of annotations, image listing, adapter code)
    image_root: str
    files: list[str]
    records_read: int  # rows the adapter produced, before anything was set aside
    path: Path  # the cached Records (records.parquet)
    quarantined: list[dict] = field(default_factory=list)
    filtered: int = 0  # valid records left out by the source's split / languages filters
    from_cache: bool = False
    rows: np.ndarray | None = None  # the file rows of the ``n`` Records, in order (None: every row)
    task_override: bool = False  # ``task`` replaces the file's task column when read

    def file_rows(self, k: np.ndarray | None = None) -> np.ndarray:
        """Rows of the Parquet file for Records ``k`` (all of them when None)."""
        if k is None:
            return np.arange(self.n, dtype=np.int64) if self.rows is None else self.rows
        return np.asarray(k, np.int64) if self.rows is None else self.rows[k]

    def read(self, columns: list[str]) -> pa.Table:
        """Some Record columns (``image.path``: the image struct with its path only) of the ``n``
        Records, in order, read from the cache file; ``task`` with the recipe's override."""
        t = read_parquet(self.path, columns=columns)
        if self.rows is not None:
            t = t.take(pa.array(self.rows, pa.int64()))
        if self.task_override and "task" in t.column_names:
            t = t.set_column(t.schema.get_field_index("task"), "task", pa.array([self.task] * t.num_rows, pa.string()))
        return t.combine_chunks()

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the Records where ``mask`` is true (decontamination)."""
        if bool(mask.all()):
            return
        self.rows = self.file_rows()[mask]
        self.n = len(self.rows)

    @property
    def image_losses(self) -> int:
        return sum(q.get("kind", "image") == "image" for q in self.quarantined)


def image_root(spec: SourceSpec, path: Path) -> Path:
    return Path(spec.images) if spec.images else src.get(spec.dataset).default_image_root(path)


def source_inputs(spec: SourceSpec, path: Path, listings: dict[str, str] | None = None) -> dict:
    """The content key of one source: annotation bytes, image listing, adapter and schema code.
    ``listings``: image-folder listing digests by real path, computed once for a build
    (:func:`listings_of`: several sources share the COCO folder; a build reads one snapshot of it)."""
    return with_images(file_inputs(spec, path), spec, path, listings)


def file_inputs(spec: SourceSpec, path: Path) -> dict:
    """The key of :func:`source_inputs` without the image listing."""
    if not path.exists():
        raise MmdataError(f"source path for {spec.dataset!r} does not exist", file=path, field="sources.path")
    adapter = src.get(spec.dataset)
    files = adapter.files(path)
    base = path if path.is_dir() else path.parent
    return {
        "adapter": spec.dataset,
        "code": cache.code_digest("mmdata.sources"),
        "schema": cache.file_digest(Path(__file__).resolve().parents[1] / "schema.py"),
        "files": cache.files_digest(files, root=base, fast=True),  # annotation files reach gigabytes: XXH3
    }


def with_images(key: dict, spec: SourceSpec, path: Path, listings: dict[str, str] | None = None) -> dict:
    images = os.path.realpath(image_root(spec, path))
    return {**key, "images": listings[images] if listings and images in listings else cache.listing_digest(images)}


def listings_of(specs: list[SourceSpec], paths: list[Path]) -> dict[str, str]:
    """The listing digests of these sources' image folders, each file stat'ed once."""
    return cache.listing_digests(image_root(s, p) for s, p in zip(specs, paths, strict=True))


def read_source(dataset: str, path: Path, images: Path, tmp: Path) -> None:
    """Read one source through its adapter into an ingest cache entry being written at ``tmp``:
    ``records.parquet``, ``quarantine.parquet`` and ``read.json``."""
    rep = src.ReadReport()
    with pq.ParquetWriter(tmp / "records.parquet", RECORD_SCHEMA, compression="zstd") as w:
        for batch in src.read(dataset, path, images=images, report=rep):
            w.write_batch(batch)
    q = pa.Table.from_pylist([{k: r.get(k) for k in QUARANTINE_SCHEMA.names} for r in rep.quarantined], schema=QUARANTINE_SCHEMA)
    pq.write_table(q, tmp / "quarantine.parquet", compression="zstd")
    (tmp / "read.json").write_bytes(orjson.dumps({"records_read": rep.records + len(rep.quarantined)}))


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """One Parquet file, whole or some columns. ``pq.ParquetFile`` reads the same table as
    ``pq.read_table`` without loading ``pyarrow.dataset``, whose import (pandas with it) costs
    about a quarter of a second in every build."""
    with pq.ParquetFile(path) as f:
        return f.read(columns=columns)


def ingest(spec: SourceSpec, path: Path, listings: dict | None = None, inputs: dict | None = None) -> Ingested:
    """``inputs``: the source's content key when the caller has computed it (:func:`source_inputs`)."""
    images = image_root(spec, path)
    if inputs is None:
        inputs = source_inputs(spec, path, listings)
    files = src.get(spec.dataset).files(path)
    isolated = sum(os.path.getsize(f) for f in files if os.path.isfile(f)) >= ISOLATE_BYTES
    fill = partial(read_isolated if isolated else read_source, spec.dataset, path, images)
    entry = cache.run("ingest", inputs, fill, label=f"ingest {spec.dataset}")
    cached = entry.path / "records.parquet"
    filters = (["split"] if spec.split != "*" else []) + (["language"] if spec.languages else [])
    with pq.ParquetFile(cached) as f:
        total = n = f.metadata.num_rows
        table = f.read(columns=filters) if filters else None  # the filters' columns only
    quarantined = read_parquet(entry.path / "quarantine.parquet").to_pylist()
    read = orjson.loads((entry.path / "read.json").read_bytes())["records_read"]
    keep = None
    if spec.split != "*":
        keep = pc.equal(table.column("split"), spec.split)
    if spec.languages:
        lang = pc.is_in(table.column("language"), value_set=pa.array(spec.languages))
        keep = lang if keep is None else pc.and_kleene(keep, lang)
    rows = None
    if keep is not None:
        mask = keep.to_numpy(zero_copy_only=False) if keep.null_count == 0 else pc.fill_null(keep, False).to_numpy(zero_copy_only=False)
        if not mask.all():
            rows = np.flatnonzero(mask).astype(np.int64)
            n = len(rows)
    del table
    task = spec.task or (_first_task(cached, 0 if rows is None else int(rows[0])) if n else "")
    return Ingested(spec.dataset, n, task, entry.key, os.fspath(images.resolve()), [os.fspath(f) for f in files], read, cached,
                    quarantined, total - n, entry.hit, rows=rows, task_override=bool(spec.task))  # fmt: skip


def _first_task(path: Path, row: int) -> str:
    """The task of file row ``row`` (a source's Records share one task)."""
    with pq.ParquetFile(path) as f:
        start = 0
        for g in range(f.metadata.num_row_groups):
            end = start + f.metadata.row_group(g).num_rows
            if row < end:
                return f.read_row_group(g, columns=["task"]).column(0)[row - start].as_py()
            start = end
    raise IndexError(row)


def check_losses(ing: Ingested, policy: Images) -> None:
    """Apply the recipe's ``images`` policy: under ``missing: fail`` a source that lost more than
    ``max_missing`` of its records to missing or unreadable images stops the build, naming the
    first missing file."""
    lost = ing.image_losses
    if policy.missing == "drop" or lost == 0 or ing.records_read == 0:
        return
    share = lost / ing.records_read
    if share > policy.max_missing:
        first = next(q for q in ing.quarantined if q.get("kind", "image") == "image")
        raise MmdataError(
            f"source {ing.dataset!r} lost {lost:,} of {ing.records_read:,} records ({share:.1%}) to missing or unreadable images, "
            f"more than images.max_missing={policy.max_missing:g}; first: {first['image']} ({first['reason']}). "
            "Restore the images, or set images.missing=drop to build without them",
            file=first.get("file"), record=first.get("record_id"), field="image",
        )  # fmt: skip


def quarantine_table(ingested: list[Ingested]) -> pa.Table:
    rows = [{k: q.get(k) for k in QUARANTINE_SCHEMA.names} for i in ingested for q in i.quarantined]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()
