"""Streaming reader: adapter rows → validated ``pyarrow.RecordBatch``es of Records.

Adapters yield plain dicts whose ``image`` is a *request* (``{"path", "width", "height"}``, sizes
optional; multi-image rows also carry ``images``, a list of requests whose first is ``image``) and
whose ``_file`` names the native file the row came from. The reader resolves image requests through
one :class:`ImageResolver` per read, so every image is hashed once, and moves rows whose image is
missing (or, with ``validate=True``, undecodable) — any of its images, for a multi-image row — to a
quarantine list instead of failing the run; so are rows an adapter marks with ``_drop`` (a reason).
Any other problem is a one-line :class:`MmdataError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from mmdata.errors import MmdataError
from mmdata.io import atomic_write_bytes, dumps_json
from mmdata.schema import records_to_batch, reject_reason, validate_records
from mmdata.sources.base import CorruptImage, ImageResolver, MissingImage
from mmdata.sources.registry import get


@dataclass
class ReadReport:
    """What a read saw: record count and the rows set aside, each with its ``reason`` and ``kind``:
    ``image`` (missing or undecodable image) or ``content`` (empty target text, no assistant turn)."""

    dataset: str = ""
    records: int = 0
    quarantined: list[dict] = field(default_factory=list)
    image_root: str = ""
    files: list[str] = field(default_factory=list)


def image_request(path: str, width: int | None = None, height: int | None = None) -> dict:
    """What an adapter puts in a row's ``image``; the reader turns it into a full reference."""
    return {"path": path, "width": width, "height": height}


def absent_image(label: str, reason: str) -> dict:
    """An image request for an image the adapter knows is unavailable (e.g. a hub row whose image
    struct holds no bytes): the reader quarantines the record with ``reason`` instead of failing."""
    return {"path": label, "width": None, "height": None, "missing": reason}


def read(
    name: str,
    path: str | Path,
    *,
    images: str | Path | None = None,
    batch_size: int = 8192,
    limit: int | None = None,
    validate: bool = False,
    quarantine: str | Path | None = None,
    report: ReadReport | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream Records of source ``name`` read from ``path``.

    ``images`` overrides the declared image root; ``validate`` decodes every image once;
    ``quarantine`` (a ``.jsonl`` path) receives the rows that were set aside, written atomically at
    the end. Pass a :class:`ReadReport` to learn counts and the image root.
    """
    adapter = get(name)
    path = Path(path)
    if not path.exists():
        raise MmdataError(f"{name}: source path does not exist", file=path)
    files = adapter.files(path)
    root = Path(images) if images is not None else adapter.default_image_root(path)
    resolver = ImageResolver(root, validate=validate)
    rep = report if report is not None else ReadReport()
    rep.dataset, rep.image_root, rep.files = name, str(root), [str(f) for f in files]
    buf: list[dict] = []
    n = 0
    try:
        for row in adapter.rows(path, resolver):
            src = row.pop("_file", None)
            drop = row.pop("_drop", None)
            if drop is not None:  # the adapter sets the row aside itself (e.g. a conversation with no turns)
                rep.quarantined.append({"dataset": name, "record_id": str(row["record_id"]), "file": str(src), "image": None,
                                        "kind": "content", "reason": drop})  # fmt: skip
                continue
            reqs = row.get("images") or ([row["image"]] if row.get("image") is not None else [])
            why = reject_reason(row)
            if why is not None:
                rep.quarantined.append({"dataset": name, "record_id": str(row["record_id"]), "file": str(src),
                                        "image": reqs[0]["path"] if reqs else None, "kind": "content", "reason": why})  # fmt: skip
                continue
            refs = []
            for req in reqs:
                try:
                    if req.get("missing"):
                        raise MissingImage(req["missing"])
                    refs.append(resolver.ref(
                        req["path"], file=src, record=_label(row["record_id"]), width=req.get("width"), height=req.get("height")
                    ))  # fmt: skip
                except (MissingImage, CorruptImage) as e:
                    rep.quarantined.append({"dataset": name, "record_id": str(row["record_id"]), "file": str(src), "image": req.get("path"),
                                            "kind": "image", "reason": e.message})  # fmt: skip
                    break
            if len(refs) < len(reqs):
                continue
            if refs:
                row["image"] = refs[0]
                if row.get("images") is not None:
                    row["images"] = refs
            buf.append(row)
            n += 1
            if limit is not None and n >= limit:
                break
            if len(buf) >= batch_size:
                yield _to_batch(buf, src)
                buf = []
        if buf:
            yield _to_batch(buf, src)
    finally:
        rep.records = n
        if quarantine is not None:
            body = b"".join(dumps_json(q, indent=False) for q in rep.quarantined)
            atomic_write_bytes(quarantine, body)


def _label(record_id) -> str:
    """A record id as shown in a one-line error (ids come from data and may hold newlines)."""
    s = str(record_id)
    return s if s.isprintable() else repr(s)


def _to_batch(rows: list[dict], src) -> pa.RecordBatch:
    try:
        batch = records_to_batch(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise MmdataError(f"cannot build Records: {e}", file=src) from None
    table = validate_records(batch, source=str(src) if src else None)
    return table.to_batches()[0] if table.num_rows else batch


def read_table(name: str, path: str | Path, **kw) -> pa.Table:
    """All Records of a source as one table (convenience for small sources and tests)."""
    from mmdata.schema import RECORD_SCHEMA

    batches = list(read(name, path, **kw))
    return pa.Table.from_batches(batches, schema=RECORD_SCHEMA)
