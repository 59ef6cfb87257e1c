"""Content-addressed step cache: a step's output lives under ``<cache>/<kind>/<key>`` where ``key``
hashes everything that determines it, so a rerun (or an interrupted run) redoes only what is missing.

Outputs are written through :func:`mmdata.io.atomic_dir`, so a step killed half-way leaves nothing
under its key. Every step execution and cache hit is appended to the run's ``steps.jsonl``.
Two ablations sharing a cache (two suites run side by side) take a per-key file lock, so a step
both need runs once and the second waits for it, then reads it as a cache hit.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from mmdata.io import atomic_dir, dumps_json


def key_of(kind: str, inputs: dict) -> str:
    blob = orjson.dumps({"kind": kind, "inputs": inputs}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:24]


class StepCache:
    def __init__(self, root: Path, journal: Path) -> None:
        self.root = Path(root)
        self.journal = Path(journal)
        self.journal.parent.mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def run(self, kind: str, inputs: dict, fn: Callable[[Path], None], *, label: str = "") -> tuple[Path, str]:
        """Return the output dir of step ``kind`` for ``inputs``, running ``fn(tmp_dir)`` only if absent."""
        key = key_of(kind, inputs)
        out = self.path(kind, key)
        done = out / ".complete"
        if done.exists():
            self._log({"step": kind, "key": key, "label": label, "event": "cached"})
            return out, key
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out.parent / f".{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or the process dies)
            if done.exists():  # another run finished it while we waited
                self._log({"step": kind, "key": key, "label": label, "event": "cached"})
                return out, key
            t = time.perf_counter()
            with atomic_dir(out) as tmp:
                fn(tmp)
                (tmp / "inputs.json").write_bytes(dumps_json({"kind": kind, "inputs": inputs}))
                (tmp / ".complete").write_text("ok\n")
        self._log({"step": kind, "key": key, "label": label, "event": "ran", "seconds": round(time.perf_counter() - t, 3)})
        return out, key

    def _log(self, entry: dict) -> None:
        with open(self.journal, "ab") as f:
            f.write(orjson.dumps(entry) + b"\n")


def read_journal(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    return [orjson.loads(x) for x in Path(path).read_bytes().splitlines() if x.strip()]
