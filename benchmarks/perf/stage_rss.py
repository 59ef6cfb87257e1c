"""Peak resident memory per build stage.

    MMDATA_CACHE=... .venv/bin/python benchmarks/perf/stage_rss.py --world DIR --out DIR [--recipe honeybee]
                                                                  [--engine local] [--set key=value ...]

A thread reads the RSS of the process and its children (the ingest workers) every 50 ms; each stage of
:data:`mmdata.recipe.stages.STAGES` is wrapped so the sampler knows which stage runs. Prints one
Markdown table: the stage's wall seconds, RSS when it started, its peak and RSS when it ended (MiB),
then the process's ``ru_maxrss`` and the mixture's content hash.
"""

from __future__ import annotations

import argparse
import functools
import resource
import threading
import time


def rss_mib() -> float:
    """This process's RSS plus its live children's (the ingest worker processes), MiB."""
    import psutil
    from treerss import tree_mib

    return tree_mib(psutil.Process())


class Sampler(threading.Thread):
    def __init__(self, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.every, self.stage, self.peaks = every, "setup", {}
        self.halt = threading.Event()

    def mark(self, stage: str) -> None:
        self.stage = stage
        self.note()

    def note(self) -> None:
        v = rss_mib()
        self.peaks[self.stage] = max(self.peaks.get(self.stage, 0.0), v)

    def run(self) -> None:
        while not self.halt.wait(self.every):
            self.note()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--recipe", default="honeybee")
    ap.add_argument("--engine", default="local")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()

    from mmdata.recipe import build as b

    s = Sampler()
    rows = []

    def wrap(stage):
        @functools.wraps(stage)
        def run(state):
            start = rss_mib()
            s.mark(stage.__name__)
            t = time.perf_counter()
            try:
                return stage(state)
            finally:
                s.note()
                rows.append((stage.__name__, time.perf_counter() - t, start, s.peaks[stage.__name__], rss_mib()))
                s.mark(f"after {stage.__name__}")

        return run

    b.STAGES = tuple(wrap(st) for st in b.STAGES)
    s.start()
    res = b.build(a.recipe, a.out, overrides=[f"root={a.world}", *a.set], engine=a.engine, overwrite=True)
    s.halt.set()
    print("| stage | s | RSS at start | peak | RSS at end |")
    print("|---|---:|---:|---:|---:|")
    for name, sec, start, peak, end in rows:
        print(f"| {name} | {sec:.1f} | {start:,.0f} | {peak:,.0f} | {end:,.0f} |")
    print(f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB; records {res.stats['records']:,}; "
          f"items {res.stats['items']:,}; content_hash {res.manifest['content_hash']}")


if __name__ == "__main__":
    main()
