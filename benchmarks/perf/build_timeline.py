"""Where a warm build's time goes, thread by thread: stage timings, then the time spent per thread
reading each source's work table, merging each part, scattering the render columns, reading each
part's Records, rendering each part and writing each shard.

    MMDATA_CACHE=<a cache holding the ingest entries> .venv/bin/python benchmarks/perf/build_timeline.py \
        [--world /tmp/mmdata-world-full] [--recipe honeybee] [--out /tmp/mmdata-timeline]
"""

from __future__ import annotations

import argparse
import collections
import threading
import time

from mmdata.recipe import build as b
from mmdata.recipe import output, stages

LOG: list[tuple[str, str, float, float]] = []
T0 = time.perf_counter()


def timed(owner, name: str) -> None:
    fn = getattr(owner, name)

    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            LOG.append((name, threading.current_thread().name.rstrip("_0123456789"), t - T0, time.perf_counter() - t))

    setattr(owner, name, wrapper)


def main() -> None:
    global T0
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default="/tmp/mmdata-world-full")
    ap.add_argument("--recipe", default="honeybee")
    ap.add_argument("--out", default="/tmp/mmdata-timeline")
    args = ap.parse_args()
    for name in ("_source_work", "merge_groups", "scatter", "read_part", "render_items"):
        timed(stages, name)
    timed(output.ShardWriter, "write")
    T0 = time.perf_counter()
    r = b.build(args.recipe, args.out, overrides=[f"root={args.world}"], overwrite=True)
    wall = time.perf_counter() - T0
    print(f"wall {wall:.2f} s; stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in r.timings.items()))
    total, count = collections.defaultdict(float), collections.Counter()
    for name, thread, _, d in LOG:
        total[(name, thread)] += d
        count[(name, thread)] += 1
    print("| call | thread | calls | s |\n|---|---|---:|---:|")
    for (name, thread), s in sorted(total.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {thread} | {count[(name, thread)]} | {s:.2f} |")


if __name__ == "__main__":
    main()
