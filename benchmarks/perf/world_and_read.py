"""World generation and adapter read throughput.

    .venv/bin/python benchmarks/perf/world_and_read.py [--size full] [--out /tmp/mmdata-world-full]

Prints a table: records per source, adapter read time and records/s, then world-generation records/s
and overall adapter read records/s. Records/s counts Records (QA pairs, captions, regions,
conversations). Image hashing is part of reading (each pool image is hashed once per read).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import time
from pathlib import Path

from mmdata import sources
from mmdata.world.generate import SOURCE_NAMES, generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=f"/tmp/mmdata-world-{os.getpid()}")
    args = ap.parse_args()
    out = Path(args.out)
    t0 = time.perf_counter()
    res = generate(out, args.size, args.seed)
    gen_s = time.perf_counter() - t0
    total = sum(res.counts.values())
    rows, read_total, n_total = [], 0.0, 0
    for name in SOURCE_NAMES:
        t = time.perf_counter()
        n = sum(b.num_rows for b in sources.read(name, out / "sources" / name))
        dt = time.perf_counter() - t
        assert n == res.counts[name], (name, n, res.counts[name])
        rows.append((name, n, dt))
        read_total += dt
        n_total += n
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"world size={args.size} seed={args.seed} commit={commit} cpus={os.cpu_count()}")
    print(f"| {'source':<18} | {'records':>9} | {'read s':>7} | {'records/s':>10} |")
    print(f"|{'-' * 20}|{'-' * 11}|{'-' * 9}|{'-' * 12}|")
    for name, n, dt in rows:
        print(f"| {name:<18} | {n:>9,} | {dt:>7.2f} | {n / dt:>10,.0f} |")
    print(f"| {'TOTAL read':<18} | {n_total:>9,} | {read_total:>7.2f} | {n_total / read_total:>10,.0f} |")
    print()
    print(f"world generation: {total:,} records in {gen_s:.1f} s = {total / gen_s:,.0f} records/s")
    print(f"adapter read:     {n_total:,} records in {read_total:.1f} s = {n_total / read_total:,.0f} records/s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
