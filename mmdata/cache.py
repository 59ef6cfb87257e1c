"""The one content-addressed cache: every reusable step of mmdata goes through :func:`run`.

``run(kind, inputs, fn)`` returns the directory holding the step's output, calling ``fn(tmp_dir)``
only when no finished entry exists for ``(kind, inputs)``. The key is the SHA-256 of the canonical
JSON of the kind, the kind's version (:data:`VERSIONS`) and ``inputs``; callers put *content* in
``inputs`` — file digests, listings of image folders, weight hashes, prompt versions — never a name
or a path standing for content. The helpers below compute those digests:

=======================  ================================================================
:func:`file_digest`      SHA-256 (or XXH3-128) of a file's bytes (memoised per path, size, mtime and inode)
:func:`files_digest`     names and byte digests of several files
:func:`listing_digest`   every file under a folder by relative name, size and mtime (images)
:func:`listing_digests`  the same for several folders, a nested one taken from its outer walk
:func:`tree_digest`      every file under a folder by relative name and byte digest (weights)
=======================  ================================================================

Layout: ``$MMDATA_CACHE/<kind>/<key>/`` (default ``~/.cache/mmdata``), holding the step's files plus
``.entry.json`` (kind, version, inputs, label, mmdata version) and ``.complete``. An entry is written
into a temporary sibling and renamed into place (:func:`mmdata.io.atomic_dir`), so a killed step
leaves nothing under its key; a per-key file lock makes two processes that need the same step run
it once (the second waits, then reads it). ``mmdata cache ls|du|gc`` shows and trims the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import xxhash

from mmdata import __version__
from mmdata.errors import MmdataError

# Bump a kind's version when the code that produces its entries changes what they contain.
VERSIONS: dict[str, str] = {
    "world": "1",  # the synthetic world (generator inputs are its content)
    "ingest": "3",  # a source read through its adapter → Record Parquet
    "embeddings": "1",  # sentence vectors of unique strings
    "static-embedder": "1",  # a static embedding model distilled from the bundled MiniLM (model2vec)
    "static-calibration": "1",  # token weights + map fitted to MiniLM on a mixture's strings
    "extracted": "1",  # images embedded in parquet sources, written out by content
    "stage0": "1",  # world backbones (tokenizer, CLIP, LM)
    "tokenizer": "1",  # a discrete visual tokenizer trained on the fly
    "predictions": "1",  # a finished benchmark run's predictions
    # ablation steps (mmdata.ablate.runner)
    "bench": "1",
    "mixture": "1",
    "stage0-checkpoint": "1",
    "stage1": "1",
    "stage2": "1",
    "eval": "2",  # with the image-use control and per-question outcomes
}
CacheKind = Literal[tuple(VERSIONS)]  # the kinds, for configs and CLI choices
ENTRY, COMPLETE = ".entry.json", ".complete"


def root() -> Path:
    """The cache root: ``$MMDATA_CACHE`` or ``~/.cache/mmdata``."""
    return Path(os.environ.get("MMDATA_CACHE") or Path.home() / ".cache" / "mmdata")


def key_of(kind: str, inputs: Any) -> str:
    if kind not in VERSIONS:
        raise ValueError(f"unknown cache kind {kind!r}; add it to mmdata.cache.VERSIONS")
    blob = orjson.dumps({"kind": kind, "version": VERSIONS[kind], "inputs": inputs},
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)  # fmt: skip
    return hashlib.sha256(blob).hexdigest()[:32]


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    path: Path
    hit: bool  # True when the entry existed before this call (nothing ran)
    seconds: float = 0.0  # time spent running ``fn`` (0 on a hit)


def path_of(kind: str, inputs: Any) -> Path:
    return root() / kind / key_of(kind, inputs)


def lookup(kind: str, inputs: Any) -> Entry | None:
    """The finished entry for ``(kind, inputs)``, or None (never runs anything)."""
    key = key_of(kind, inputs)
    p = root() / kind / key
    if (p / COMPLETE).is_file():
        _touch(p)
        return Entry(kind, key, p, True)
    return None


@contextlib.contextmanager
def _lock(kind: str, key: str) -> Iterator[None]:
    d = root() / kind / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f"{key}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
        yield


def run(kind: str, inputs: Any, fn: Callable[[Path], Any], *, label: str = "", on_event: Callable[[dict], None] | None = None) -> Entry:
    """The entry for ``(kind, inputs)``; runs ``fn(tmp_dir)`` to fill it when it does not exist yet.

    ``fn`` writes its outputs into the directory it is given; the directory becomes the entry only
    if ``fn`` returns. ``on_event`` receives ``{"step", "key", "label", "event": "ran"|"cached",
    "seconds"}`` (the ablation runner journals these)."""
    from mmdata.io import atomic_dir, dumps_json

    key = key_of(kind, inputs)
    out = root() / kind / key
    event = {"step": kind, "key": key, "label": label}
    if (out / COMPLETE).is_file():
        _touch(out)
        if on_event:
            on_event({**event, "event": "cached"})
        return Entry(kind, key, out, True)
    with _lock(kind, key):
        if (out / COMPLETE).is_file():  # another process finished it while we waited
            _touch(out)
            if on_event:
                on_event({**event, "event": "cached"})
            return Entry(kind, key, out, True)
        t = time.perf_counter()
        with atomic_dir(out, overwrite=True, kind=f"cache-{kind}") as tmp:
            fn(tmp)
            meta = {"kind": kind, "version": VERSIONS[kind], "key": key, "inputs": inputs, "label": label, "mmdata": __version__}
            (tmp / ENTRY).write_bytes(dumps_json(meta))
            (tmp / COMPLETE).write_text("ok\n")
        seconds = time.perf_counter() - t
    if on_event:
        on_event({**event, "event": "ran", "seconds": round(seconds, 3)})
    return Entry(kind, key, out, False, seconds)


def _touch(p: Path) -> None:
    """Record a use (``mmdata cache gc --keep`` drops the least recently used entries first)."""
    with contextlib.suppress(OSError):
        os.utime(p / COMPLETE)


# ------------------------------------------------------------------------------------ content keys

_DIGESTS: dict[tuple, str] = {}


def file_digest(path: str | Path, *, fast: bool = False) -> str:
    """SHA-256 of a file's bytes (``fast``: XXH3-128, a content key rather than a signature, about six
    times faster over the gigabyte a large source's annotations weigh), memoised per (real path,
    size, mtime, inode)."""
    p = os.path.realpath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise MmdataError("file not found", file=path) from None
    k = (p, st.st_size, st.st_mtime_ns, st.st_ino, fast)
    hit = _DIGESTS.get(k)
    if hit is None:
        h = xxhash.xxh3_128() if fast else hashlib.sha256()
        buf = bytearray(1 << 22)  # one buffer, refilled: a new 4 MiB chunk per read faults its pages in every time
        view = memoryview(buf)
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
        hit = _DIGESTS[k] = h.hexdigest()
    return hit


def files_digest(paths: Iterable[str | Path], *, root: str | Path | None = None, fast: bool = False) -> str:
    """Digest of several files: their names (relative to ``root``, else the bare file names) and
    byte digests (:func:`file_digest`, ``fast`` as there), in the order given."""
    h = hashlib.sha256()
    for p in paths:
        name = Path(p).relative_to(root).as_posix() if root is not None else Path(p).name
        h.update(f"{name}\0{file_digest(p, fast=fast)}\n".encode())
    return h.hexdigest()


_CODE: dict[str, str] = {}


def code_digest(package: str) -> str:
    """Digest of a package's own files (code and data): the key of steps whose output is a pure
    function of that code and a few arguments, such as the synthetic world."""
    if package not in _CODE:
        import importlib.util

        spec = importlib.util.find_spec(package)
        folder = Path(next(iter(spec.submodule_search_locations)))
        _CODE[package] = tree_digest(folder, skip=lambda n: "__pycache__" in n or n.endswith(".pyc"))
    return _CODE[package]


def _walk(folder: Path, links: list | None = None) -> Iterator[tuple[str, os.stat_result]]:
    """(relative name, stat) of every file under ``folder``, in no particular order, following
    symlinks (each real folder once, so a link cycle ends). Names use ``/``. A symbolic link met on
    the way is appended to ``links`` (when given)."""
    seen: set[str] = set()
    stack = [(os.path.realpath(folder), "")]
    while stack:
        d, rel = stack.pop()
        if d in seen:
            continue
        seen.add(d)
        try:
            entries = os.scandir(d)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for e in entries:
                try:
                    link = e.is_symlink()
                    if link and links is not None:
                        links.append(e.path)
                    if e.is_dir():  # a real folder's real path is its parent's plus its name
                        stack.append((os.path.realpath(e.path) if link else f"{d}/{e.name}", f"{rel}{e.name}/"))
                    elif e.is_file():
                        yield f"{rel}{e.name}", e.stat()
                except OSError:  # a dangling link or a file removed while walking
                    continue


def _listing_lines(folder: str | Path, links: list | None = None) -> list[str]:
    lines = [f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n" for name, st in _walk(Path(folder), links)]
    lines.sort()  # by name: "\0" sorts below every character a name holds
    return lines


def listing_digest(folder: str | Path) -> str:
    """Every file under ``folder`` by relative name, size and mtime: cheap, and it changes when an
    image is added, deleted, replaced or touched. A missing folder digests as empty."""
    return hashlib.sha256("".join(_listing_lines(folder)).encode()).hexdigest()


def listing_digests(folders: Iterable[str | Path]) -> dict[str, str]:
    """:func:`listing_digest` of several folders, by real path, walking each file once: a folder
    inside another one given here (COCO's ``train2017`` inside ``coco``) takes its lines from the
    outer walk, renamed, unless that walk met a symbolic link (then the inner folder is walked on its
    own, as :func:`listing_digest` would)."""
    real = sorted({os.path.realpath(f) for f in folders})
    out: dict[str, str] = {}
    outer = [r for r in real if not any(r.startswith(o + os.sep) for o in real if o != r)]
    for top in outer:
        links: list = []
        lines = _listing_lines(top, links)
        out[top] = hashlib.sha256("".join(lines).encode()).hexdigest()
        for inner in real:
            if not inner.startswith(top + os.sep):
                continue
            if links:
                out[inner] = listing_digest(inner)
                continue
            prefix = inner[len(top) + 1 :].replace(os.sep, "/") + "/"
            mine = [x[len(prefix) :] for x in lines if x.startswith(prefix)]  # still sorted by name
            out[inner] = hashlib.sha256("".join(mine).encode()).hexdigest()
    return out


def tree_digest(folder: str | Path, *, skip: Callable[[str], bool] | None = None) -> str:
    """Every file under ``folder`` by relative name and byte digest: the identity of a checkpoint or a
    model directory (``skip`` leaves out files that do not define it, such as logs)."""
    h = hashlib.sha256()
    folder = Path(folder)
    for name, _ in sorted(_walk(folder)):
        if skip is not None and skip(name):
            continue
        h.update(f"{name}\0{file_digest(folder / name)}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------------- inspection, gc


@dataclass(frozen=True)
class Info:
    kind: str
    key: str
    path: Path
    bytes: int
    created: float
    used: float
    label: str
    complete: bool


def _size(p: Path) -> int:
    return sum(st.st_size for _, st in _walk(p))


def entries(kind: str | None = None) -> list[Info]:
    """Every entry (finished or abandoned) under the cache root, oldest use first."""
    base = root()
    out = []
    kinds = [kind] if kind else sorted(d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")) if base.is_dir() else []
    for k in kinds:
        d = base / k
        if not d.is_dir():
            continue
        for e in sorted(d.iterdir()):
            if not e.is_dir() or e.name == ".locks":
                continue
            complete = (e / COMPLETE).is_file()
            meta = {}
            if (e / ENTRY).is_file():
                with contextlib.suppress(orjson.JSONDecodeError, OSError):
                    meta = orjson.loads((e / ENTRY).read_bytes())
            st = e.stat()
            used = (e / COMPLETE).stat().st_mtime if complete else st.st_mtime
            out.append(Info(k, e.name, e, _size(e), st.st_mtime, used, str(meta.get("label", "")), complete))
    return sorted(out, key=lambda i: i.used)


def find(kind: str, match: dict) -> list[Path]:
    """Finished entries of ``kind`` whose recorded inputs contain ``match`` (e.g. one embedder's shards)."""
    found = []
    for info in entries(kind):
        if not info.complete:
            continue
        try:
            inputs = orjson.loads((info.path / ENTRY).read_bytes()).get("inputs", {})
        except (orjson.JSONDecodeError, OSError):
            continue
        if isinstance(inputs, dict) and all(inputs.get(k) == v for k, v in match.items()):
            found.append(info.path)
    return sorted(found)


def _busy(info: Info) -> bool:
    """True when another process holds the entry's lock (it is being written or waited for)."""
    key = info.key.split(".")[1] if info.key.startswith(".") else info.key  # a .KEY.PID.RAND.partial leftover
    lock = info.path.parent / ".locks" / f"{key}.lock"
    if not lock.exists():
        return False
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def gc(*, kind: str | None = None, older_than_s: float | None = None, keep_bytes: int | None = None,
       everything: bool = False, dry_run: bool = False) -> list[Info]:  # fmt: skip
    """Remove entries: unfinished leftovers always; those unused for ``older_than_s``; then the least
    recently used until at most ``keep_bytes`` remain; or all with ``everything``. Entries in use by
    another process are skipped. Returns what was (or, with ``dry_run``, would be) removed."""
    now = time.time()
    infos = entries(kind)
    doomed = [i for i in infos if not i.complete or everything or (older_than_s is not None and now - i.used > older_than_s)]
    if keep_bytes is not None:
        left = [i for i in infos if i not in doomed]
        total = sum(i.bytes for i in left)
        for i in left:  # oldest use first
            if total <= keep_bytes:
                break
            doomed.append(i)
            total -= i.bytes
    removed = []
    for i in doomed:
        if _busy(i):
            continue
        removed.append(i)
        if not dry_run:
            shutil.rmtree(i.path, ignore_errors=True)
    return removed
