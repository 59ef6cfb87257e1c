"""Embedded image bytes (hub parquet / arrow datasets) → ordinary files in a content-addressed store.

The Cauldron, LLaVA-OneVision-Data and ``datasets.save_to_disk`` directories carry their images
inside the table as ``{bytes, path}`` structs. :func:`extracted_root` writes every such image once,
untouched and never decoded, as ``<sha256[:2]>/<sha256>.<ext>`` (the extension from the magic
bytes, :func:`~mmdata.sources.image_meta.image_ext`) under one directory per set of source files;
adapters point their Records there with relative paths (:func:`blob_name`), so the builder, the
trainer and the harness read these images as plain files like any other source's.

The directory is a content-cache entry (kind ``extracted``), keyed by the source files' names and
bytes; it is written atomically, so a reader either finds a complete store or extracts again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from mmdata.io import dumps_json
from mmdata.sources.image_meta import image_ext


def blob_name(data: bytes) -> tuple[str, str]:
    """``(sha256, relative path)`` of one embedded image in the store."""
    digest = hashlib.sha256(data).hexdigest()
    return digest, f"{digest[:2]}/{digest}.{image_ext(data)}"


def extracted_root(files: Sequence[Path], blobs: Callable[[], Iterable[bytes]]) -> Path:
    """The image root holding every embedded image of ``files``, extracting them on first use.

    ``blobs`` yields the raw bytes of each embedded image of those files (repeats are fine; each
    distinct image is written once). The store is a :func:`mmdata.cache.run` entry of kind
    ``extracted`` keyed by the source files' names and bytes. Returns the store directory.
    """
    from mmdata import cache

    def fill(tmp: Path) -> None:
        written, total = set(), 0
        for data in blobs():
            _, rel = blob_name(data)
            if rel in written:
                continue
            target = tmp / rel
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(data)
            written.add(rel)
            total += len(data)
        info = {"kind": "mmdata-extracted-images", "images": len(written), "bytes": total, "sources": sorted(f.name for f in files)}
        (tmp / "extracted.json").write_bytes(dumps_json(info))

    ordered = sorted(files, key=lambda f: f.name)  # order-independent, as the key promises
    entry = cache.run("extracted", {"files": cache.files_digest(ordered)}, fill, label=f"images of {len(files)} file(s)")
    return entry.path
