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


def open_input(path: str | Path):
    """``open(path, "rb")``; a missing, directory or unreadable path becomes a one-line :class:`MmdataError`."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise MmdataError("file not found", file=path) from None
    except IsADirectoryError:
        raise MmdataError("expected a file, found a directory", file=path) from None
    except OSError as e:
        raise MmdataError(f"cannot read file ({e.strerror or type(e).__name__})", file=path) from None


def load_json(path: str | Path) -> Any:
    """Read JSON; malformed input becomes a one-line :class:`MmdataError` naming the file."""
    path = Path(path)
    with open_input(path) as f:
        try:
            data = f.read()
        except OSError as e:
            raise MmdataError(f"cannot read file ({e.strerror or type(e).__name__})", file=path) from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise MmdataError(f"invalid JSON: {e}", file=path) from None


def umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary sibling and an atomic rename. The file gets the
    permissions any new file would get (``0666 & ~umask``), not mkstemp's private 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())
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


def append_line(path: str | Path, line: bytes) -> None:
    """Append one line to a journal shared by several processes: one ``write(2)`` on an ``O_APPEND``
    descriptor, so on a local POSIX file system the line lands whole at the end, never interleaved
    with another process's (each line is a few hundred bytes)."""
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise ValueError("append_line takes exactly one line ending in a newline")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        n = os.write(fd, line)
    finally:
        os.close(fd)
    if n != len(line):  # a full disk or a signal: never happens silently for a small regular-file write
        raise OSError(f"{path}: short append ({n} of {len(line)} bytes)")


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


# ------------------------------------------------------------------------------ output directories

OWNER = ".mmdata-output.json"  # written into every directory mmdata creates: "this is ours"
_LEGACY = ("manifest.json", "world.json", "benchmark.json")  # outputs written before the marker existed


def owner_kind(d: Path) -> str | None:
    """The kind of mmdata output ``d`` is (``mixture``, ``world``, …), or None if mmdata did not write it."""
    for name in (OWNER, *_LEGACY):
        f = d / name
        if f.is_file():
            try:
                kind = orjson.loads(f.read_bytes()).get("kind")
            except (orjson.JSONDecodeError, OSError, AttributeError):
                continue
            if isinstance(kind, str) and kind.startswith("mmdata-"):
                return kind.removeprefix("mmdata-")
    return None


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_out(dest: str | Path, *, overwrite: bool, inputs: tuple | list = (), option: str = "--out", directory: bool = True) -> None:
    """May ``dest`` be written? An existing non-empty path is refused unless ``overwrite``; with it,
    only an mmdata output directory (or, for file outputs, a file) is replaced — never the current
    directory or one above it, an input, or a folder holding an input. One line per refusal."""
    dest = Path(dest)
    if not dest.exists() and not dest.is_symlink():
        return
    real = Path(os.path.realpath(dest))
    if directory and not dest.is_dir():
        raise MmdataError(f"{option} exists and is a file, not a directory; mmdata will not replace it", file=dest)
    if not directory and dest.is_dir():
        raise MmdataError(f"{option} is a directory; give a file path", file=dest)
    if directory and not any(dest.iterdir()):
        return
    if not overwrite:
        raise MmdataError(f"{option} already exists{' and is not empty' if directory else ''}; pass --overwrite to replace it "
                          "(only an mmdata output is replaced)", file=dest)  # fmt: skip
    cwd = Path(os.path.realpath(os.getcwd()))
    if _within(cwd, real):
        raise MmdataError(f"{option} is the current directory or holds it; mmdata never replaces it", file=dest)
    if real == Path(real.anchor) or real == Path(os.path.realpath(Path.home())):
        raise MmdataError(f"{option} is a root or home directory; mmdata never replaces it", file=dest)
    for i in inputs:
        if i is None:
            continue
        ireal = Path(os.path.realpath(i))
        if _within(ireal, real):
            what = "is an input of this command" if ireal == real else f"holds an input of this command ({i})"
            raise MmdataError(f"{option} {what}; mmdata never replaces its inputs", file=dest)
    if directory and owner_kind(dest) is None:
        raise MmdataError(f"{option} holds files mmdata did not write (no {OWNER} or manifest); refusing to replace it", file=dest)


@contextlib.contextmanager
def atomic_dir(dest: str | Path, *, overwrite: bool = False, inputs: tuple | list = (), kind: str = "output",
               option: str = "--out") -> Iterator[Path]:  # fmt: skip
    """Yield a temporary directory that becomes ``dest`` only if the block finishes.

    ``dest`` must pass :func:`check_out` first (an existing non-empty one is replaced only with
    ``overwrite`` and only if mmdata wrote it). The temporary directory is a hidden sibling
    (``.<name>.<pid>.<random>.partial``) carrying the ownership marker ``.mmdata-output.json``
    (``{"kind": "mmdata-<kind>"}``); on an exception it is removed, and if the process is killed
    outright the next writer of ``dest`` sweeps it away. ``dest`` itself is never half-written: an
    existing one is replaced only at the very end.
    """
    dest = Path(dest)
    check_out(dest, overwrite=overwrite, inputs=inputs, option=option)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".partial", dir=dest.parent))
    os.chmod(tmp, 0o777 & ~umask())  # mkdtemp makes 0700; the result should look like any mkdir
    try:
        (tmp / OWNER).write_bytes(dumps_json({"kind": f"mmdata-{kind}"}))
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


def cache_dir(*parts: str) -> Path:
    """A folder under the cache root (``MMDATA_CACHE`` or ``~/.cache/mmdata``), created on demand.
    Cached *steps* go through :func:`mmdata.cache.run`; this is for process-wide stores."""
    from mmdata.cache import root

    d = root().joinpath(*parts)
    d.mkdir(parents=True, exist_ok=True)
    return d
