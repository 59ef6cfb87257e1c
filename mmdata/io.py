"""Filesystem helpers shared by every stage: atomic writes, safe path joins, hashing, manifests.

Rules they enforce (see the project standards):

* nothing partial is ever visible: files and directories are written under a temporary name next to
  their destination and renamed into place (``os.replace`` is atomic on one filesystem);
* a relative path taken from a data file can never escape its declared root;
* JSON written by mmdata is canonical (sorted keys, fixed separators) so outputs are byte-identical.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from mmdata.errors import MmdataError


def dumps_json(obj: Any, *, indent: bool = True) -> bytes:
    """Canonical JSON bytes: sorted keys, UTF-8, trailing newline."""
    opts = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
    if indent:
        opts |= orjson.OPT_INDENT_2
    return orjson.dumps(obj, option=opts) + b"\n"


def load_json(path: str | Path) -> Any:
    """Read JSON; malformed input becomes a one-line :class:`MmdataError` naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MmdataError("file not found", file=path) from None
    except IsADirectoryError:
        raise MmdataError("expected a file, found a directory", file=path) from None
    except OSError as e:
        raise MmdataError(f"cannot read file ({e.strerror or type(e).__name__})", file=path) from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise MmdataError(f"invalid JSON: {e}", file=path) from None


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary sibling and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any, *, indent: bool = True) -> Path:
    return atomic_write_bytes(path, dumps_json(obj, indent=indent))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale(dest: Path) -> None:
    """Remove temporary directories left by writers of ``dest`` that were killed mid-write."""
    for p in dest.parent.glob(f".{glob_escape(dest.name)}.*.partial"):
        parts = p.name[len(dest.name) + 2 :].split(".")
        if parts and parts[0].isdigit() and int(parts[0]) != os.getpid() and not _pid_alive(int(parts[0])):
            shutil.rmtree(p, ignore_errors=True)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def atomic_dir(dest: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``dest`` only if the block finishes.

    The temporary directory is a hidden sibling (``.<name>.<pid>.<random>.partial``); on an exception
    it is removed, and if the process is killed outright the next writer of ``dest`` sweeps it away.
    ``dest`` itself is never half-written: an existing one is replaced only at the very end.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and not overwrite:
        raise MmdataError("output directory already exists (pass --overwrite)", file=dest)
    _sweep_stale(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".partial", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the result should look like any mkdir
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.{os.getpid()}.old.partial")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@functools.lru_cache(maxsize=1 << 16)
def _realdir(d: str) -> str:
    return os.path.realpath(d)


def safe_join(root: str | Path, rel: str, *, file: str | Path | None = None, record=None, field=None) -> Path:
    """Join ``rel`` under ``root``, rejecting absolute paths, ``..`` escapes and symlinks leading out.

    Directory real paths are cached per process (a pool of 100k images lives in a handful of
    directories), so the check costs one ``lstat`` per file instead of a full path resolution.
    """
    if not isinstance(rel, str) or rel == "":
        raise MmdataError("expected a non-empty relative path", file=file, record=record, field=field)
    if rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":") or "\x00" in rel:
        raise MmdataError(f"path {rel!r} is absolute; it must stay inside its root", file=file, record=record, field=field)
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise MmdataError(f"path {rel!r} escapes its root", file=file, record=record, field=field)
    out = os.path.join(root, *parts)
    try:
        real_root = _realdir(os.fspath(root))
        parent, name = os.path.split(out)
        real = os.path.join(_realdir(parent), name)
        if os.path.islink(real):
            real = os.path.realpath(real, strict=False)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise MmdataError(f"path {rel!r} resolves outside its root", file=file, record=record, field=field)
    except (OSError, RuntimeError, ValueError) as e:  # over-long component, symlink loop
        raise MmdataError(
            f"path {rel[:200]!r} cannot be looked up ({getattr(e, 'strerror', None) or e})", file=file, record=record, field=field
        ) from None
    return Path(out)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def tree_fingerprint(paths: list[Path], root: Path | None = None) -> str:
    """A stable hash over (relative name, content hash) of files, for source fingerprints."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: str(q)):
        name = str(p.relative_to(root)) if root else p.name
        h.update(name.encode())
        h.update(b"\0")
        h.update(sha256_file(p).encode())
        h.update(b"\n")
    return h.hexdigest()


def cache_dir(*parts: str) -> Path:
    """The on-disk cache root (``MMDATA_CACHE`` or ``~/.cache/mmdata``), created on demand."""
    base = Path(os.environ.get("MMDATA_CACHE") or Path.home() / ".cache" / "mmdata")
    d = base.joinpath(*parts)
    d.mkdir(parents=True, exist_ok=True)
    return d
