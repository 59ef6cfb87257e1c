"""What the adapters leave in the process: read sources through their adapters (no cache, nothing
written) and print RSS after each, after ``gc.collect()`` and after glibc's ``malloc_trim(0)``.

    .venv/bin/python benchmarks/perf/adapter_rss.py WORLD_DIR vqav2,gqa,refcoco,coco_captions
"""

from __future__ import annotations

import ctypes
import gc
import sys
from pathlib import Path


def rss_mib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def main(world: str, names: str) -> None:
    from mmdata import sources as src
    from mmdata.recipe.config import load_recipe
    from mmdata.recipe.ingest import image_root

    recipe, base = load_recipe("honeybee", [f"root={Path(world)}"])
    specs = {s.dataset: s for s in recipe.active_sources}
    libc = ctypes.CDLL("libc.so.6")
    print(f"start {rss_mib()} MiB")
    for name in names.split(","):
        spec = specs[name]
        path = recipe.resolved_path(spec.path, base)
        n = sum(b.num_rows for b in src.read(name, path, images=image_root(spec, path), report=src.ReadReport()))
        after = rss_mib()
        gc.collect()
        collected = rss_mib()
        libc.malloc_trim(0)
        print(f"{name}: {n:,} records; RSS after {after}, after gc {collected}, after malloc_trim {rss_mib()} MiB", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
