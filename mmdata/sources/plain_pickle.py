"""Load a pickle that holds plain data only — lists, dicts, tuples, strings, numbers, bools, None.

The refer toolkit publishes RefCOCO's refs as ``refs(<splitBy>).p``, a protocol-2 pickle written by
Python 2. A pickle is a program: it can import any callable and call it. The unpickler here admits
**no globals at all** — :meth:`_PlainUnpickler.find_class` refuses every lookup — so nothing can be
imported and hence nothing can be called (``REDUCE``, ``NEWOBJ``, ``INST``/``OBJ``, ``BUILD`` and the
extension registry all need a global first; persistent ids are refused by the base class). What is
left builds only containers and scalars, which :func:`load_plain_pickle` then checks once more.

Python 2 ``str`` values arrive as ``bytes`` (``encoding="bytes"``) and are decoded as UTF-8, or as
Latin-1 when they are not valid UTF-8, so byte strings and ``unicode`` values both become ``str``.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from mmdata.errors import MmdataError

MAX_DEPTH = 200
_SCALARS = (str, int, float, bool, type(None))


class _Refused(Exception):
    def __init__(self, what: str) -> None:
        self.what = what


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise _Refused(f"{module}.{name}")

    def persistent_load(self, pid):
        raise _Refused(f"persistent id {str(pid)[:60]!r}")


def _text(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def _plain(obj: Any, file: Path, depth: int = 0, active: set[int] | None = None) -> Any:
    """``obj`` with bytes decoded to str; anything that is not plain data is refused."""
    if isinstance(obj, bytes):
        return _text(obj)
    if isinstance(obj, _SCALARS):
        return obj
    if depth > MAX_DEPTH:
        raise MmdataError(f"pickle nests deeper than {MAX_DEPTH} levels", file=file)
    active = set() if active is None else active
    if id(obj) in active:
        raise MmdataError("pickle holds a container that contains itself", file=file)
    active.add(id(obj))
    try:
        if isinstance(obj, list):
            return [_plain(v, file, depth + 1, active) for v in obj]
        if isinstance(obj, tuple):
            return tuple(_plain(v, file, depth + 1, active) for v in obj)
        if isinstance(obj, dict):
            return {_plain(k, file, depth + 1, active): _plain(v, file, depth + 1, active) for k, v in obj.items()}
    finally:
        active.discard(id(obj))
    raise MmdataError(
        f"pickle holds a {type(obj).__name__}; only lists, dicts, tuples, strings, numbers, bools and None are loaded",
        file=file,
    )


def loads_plain(data: bytes, *, file: str | Path) -> Any:
    """Unpickle ``data`` admitting no globals; a one-line :class:`MmdataError` names ``file`` otherwise."""
    file = Path(file)
    try:
        obj = _PlainUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _Refused as e:
        raise MmdataError(
            f"pickle refers to {e.what[:120]}; refused — only plain data (lists, dicts, strings, numbers) is "
            "loaded and nothing in the file is run",
            file=file,
        ) from None
    except RecursionError:
        raise MmdataError("pickle nests too deeply to load", file=file) from None
    except Exception as e:  # any other failure of the unpickler: the file is not a plain pickle
        raise MmdataError(f"not a readable pickle ({type(e).__name__}: {str(e)[:120]})", file=file) from None
    return _plain(obj, file)


def load_plain_pickle(path: str | Path) -> Any:
    """Read ``path`` and unpickle it with :func:`loads_plain`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise MmdataError(f"cannot read file ({e.strerror or type(e).__name__})", file=path) from None
    return loads_plain(data, file=path)
