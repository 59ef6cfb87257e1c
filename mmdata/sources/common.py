"""Small checks shared by several adapters (on top of :func:`need` / :func:`need_list_of`).

Each helper raises :class:`MmdataError` naming the file, the record and the field, so adapters can
read untrusted JSON without ever letting a ``KeyError`` / ``TypeError`` / ``ValueError`` escape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdata.errors import MmdataError
from mmdata.sources.base import _tname, need

INT32_MAX = 2**31 - 1


def label(value: Any) -> str:
    """An id from the data as it may appear in a one-line error: odd characters are shown escaped."""
    s = str(value)
    return s if s.isprintable() else repr(s)


def top_list(doc: Any, *, file, what: str) -> list:
    """The document itself must be a JSON list (LLaVA, A-OKVQA, Visual Genome, RefCOCO refs)."""
    if not isinstance(doc, list):
        raise MmdataError(f"expected a JSON list of {what} at the top level, got {_tname(doc)}", file=file, record="(top level)")
    return doc


def top_dict(doc: Any, *, file, what: str) -> dict:
    """The document itself must be a JSON object keyed by id (GQA, OCR-VQA, ScienceQA)."""
    if not isinstance(doc, dict):
        raise MmdataError(f"expected a JSON object of {what} at the top level, got {_tname(doc)}", file=file, record="(top level)")
    return doc


def need_obj(val: Any, *, file, record, field: str | None = None) -> dict:
    """``val`` must be a JSON object (an item of a list, a value of an id-keyed object)."""
    if not isinstance(val, dict):
        raise MmdataError(f"expected a JSON object, got {_tname(val)}", file=file, record=record, field=field)
    return val


def need_dim(obj: Any, key: str, *, file, record) -> int:
    """A positive pixel size that fits the Record's int32 column."""
    v = need(obj, key, int, file=file, record=record)
    if not 0 < v <= INT32_MAX:
        raise MmdataError(f"image size must be a positive integer, got {v}", file=file, record=record, field=key)
    return v


def need_index(obj: Any, key: str, n: int, *, file, record, optional: bool = False) -> int | None:
    """An index into a list of ``n`` choices."""
    v = need(obj, key, int, file=file, record=record, optional=optional)
    if v is not None and not 0 <= v < n:
        raise MmdataError(f"index {v} is out of range for {n} choice(s)", file=file, record=record, field=key)
    return v


def need_relpath(obj: Any, key: str, *, file, record, optional: bool = False) -> str | None:
    """A relative file name taken from data that the adapter puts *inside* a longer image path.

    The reader's ``safe_join`` rejects ``..`` anywhere in the final path, but an absolute name would
    stop looking absolute once prefixed (``train2014/`` + ``/etc/passwd``), so it is refused here.
    """
    v = need(obj, key, str, file=file, record=record, optional=optional)
    if v is None:
        return None
    if v == "" or v.startswith(("/", "\\")) or (len(v) > 1 and v[1] == ":") or "\x00" in v:
        raise MmdataError(
            f"expected a non-empty relative file name, got {v[:200]!r}", file=file, record=record, field=key
        )
    return v


def aggregate_answers(texts: list[str]) -> list[dict]:
    """Distinct answers in first-appearance order, weight = count / number of answers (VQAv2 style)."""
    counts: dict[str, int] = {}
    for t in texts:
        counts[t] = counts.get(t, 0) + 1
    total = max(1, len(texts))
    return [{"text": t, "weight": c / total} for t, c in counts.items()]


def split_of(subtype: str) -> str:
    """COCO-style subtype → split (``train2014`` → train, ``val2017`` → val, ``test2015`` → test)."""
    for s in ("train", "val", "test"):
        if subtype.startswith(s):
            return s
    return subtype


def single_file(adapter_name: str, path: Path, *names: str) -> Path:
    """``path`` itself when it is a file, else the first of ``names`` that exists under it."""
    if path.is_file():
        return path
    for n in names:
        p = path / n
        if p.is_file():
            return p
    raise MmdataError(f"{adapter_name}: expected {' or '.join(names)} in this directory", file=path)
