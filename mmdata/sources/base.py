"""Shared machinery for source adapters: the Adapter base class, image references, field checks.

An adapter turns one dataset's *native* files into Record dicts (see :mod:`mmdata.schema`). It never
decodes images: :class:`ImageResolver` turns a relative path into a reference (path, sha256, width,
height), hashing each file once and reading only the image header for its size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from PIL import Image, UnidentifiedImageError

from mmdata.errors import MmdataError
from mmdata.io import safe_join
from mmdata.sources.image_meta import image_meta


class MissingImage(MmdataError):
    """An image a record refers to does not exist (the record is quarantined, the run continues)."""


class CorruptImage(MmdataError):
    """An image exists but cannot be decoded (found only by the validation pass)."""


class ImageResolver:
    """Resolve relative image paths under one root into Record image references.

    * paths that escape the root raise :class:`MmdataError`;
    * missing files raise :class:`MissingImage`;
    * sha256 and header size are cached per path, so a pool shared by many records is read once;
    * with ``validate=True`` every image is fully decoded once; failures raise :class:`CorruptImage`.
    """

    def __init__(self, root: str | Path, *, validate: bool = False) -> None:
        self.root = Path(root)
        self.validate = validate
        self._cache: dict[str, dict | MmdataError] = {}

    def ref(
        self,
        rel: Any,
        *,
        file: str | Path,
        record: Any,
        field: str = "image",
        width: int | None = None,
        height: int | None = None,
    ) -> dict:
        if not isinstance(rel, str):
            raise MmdataError(f"expected an image path string, got {type(rel).__name__}", file=file, record=record, field=field)
        hit = self._cache.get(rel)
        if hit is None:
            hit = self._resolve(rel, file=file, record=record, field=field)
            self._cache[rel] = hit
        if isinstance(hit, MmdataError):
            # re-raise with this record's coordinates
            raise type(hit)(hit.message, file=file, record=record, field=field)
        out = dict(hit)
        if width is not None and height is not None:
            out["width"], out["height"] = int(width), int(height)
        return out

    def _resolve(self, rel: str, *, file, record, field) -> dict | MmdataError:
        path = safe_join(self.root, rel, file=file, record=record, field=field)
        try:
            found = path.is_file()
        except OSError as e:  # e.g. a component longer than the filesystem allows
            raise MmdataError(f"path {rel[:200]!r} cannot be looked up ({e.strerror or e})", file=file, record=record, field=field) from None
        if not found:
            return MissingImage(f"image {rel!r} not found under {self.root}")
        try:
            digest, w, h = image_meta(os.fspath(path), validate=self.validate)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            return CorruptImage(f"image {rel!r} cannot be decoded ({type(e).__name__}: {e})")
        return {"path": rel.replace("\\", "/"), "sha256": digest, "width": w, "height": h}


# ---------------------------------------------------------------------------------------------
# field checks: every adapter reads native JSON through these, so errors name file/record/field


def need(obj: Any, key: str, typ: type | tuple[type, ...], *, file, record, optional: bool = False) -> Any:
    """Return ``obj[key]`` checked against ``typ``; raise a one-line error otherwise."""
    if not isinstance(obj, dict):
        raise MmdataError(f"expected a JSON object, got {_tname(obj)}", file=file, record=record)
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise MmdataError("missing required key", file=file, record=record, field=key)
    val = obj[key]
    # bool is an int subclass: never accept it where a number is wanted
    if isinstance(val, bool) and bool not in _as_tuple(typ):
        raise MmdataError(f"expected {_tdesc(typ)}, got bool", file=file, record=record, field=key)
    if not isinstance(val, typ):
        raise MmdataError(f"expected {_tdesc(typ)}, got {_tname(val)}", file=file, record=record, field=key)
    if isinstance(val, int) and not -(2**63) <= val < 2**63:  # ids and counts are 64-bit in every published file
        raise MmdataError(f"integer {val} is out of the 64-bit range", file=file, record=record, field=key)
    return val


def need_list_of(obj: Any, key: str, typ: type | tuple[type, ...], *, file, record, optional=False) -> list | None:
    val = need(obj, key, list, file=file, record=record, optional=optional)
    if val is None:
        return None
    for i, v in enumerate(val):
        if isinstance(v, bool) and bool not in _as_tuple(typ) or not isinstance(v, typ):
            raise MmdataError(f"item {i} should be {_tdesc(typ)}, got {_tname(v)}", file=file, record=record, field=key)
        if isinstance(v, int) and not -(2**63) <= v < 2**63:
            raise MmdataError(f"item {i} ({v}) is out of the 64-bit range", file=file, record=record, field=key)
    return val


def box_xywh_to_norm(box: Any, width: int, height: int, *, file, record, field="bbox", clip: bool = False) -> list[float]:
    """Pixel ``[x, y, w, h]`` → normalised ``[x1, y1, x2, y2]``; boxes outside the image are errors.

    With ``clip=True`` a box that sticks out of the image is clipped (Visual Genome has many such
    boxes); a box with no area inside the image is still an error.
    """
    if not isinstance(box, list | tuple) or len(box) != 4 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in box
    ):
        raise MmdataError(f"expected [x, y, w, h] numbers, got {box!r}"[:200], file=file, record=record, field=field)
    x, y, w, h = (float(v) for v in box)
    x1, y1, x2, y2 = x, y, x + w, y + h
    if clip:
        x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
    if not (w > 0 and h > 0 and 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise MmdataError(
            f"bbox {list(box)} lies outside the {width}x{height} image", file=file, record=record, field=field
        )
    return [x1 / width, y1 / height, x2 / width, y2 / height]


def extra_json(d: dict) -> str:
    """Serialise format-specific leftovers for the Record ``extra`` column (compact, sorted)."""
    return orjson.dumps(d, option=orjson.OPT_SORT_KEYS).decode()


def _as_tuple(typ) -> tuple:
    return typ if isinstance(typ, tuple) else (typ,)


_NAMES = {str: "string", int: "integer", float: "number", list: "list", dict: "object", bool: "boolean"}


def _tdesc(typ) -> str:
    return " or ".join(_NAMES.get(t, t.__name__) for t in _as_tuple(typ))


def _tname(v) -> str:
    if v is None:
        return "null"
    return _NAMES.get(type(v), type(v).__name__)


# ---------------------------------------------------------------------------------------------


class Adapter:
    """One native format. Subclasses set the class attributes and implement :meth:`rows`.

    ``path`` is the dataset directory (or, where noted, a single file). Images are looked up under
    ``images`` (default: ``<path>/images`` when it exists, else ``<path>``).
    """

    name: str = ""
    task: str = ""
    language: str = "en"
    description: str = ""
    layout: str = ""  # one-line description of the expected files, shown by `mmdata sources list`
    # every published file / version the adapter reads, one line each (`mmdata sources list`, docs/sources.md)
    accepts: tuple[str, ...] = ()

    def files(self, path: Path) -> list[Path]:
        """The input files that define this source (used for fingerprints). Raise if the layout is absent."""
        raise NotImplementedError

    def default_image_root(self, path: Path) -> Path:
        base = path if path.is_dir() else path.parent
        cand = base / "images"
        return cand if cand.exists() else base

    def rows(self, path: Path, images: ImageResolver) -> Iterator[dict]:
        """Yield Record dicts (see :func:`mmdata.schema.empty_record`)."""
        raise NotImplementedError

    # helpers -------------------------------------------------------------------------------

    def record(self, **values) -> dict:
        from mmdata.schema import empty_record

        values.setdefault("dataset", self.name)
        values.setdefault("task", self.task)
        values.setdefault("language", self.language)
        values.setdefault("split", "train")
        src = values.pop("_file", None)
        rec = empty_record(**values)
        rec["_file"] = src
        return rec

    def need_file(self, path: Path, *names: str) -> Path:
        """First existing file among ``names`` under ``path``; a clear error when none exists."""
        for n in names:
            p = path / n
            if p.is_file():
                return p
        raise MmdataError(f"{self.name}: expected one of {list(names)} in this directory", file=path)

    def glob_files(self, path: Path, pattern: str) -> list[Path]:
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise MmdataError(f"{self.name}: source path does not exist", file=path)
        found = sorted(p for p in path.glob(pattern) if p.is_file() and not p.name.startswith("."))
        if not found:
            raise MmdataError(f"{self.name}: no files matching {pattern!r}", file=path)
        return found
