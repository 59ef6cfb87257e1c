"""Peak resident memory of this process *and its children* (a build reads large sources in worker
processes: ``mmdata.recipe.ingest_worker``), sampled every 50 ms by a daemon thread.

``ru_maxrss`` of the process alone would not see the workers, and ``RUSAGE_CHILDREN`` gives only the
largest finished child, not what ran at the same time; the sum over the live process tree does.
"""

from __future__ import annotations

import contextlib
import resource
import threading

import psutil


def tree_mib(proc: psutil.Process) -> float:
    """RSS of ``proc`` plus every live descendant, in MiB."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):  # a child that just ended
            total += p.memory_info().rss
    return total / 2**20


class TreePeak(threading.Thread):
    """``with TreePeak() as t: ...`` then ``t.peak``: the largest sampled process-tree RSS (MiB), never
    below this process's own ``ru_maxrss`` (a peak between two samples)."""

    def __init__(self, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.every, self.proc, self.sampled = every, psutil.Process(), 0.0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            self.sampled = max(self.sampled, tree_mib(self.proc))

    def __enter__(self) -> TreePeak:
        self.sampled = tree_mib(self.proc)
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.halt.set()
        self.join()

    @property
    def peak(self) -> float:
        return max(self.sampled, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
