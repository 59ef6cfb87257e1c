"""Mixture build throughput on the `full` world, against a naive baseline and the Parquet I/O floor.

    .venv/bin/python benchmarks/perf/build.py [--world DIR] [--recipe honeybee] [--skip-naive] [--skip-semantic]

Every measurement runs in a fresh subprocess (so peak RSS is the build's own). Prints one table:

* cold build  — sources read through their adapters (native JSON parsed), then built (exact dedup);
* warm build  — the same recipe again: sources come from the Parquet ingest cache (the common case);
* naive       — the same work the obvious way: HF ``datasets.map`` rendering each record with Jinja,
                then pandas groupby for per-image merge + exact dedup, pandas sampling, Parquet write;
* I/O floor   — reading the same input Parquet bytes and writing the same output bytes with pyarrow;
* semantic    — the semantic dedup stage on a cold embedding cache: unique strings and strings/s.

Source records/s = records entering the build / wall seconds of the build call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def child(kind: str, world: str, out: str, recipe: str, cache: str, extra: list[str]) -> dict:
    env = {**os.environ, "MMDATA_CACHE": cache, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, str(HERE), "--child", kind, "--world", world, "--out", out, "--recipe", recipe, *extra]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest_files(man: dict) -> list[Path]:
    """The ingest cache entries a mixture was built from (``cache.root()/ingest/<key>/records.parquet``)."""
    from mmdata import cache

    return [cache.root() / "ingest" / s["ingest_key"] / "records.parquet" for s in man["sources"].values()]


def run_build(args) -> dict:
    from mmdata.recipe.build import build

    t = time.perf_counter()
    r = build(args.recipe, args.out, overrides=[f"root={args.world}", *args.set], overwrite=True)
    wall = time.perf_counter() - t
    return {"wall": wall, "records": r.stats["records"], "items": r.manifest["n_items"], "timings": r.timings,
            "embedding": r.stats["embedding"], "peak_mib": peak_mib(), "content_hash": r.manifest["content_hash"]}  # fmt: skip


def run_floor(args) -> dict:
    """Read the build's input bytes (ingest cache, build columns) and write its output bytes."""
    import orjson
    import pyarrow.parquet as pq

    from mmdata.recipe.ingest import BUILD_COLUMNS

    man = orjson.loads((Path(args.out) / "manifest.json").read_bytes())
    inputs = ingest_files(man)
    shards = [Path(args.out) / f for f in man["files"]["data"]]
    tables = [pq.read_table(s) for s in shards]  # untimed: the bytes to write
    t = time.perf_counter()
    n = sum(pq.read_table(f, columns=list(BUILD_COLUMNS)).num_rows for f in inputs)
    read = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        for k, tab in enumerate(tables):
            pq.write_table(tab, Path(d) / f"part-{k:05d}.parquet", compression="zstd", row_group_size=10_000, write_statistics=False)
        write = time.perf_counter() - t
    return {"wall": read + write, "read": read, "write": write, "records": n, "peak_mib": peak_mib()}


def run_naive(args) -> dict:
    """The obvious pipeline: datasets.map with per-row Jinja, pandas groupby/apply, pandas sampling."""
    import datasets
    import numpy as np
    import orjson
    import pandas as pd
    import yaml
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from mmdata.recipe.config import load_recipe
    from mmdata.recipe.templates import default_dir

    recipe, _ = load_recipe(args.recipe, [f"root={args.world}", *args.set])
    man = orjson.loads((Path(args.out) / "manifest.json").read_bytes())
    files = [str(f) for f in ingest_files(man)]
    t0 = time.perf_counter()
    env = SandboxedEnvironment(undefined=StrictUndefined)
    templates = {}
    for f in sorted((default_dir() / "fine").glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        fwd = next(t for t in doc["templates"] if not t["inverted"])
        templates[doc["dataset"]] = (env.from_string(fwd["user"]), env.from_string(fwd["assistant"]), doc["hints"]["forward"])
    ds = datasets.Dataset.from_parquet(files, cache_dir=args.hf_cache, columns=["dataset", "task", "record_id", "image", "question",
                                       "answer", "choices", "answer_idx", "bbox", "phrase", "caption", "context", "turns"])  # fmt: skip

    def render(row):
        if row["dataset"] not in templates:
            return {"user": None, "assistant": None}
        u, a, hint = templates[row["dataset"]]
        choices = row["choices"] or []
        v = {"question": row["question"] or "", "answer": row["answer"] or "", "context": row["context"] or "",
             "phrase": row["phrase"] or "", "caption": row["caption"] or "", "hint": hint, "choices": choices,
             "bbox": "[" + ",".join(f"{x:.3f}" for x in row["bbox"]) + "]" if row["bbox"] else "",
             "options": "\n".join(f"{'ABCDEFGH'[i]}. {c}" for i, c in enumerate(choices)),
             "answer_letter": "ABCDEFGH"[row["answer_idx"]] if row["answer_idx"] is not None else ""}  # fmt: skip
        return {"user": u.render(v), "assistant": a.render(v)}

    ds = ds.map(render, desc="naive render")
    df = ds.to_pandas()
    max_turns = {s.dataset: s.max_turns or recipe.multiturn.max_turns for s in recipe.sources}
    df["group"] = df["dataset"] + "/" + df["image"].map(lambda x: x["path"] if x is not None else None).fillna(df["record_id"])
    df["key"] = df["answer"].str.lower().str.strip()
    dedup = df["dataset"].map(lambda d: max_turns[d] > 1) & df["key"].notna() & df["task"].isin(["vqa_open", "vqa_mc"])
    df = df[~(dedup & df.duplicated(["group", "key"]))]
    df["turn"] = df.groupby("group").cumcount()
    df["item"] = df["turn"] // df["dataset"].map(max_turns)

    def to_item(g):
        turns = []
        for u, a, native in zip(g["user"], g["assistant"], g["turns"], strict=True):
            turns += list(native) if u is None else [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        return pd.Series({"turns": turns, "source_record_ids": list(g["record_id"])})

    items = df.groupby(["dataset", "group", "item"], sort=False).apply(to_item).reset_index()
    weights = recipe.balance.weights or {d: 1.0 for d in max_turns}
    tot = sum(weights.values())
    size = man["balance"]["size"]
    parts = []
    for d, g in items.groupby("dataset"):
        n = round(size * weights.get(d, 0) / tot)
        parts.append(g.sample(n=n, replace=n > len(g), random_state=0))
    mix = pd.concat(parts).sample(frac=1.0, random_state=0)
    with tempfile.TemporaryDirectory() as d:
        mix.to_parquet(Path(d) / "mix.parquet")
    wall = time.perf_counter() - t0
    return {"wall": wall, "records": len(ds), "items": len(mix), "peak_mib": peak_mib(), "rng": int(np.random.default_rng(0).integers(9))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default="/tmp/mmdata-world-full")
    ap.add_argument("--recipe", default="honeybee")
    ap.add_argument("--out", default=None)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--skip-semantic", action="store_true")
    ap.add_argument("--child", default=None)
    ap.add_argument("--hf-cache", default=None)
    args = ap.parse_args()
    if args.child:
        fn = {"build": run_build, "floor": run_floor, "naive": run_naive}[args.child]
        print(json.dumps(fn(args)))
        return
    world = Path(args.world)
    if not (world / "world.json").exists():
        from mmdata.world.generate import generate

        print(f"writing the full world to {world} …", file=sys.stderr)
        generate(world, "full", 0)
    work = Path(tempfile.mkdtemp(prefix="mmdata-bench-build-"))
    cache = str(work / "cache")
    out = str(work / "mix")
    rows = []
    cold = child("build", str(world), out, args.recipe, cache, [])
    warm = child("build", str(world), out, args.recipe, cache, [])
    assert cold["content_hash"] == warm["content_hash"]
    floor = child("floor", str(world), out, args.recipe, cache, [])
    rows.append(("cold build (adapters + build, exact dedup)", cold))
    rows.append(("warm build (ingest cache, exact dedup)", warm))
    rows.append(("Parquet I/O floor (same input + output bytes)", floor))
    naive = None
    if not args.skip_naive:
        naive = child("naive", str(world), out, args.recipe, cache, ["--hf-cache", str(work / "hf")])
        rows.append(("naive: datasets.map + Jinja per row + pandas", naive))
    sem = None
    if not args.skip_semantic:
        sem = child("build", str(world), str(work / "sem"), args.recipe, cache, ["--set", "multiturn.dedup=semantic"])
        rows.append(("warm build, semantic dedup (cold embedding cache)", sem))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE.parent).stdout.strip()
    print(f"recipe={args.recipe} world={world} commit={commit} cpus={os.cpu_count()} records={warm['records']:,} items={warm['items']:,}")
    print(f"| {'run':<50} | {'wall s':>7} | {'records/s':>10} | {'peak RSS MiB':>12} |")
    print(f"|{'-' * 52}|{'-' * 9}|{'-' * 12}|{'-' * 14}|")
    for name, r in rows:
        print(f"| {name:<50} | {r['wall']:>7.2f} | {r['records'] / r['wall']:>10,.0f} | {r['peak_mib']:>12,.0f} |")
    print()
    print("warm build stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in warm["timings"].items()))
    print("cold build stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in cold["timings"].items()))
    print(f"I/O floor: read {floor['read']:.2f} s + write {floor['write']:.2f} s")
    print(f"warm build vs I/O floor: {warm['wall'] / floor['wall']:.2f}x the floor")
    if naive:
        print(f"warm build vs naive: {naive['wall'] / warm['wall']:.1f}x faster")
    if sem:
        e = sem["embedding"]
        print(f"semantic dedup: {e['unique_strings']:,} unique strings embedded in {e['embed_seconds']:.1f} s "
              f"= {e['unique_strings'] / max(e['embed_seconds'], 1e-9):,.0f} strings/s (cache hits {e['cache_hits']})")  # fmt: skip


if __name__ == "__main__":
    main()
