"""Read one source in a separate process: ``python -m mmdata.recipe.ingest_worker DATASET PATH IMAGES TMP PARENT_PID``.

Parsing a large native JSON file (VQAv2's annotations, LLaVA-665k) leaves memory allocated that the
allocator keeps after the parse: measured, 322 MiB after four sources of the 2× world, of which
``malloc_trim`` returns little (``benchmarks/perf/adapter_rss.py``). Read in a child process, it goes
back to the system when the child exits, so the stages after ingest start from the same memory
whatever the size of the files. The child writes the cache entry's files into ``TMP`` (the parent's
:func:`mmdata.cache.run` renames it into place) and sends nothing else back: the parent reads the
Records from the entry as on a cache hit.

A bad input fails the child with exit status 2 and one JSON line on stdout (the
:class:`~mmdata.errors.MmdataError`'s fields), which :func:`read_isolated` raises again in the parent:
the user sees the same one-line error as from an in-process read.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mmdata.errors import MmdataError


def read_isolated(dataset: str, path: Path, images: Path, tmp: Path) -> None:
    """:func:`mmdata.recipe.ingest.read_source` in a child process (same files, same bytes)."""
    import orjson

    cmd = [sys.executable, "-m", __name__, dataset, os.fspath(path), os.fspath(images), os.fspath(tmp), str(os.getpid())]
    with tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+b") as err:
        rc = subprocess.run(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL).returncode
        out.seek(0)
        err.seek(0)
        if rc == 0:
            return
        lines = out.read().decode("utf-8", "replace").strip().splitlines()
        if rc == 2 and lines:
            e = orjson.loads(lines[-1])
            raise MmdataError(e["message"], file=e["file"], record=e["record"], field=e["field"])
        tail = err.read().decode("utf-8", "replace").strip().splitlines()[-12:]
        raise RuntimeError(f"reading source {dataset!r} in a worker process failed (exit status {rc}):\n" + "\n".join(tail))


def _die_with(parent: int) -> None:
    """Linux: end this process when the build that started it ends (a killed build leaves no reader
    behind writing into its scratch); elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the build ended before the line above took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    import orjson

    from mmdata.recipe.ingest import read_source

    dataset, path, images, tmp, parent = argv
    _die_with(int(parent))
    try:
        read_source(dataset, Path(path), Path(images), Path(tmp))
    except MmdataError as e:
        sys.stdout.write(orjson.dumps({"message": e.message, "file": e.file, "record": e.record, "field": e.field}).decode() + "\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
