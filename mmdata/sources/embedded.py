"""Embedded image bytes (hub parquet / arrow datasets) → ordinary files in a content-addressed store.

The Cauldron, LLaVA-OneVision-Data and ``datasets.save_to_disk`` directories carry their images
inside the table as ``{bytes, path}`` structs. :func:`extracted_root` writes every such image once,
untouched and never decoded, as ``<sha256[:2]>/<sha256>.<ext>`` (the extension from the magic
bytes, :func:`~mmdata.sources.image_meta.image_ext`) under one directory per set of source files;
adapters point their Records there with relative paths (:func:`blob_name`), so the builder, the
trainer and the harness read these images as plain files like any other source's.

The directory is ``cache_dir("extracted") / <key>``, the key a sha256 over the source files' names
and bytes; it is written atomically, so a reader either finds a complete store or extracts again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from mmdata.io import atomic_dir, cache_dir, dumps_json, sha256_file
from mmdata.sources.image_meta import image_ext

STORE_VERSION = "1"
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def blob_name(data: bytes) -> tuple[str, str]:
    """``(sha256, relative path)`` of one embedded image in the store."""
    digest = hashlib.sha256(data).hexdigest()
    return digest, f"{digest[:2]}/{digest}.{image_ext(data)}"


def _file_hash(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        _FILE_HASHES[key] = sha256_file(path)
    return _FILE_HASHES[key]


def store_key(files: Sequence[Path]) -> str:
    """sha256 over the source files' names and contents (order-independent)."""
    h = hashlib.sha256(f"mmdata-extracted/{STORE_VERSION}\n".encode())
    for name, digest in sorted((f.name, _file_hash(f)) for f in files):
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


def extracted_root(files: Sequence[Path], blobs: Callable[[], Iterable[bytes]]) -> Path:
    """The image root holding every embedded image of ``files``, extracting them on first use.

    ``blobs`` yields the raw bytes of each embedded image of those files (repeats are fine; each
    distinct image is written once). Returns the store directory.
    """
    dest = cache_dir("extracted") / store_key(files)
    if dest.is_dir():
        return dest
    with atomic_dir(dest) as tmp:
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
        info = {"kind": "mmdata-extracted-images", "version": STORE_VERSION, "images": len(written), "bytes": total,
                "sources": sorted(f.name for f in files)}  # fmt: skip
        (tmp / "extracted.json").write_bytes(dumps_json(info))
    return dest
