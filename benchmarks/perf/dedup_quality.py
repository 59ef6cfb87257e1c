"""Semantic dedup quality per embedder: recall of the world's planted duplicates and false drops, with
the threshold chosen on one half of the planted set and reported on the other; and paraphrase pairs
in six languages (benchmarks/perf/paraphrases.yaml).

    .venv/bin/python benchmarks/perf/dedup_quality.py [--world DIR] [--recipe honeybee]

The planted duplicates (``duplicates.jsonl``: one question asked again in other words, same image,
same answer) are in VQAv2 and GQA, so in English only. They are split by image id: even ids tune the
threshold (the highest recall with false drops ≤ 1 % there), odd ids are reported. A false drop is a
dropped record of the scored datasets that belongs to no planted group; the rate divides by the
records eligible in that half. The ``static`` embedder calibrates on the mixture's strings in a
build; here it calibrates on the strings that occur outside the reported half only, so the report
half's strings are never the teacher's (nor the fit's) examples. The multilingual check embeds each language's hand-written
paraphrase pairs: "recall" is the share of pairs at or above the threshold, "false" the share of
non-paraphrases (the first wording of one pair against the second of another) at or above it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import yaml

HERE = Path(__file__).resolve().parent
THRESHOLDS = [0.70, 0.74, 0.78, 0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94]


def scores(state, world: Path) -> dict:
    """Recovery and false drops per half (tune: even image number, report: odd), from a build state."""
    groups = [orjson.loads(x) for x in (world / "duplicates.jsonl").read_bytes().splitlines() if x]
    scored = sorted({g["dataset"] for g in groups})
    recs = [r for i in state.ingested if i.dataset in scored for r in i.read(["dataset", "record_id", "image.path"]).to_pylist()]

    def image_number(r) -> int:  # the image id in the file name (COCO_train2014_000000100109.jpg, 2354786.jpg)
        name = (r["image"] or {}).get("path", "").rsplit("/", 1)[-1]
        return int("".join(c for c in name if c.isdigit()) or 0)

    half = {(r["dataset"], r["record_id"]): ("tune" if image_number(r) % 2 == 0 else "report") for r in recs if r["dataset"] in scored}
    drops = state.drops.select(["dataset", "kept_id", "dropped_id"]).to_pylist()
    dropped = {(d["dataset"], d["dropped_id"]): d["kept_id"] for d in drops if d["dataset"] in scored}
    planted = {(g["dataset"], r) for g in groups for r in g["record_ids"]}
    out = {}
    for part in ("tune", "report"):
        gs = [g for g in groups if half.get((g["dataset"], g["record_ids"][0])) == part]
        rec = 0
        for g in gs:
            members = set(g["record_ids"])
            gone = [r for r in g["record_ids"] if (g["dataset"], r) in dropped]
            rec += len(gone) == len(members) - 1 and all(dropped[(g["dataset"], r)] in members for r in gone)
        false = sum(1 for k in dropped if k not in planted and half.get(k) == part)
        eligible = sum(1 for k, h in half.items() if h == part and k not in planted)
        out[part] = {"groups": len(gs), "recall": rec / max(1, len(gs)), "false_drops": false, "false_rate": false / max(1, eligible)}
    return out


def report_half_strings(world: Path, recipe: str) -> set[str]:
    """The dedup strings of records in the reported half (odd image number) of the planted datasets."""
    import polars as pl

    from mmdata.recipe import stages
    from mmdata.recipe.config import load_recipe
    from mmdata.recipe.engine import LocalEngine

    r, base = load_recipe(recipe, [f"root={world}", "multiturn.dedup=semantic"])
    st = stages.BuildState(r, base, Path(tempfile.mkdtemp()), LocalEngine())
    stages.ingest(st)
    per_source = {s.dataset: (s.max_turns or r.multiturn.max_turns, "semantic") for s in r.active_sources}
    work = stages._work_table(st.ingested, per_source).filter(pl.col("stext").is_not_null())
    number = work["group"].str.extract(r"(\d+)\D*$").cast(pl.Int64, strict=False).fill_null(0)
    return set(work.filter(number % 2 == 1)["stext"].to_list())


def paraphrase_scores(embedder: str, threshold: float, pool: list[str] | None = None) -> dict:
    from mmdata.recipe.embed import Embedder

    e = Embedder(embedder, calibrated_on=pool)
    out = {}
    for lang, pairs in yaml.safe_load((HERE / "paraphrases.yaml").read_text(encoding="utf-8")).items():
        a = e.encode([p[0] for p in pairs])
        b = e.encode([p[1] for p in pairs])
        sims = a @ b.T
        same = np.diag(sims)
        other = sims[~np.eye(len(pairs), dtype=bool)]
        out[lang] = {"recall": float((same >= threshold).mean()), "false": float((other >= threshold).mean()),
                     "mean_same": float(same.mean()), "mean_other": float(other.mean())}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--world", default="/tmp/wsmall")
    ap.add_argument("--recipe", default="honeybee")
    ap.add_argument("--embedders", default="minilm,static")
    args = ap.parse_args()
    from mmdata.recipe import stages
    from mmdata.recipe.config import load_recipe
    from mmdata.recipe.engine import LocalEngine

    world = Path(args.world)
    print(f"world={world} recipe={args.recipe} load(1 min)={os.getloadavg()[0]:.1f}")
    from mmdata.recipe import embed

    held_out = report_half_strings(world, args.recipe)
    calibrate, pools = embed.calibrate, []

    def calibrate_outside_report(pool: list[str]):
        pools.append([t for t in pool if t not in held_out])
        return calibrate(pools[-1])

    embed.calibrate = calibrate_outside_report
    for embedder in args.embedders.split(","):
        rows = []
        for t in THRESHOLDS:
            recipe, base = load_recipe(args.recipe, [f"root={world}", "multiturn.dedup=semantic", f"multiturn.embedder={embedder}",
                                                     f"multiturn.threshold={t}"])  # fmt: skip
            st = stages.BuildState(recipe, base, Path(tempfile.mkdtemp()), LocalEngine())
            t0 = time.perf_counter()
            stages.ingest(st)
            stages.group_dedup(st)
            rows.append((t, scores(st, world), time.perf_counter() - t0, st.emb_stats))
        ok = [r for r in rows if r[1]["tune"]["false_rate"] <= 0.01] or rows
        best = max(ok, key=lambda r: (r[1]["tune"]["recall"], -r[1]["tune"]["false_rate"]))
        print(f"\n{embedder} ({rows[0][3].get('model')}, {rows[0][3].get('unique_strings'):,} unique strings)")
        print("| threshold | tune recall | tune false-drop rate | report recall | report false drops (rate) |")
        print("|---|---|---|---|---|")
        for t, s, _, _ in rows:
            mark = " **chosen**" if t == best[0] else ""
            print(f"| {t:.2f}{mark} | {s['tune']['recall']:.1%} | {s['tune']['false_rate']:.2%} | {s['report']['recall']:.1%} "
                  f"| {s['report']['false_drops']} ({s['report']['false_rate']:.2%}) |")  # fmt: skip
        g = best[1]["report"]
        print(f"chosen on the tune half: {best[0]:.2f}; reported half ({g['groups']} planted groups, English): recall {g['recall']:.1%}, "
              f"false drops {g['false_rate']:.2%}")  # fmt: skip
        if embedder == "static":
            print(f"calibrated on {len(embed.calibration_sample(pools[-1])):,} of the {len(pools[-1]):,} strings outside the reported half")
        para = paraphrase_scores(embedder, best[0], pools[-1] if embedder == "static" else None)
        print("| language | paraphrase pairs ≥ threshold | non-paraphrases ≥ threshold | mean cos (pairs / others) |")
        print("|---|---|---|---|")
        for lang, p in para.items():
            print(f"| {lang} | {p['recall']:.0%} | {p['false']:.0%} | {p['mean_same']:.2f} / {p['mean_other']:.2f} |")


if __name__ == "__main__":
    main()
