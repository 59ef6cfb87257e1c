"""Mixture build throughput on the `full` world, against a naive baseline and the Parquet I/O floor.

    .venv/bin/python benchmarks/perf/build.py [--world DIR] [--world2 DIR] [--recipe honeybee]
                                               [--skip-naive] [--skip-semantic] [--skip-ray] [--repeat 3]

Every measurement runs in a fresh subprocess (so peak RSS is the build's own). Prints one table:

* cold build  — sources read through their adapters (native JSON parsed), then built (exact dedup);
* warm build  — the same recipe again: sources come from the Parquet ingest cache (the common case;
                one process, so its peak is its own ``ru_maxrss`` and no sampler runs beside it);
                run ``--repeat`` times, alternated with the floor; the median runs are compared;
* naive       — the same work the obvious way: HF ``datasets.map`` rendering each record with Jinja,
                then pandas groupby for per-image merge + exact dedup, pandas sampling, Parquet write;
* I/O floor   — reading the same input Parquet bytes and writing the same output bytes with pyarrow;
* semantic    — each embedder (minilm, static) embedding the world's unique question+answer (caption,
                phrase+box) strings with no cache: strings/s (minilm on an even sample of 4,096; the
                static model's one-time distillation is not counted, its calibration on the
                mixture's strings is);
* cold 2x     — the cold build of a world twice the size (``--world2``, ``mmdata world --scale 2``):
                peak RSS must not grow with the input;
* ray         — the warm build on a private local Ray instance (2 CPUs here), same content hash.

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
    # the previous run's files (the cold build's ingest cache: about a gigabyte) reach the disk now,
    # not as writeback inside the next timed run
    os.sync()
    # files, not pipes: Ray's helper processes inherit the child's stdout/stderr and could hold a pipe open
    with tempfile.TemporaryFile("w+") as o, tempfile.TemporaryFile("w+") as e:
        rc = subprocess.run(cmd, env=env, stdout=o, stderr=e, text=True).returncode
        o.seek(0)
        e.seek(0)
        if rc != 0:
            raise SystemExit(f"{kind} failed:\n{e.read()[-3000:]}")
        return json.loads(o.read().strip().splitlines()[-1])


def peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest_files(man: dict) -> list[Path]:
    """The ingest cache entries a mixture was built from (``cache.root()/ingest/<key>/records.parquet``)."""
    from mmdata import cache

    return [cache.root() / "ingest" / s["ingest_key"] / "records.parquet" for s in man["sources"].values()]


def run_build(args) -> dict:
    import contextlib
    import resource

    from treerss import TreePeak

    from mmdata.recipe.build import build

    # the process tree is sampled (a thread reading /proc every 50 ms) only where other processes do
    # part of the work: the cold build's ingest workers, Ray's. A warm local build runs alone, and its
    # peak is the kernel's own ru_maxrss, so it is timed without the sampler, as the floor is (the
    # sampler cost it about 0.05 s)
    with TreePeak() if args.peak == "tree" else contextlib.nullcontext() as tree:
        t = time.perf_counter()
        r = build(args.recipe, args.out, overrides=[f"root={args.world}", *args.set], overwrite=True, engine=args.engine)
        wall = time.perf_counter() - t
    kids = 0.0
    if tree is None:
        # a process started after all (a missing cache entry) is counted as running alongside; main() says so
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        peak = peak_mib() + kids
    else:
        peak = tree.peak
    return {"wall": wall, "records": r.stats["records"], "items": r.manifest["n_items"], "timings": r.timings,
            "embedding": r.stats["embedding"], "peak_mib": peak, "peak_of": args.peak, "child_mib": kids, "own_peak_mib": peak_mib(), "content_hash": r.manifest["content_hash"],
            "tasks": r.stats["parts"]}  # fmt: skip


def run_embed(args) -> dict:
    """Embed the world's unique normalised question+answer strings with one embedder, no cache."""
    import tempfile

    from mmdata.recipe import stages
    from mmdata.recipe.config import load_recipe
    from mmdata.recipe.embed import Embedder
    from mmdata.recipe.engine import LocalEngine

    recipe, base = load_recipe(args.recipe, [f"root={args.world}", "multiturn.dedup=semantic"])
    st = stages.BuildState(recipe, base, Path(tempfile.mkdtemp()), LocalEngine())
    stages.ingest(st)
    per_source = {s.dataset: (s.max_turns or recipe.multiturn.max_turns, "semantic") for s in recipe.active_sources}
    work = stages._work_table(st.ingested, per_source)
    texts = work["stext"].drop_nulls().unique().sort().to_list()
    if args.embedder == "minilm":  # a transformer: an even sample of 4,096 strings is enough to time it
        texts = texts[:: max(1, len(texts) // 4096)][:4096]
    emb = Embedder(args.embedder)
    emb.encode(texts[:64])  # load the model (and, for static, read the distilled model) before timing
    t = time.perf_counter()
    if args.embedder == "static":  # timed: MiniLM on the calibration sample, then the fit (what a build pays)
        emb = Embedder("static", calibrated_on=texts)
    calibration = time.perf_counter() - t
    for k in range(0, len(texts), 16384):
        emb.encode(texts[k : k + 16384])
    wall = time.perf_counter() - t
    return {"wall": wall, "strings": len(texts), "records": len(texts), "peak_mib": peak_mib(), "model": emb.model_id,
            "calibration_s": calibration, "calibration_strings": emb.calibration_strings}  # fmt: skip


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
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--world2", default=None, help="a world twice the size (mmdata world --size full --scale 2): its cold build's RSS")
    ap.add_argument("--engine", default="local")
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--repeat", type=int, default=3, help="warm builds and floors, alternated; the medians are compared")
    ap.add_argument("--child", default=None)
    ap.add_argument("--peak", choices=["tree", "own"], default="tree", help="(children) how peak RSS is measured")
    ap.add_argument("--hf-cache", default=None)
    args = ap.parse_args()
    if args.child:
        fn = {"build": run_build, "floor": run_floor, "naive": run_naive, "embed": run_embed}[args.child]
        print(json.dumps(fn(args)))
        return
    world = Path(args.world)
    if not (world / "world.json").exists():
        from mmdata.world.generate import generate

        print(f"writing the full world to {world} …", file=sys.stderr)
        generate(world, "full", 0)
    work = Path(tempfile.mkdtemp(prefix="mmdata-bench-build-"))
    cache = str(work / "cache")
    seed_static_model(Path(cache))
    out = str(work / "mix")
    load = [os.getloadavg()]
    rows = []
    cold = child("build", str(world), out, args.recipe, cache, [])
    # warm build and floor alternate, ``--repeat`` times each: on a shared 2-vCPU machine one sample of
    # either can be off by a third (the floor's multi-threaded read took 0.31 or 0.65 s in four
    # back-to-back runs); the table shows each one's median run, and every pair's ratio is printed
    warms, floors = [], []
    for _ in range(args.repeat):
        warms.append(child("build", str(world), out, args.recipe, cache, ["--peak", "own"]))
        floors.append(child("floor", str(world), out, args.recipe, cache, []))
    assert all(w["content_hash"] == cold["content_hash"] for w in warms)
    for w in warms:
        if w["child_mib"]:
            print(f"warning: a warm build started child processes (largest {w['child_mib']:,.0f} MiB): not every source was a "
                  "cache hit; its peak counts them as running alongside it", file=sys.stderr)  # fmt: skip
    warm, floor = median_run(warms), median_run(floors)
    rows.append(("cold build (adapters + build, exact dedup)", cold))
    rows.append(("warm build (ingest cache, exact dedup)", warm))
    rows.append(("Parquet I/O floor (same input + output bytes)", floor))
    load.append(os.getloadavg())
    ray = None
    if not args.skip_ray:
        ray = child("build", str(world), str(work / "mix-ray"), args.recipe, cache, ["--engine", "ray"])
        rows.append(("warm build, Ray engine (local, 2 CPUs)", ray))
    naive = None
    if not args.skip_naive:
        naive = child("naive", str(world), out, args.recipe, cache, ["--hf-cache", str(work / "hf")])
        rows.append(("naive: datasets.map + Jinja per row + pandas", naive))
    sem = {}
    if not args.skip_semantic:
        for e in ("minilm", "static"):
            sem[e] = child("embed", str(world), out, args.recipe, cache, ["--embedder", e])
    cold2 = None
    if args.world2:
        cold2 = child("build", args.world2, str(work / "mix2"), args.recipe, str(work / "cache2"), [])
        rows.append(("cold build, 2x world (adapters + build)", cold2))
    load.append(os.getloadavg())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE.parent).stdout.strip()
    loads = " / ".join(f"{x[0]:.1f}" for x in load)
    print(f"recipe={args.recipe} world={world} commit={commit} cpus={os.cpu_count()} records={warm['records']:,} items={warm['items']:,} "
          f"load(1 min) start/mid/end={loads}")  # fmt: skip
    print(f"| {'run':<50} | {'wall s':>7} | {'records/s':>10} | {'peak RSS MiB':>12} |")
    print(f"|{'-' * 52}|{'-' * 9}|{'-' * 12}|{'-' * 14}|")
    for name, r in rows:
        print(f"| {name:<50} | {r['wall']:>7.2f} | {r['records'] / r['wall']:>10,.0f} | {r['peak_mib']:>12,.0f} |")
    for e, r in sem.items():
        print(f"| {'semantic: ' + e + ' embeds unique strings (no cache)':<50} | {r['wall']:>7.2f} | {r['strings'] / r['wall']:>10,.0f} | "
              f"{r['peak_mib']:>12,.0f} |")  # fmt: skip
    print()
    print("warm build stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in warm["timings"].items()))
    print("cold build stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in cold["timings"].items()))
    print(f"I/O floor: read {floor['read']:.2f} s + write {floor['write']:.2f} s")
    walls = lambda runs: ", ".join(f"{r['wall']:.2f}" for r in runs)  # noqa: E731
    pairs = ", ".join(f"{w['wall'] / f['wall']:.2f}x" for w, f in zip(warms, floors, strict=True))
    print(f"warm build vs I/O floor: {warm['wall'] / floor['wall']:.2f}x the floor (medians of {args.repeat} alternated runs; "
          f"warm {walls(warms)} s; floor {walls(floors)} s; pairs {pairs})")  # fmt: skip
    if naive:
        print(f"warm build vs naive: {naive['wall'] / warm['wall']:.1f}x faster")
    if cold2:
        print(f"cold peak RSS: {cold['peak_mib']:,.0f} MiB ({cold['records']:,} records) -> {cold2['peak_mib']:,.0f} MiB ({cold2['records']:,} records, 2x world)")
    if ray:
        same = ray["content_hash"] == warm["content_hash"]
        print(f"ray vs local: {ray['wall']:.2f} s vs {warm['wall']:.2f} s ({warm['wall'] / ray['wall']:.2f}x), same content hash: {same}; "
              f"stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in ray["timings"].items()))  # fmt: skip
        print(f"tasks: merge {ray['tasks']['merge']} parts (<= {200_000:,} records, cut at image-group boundaries; sources with one "
              f"turn per item and no dedup need none), render {ray['tasks']['render']} parts (50,000 items each)")  # fmt: skip
    for e, r in sem.items():
        cal = f" (of which {r['calibration_s']:.1f} s calibrating on {r['calibration_strings']:,} strings)" if r.get("calibration_strings") else ""
        print(f"semantic {e} ({r['model']}): {r['strings']:,} unique strings in {r['wall']:.1f} s{cal} = {r['strings'] / r['wall']:,.0f} strings/s")


def median_run(runs: list[dict]) -> dict:
    """The run with the median wall time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda r: r["wall"])[(len(runs) - 1) // 2]


def seed_static_model(cache: Path) -> None:
    """Copy an already distilled static embedder into the benchmark's fresh cache: distillation is a
    one-time cost per machine (about 90 s idle), not part of a build."""
    import shutil

    from mmdata import cache as content

    src = content.root() / "static-embedder"
    if src.is_dir():
        shutil.copytree(src, cache / "static-embedder", dirs_exist_ok=True, ignore=shutil.ignore_patterns(".locks"))


if __name__ == "__main__":
    main()
