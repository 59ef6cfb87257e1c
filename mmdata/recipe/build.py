"""``mmdata build``: a recipe → a mixture directory (see docs/mixture.md).

Stages (each a function over Arrow tables; the engine decides where they run):

1. ingest every source through its adapter (Parquet cache by content fingerprint), filter split and
   languages, apply task overrides;
2. decontaminate against benchmarks (optional);
3. group per image, dedup (none / exact / semantic), chunk into ≤ max_turns items;
4. balance: per-dataset quotas from the strategy's formula, seeded sampling with epochs;
5. render the sampled items with templates, in a seeded training order;
6. write shards, dedup audit, sampling record, optional LLaVA JSON / HF copy, manifest, report —
   all inside a temporary directory renamed into place at the very end.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata import __version__
from mmdata.io import atomic_dir, dumps_json
from mmdata.recipe import balance as bal
from mmdata.recipe.config import Recipe, load_recipe
from mmdata.recipe.engine import get_engine
from mmdata.recipe.ingest import Ingested, ingest
from mmdata.recipe.merge import DROP_SCHEMA, PAIR_SCHEMA, merge_groups
from mmdata.recipe.normalize import bbox_key_expr, norm_expr
from mmdata.recipe.output import content_hash, write_hf, write_llava, write_shards
from mmdata.recipe.render import OUT_SCHEMA, render_items
from mmdata.recipe.report import write_report
from mmdata.recipe.templates import NATIVE_TASKS, TemplateBank
from mmdata.schema import RECORD_SCHEMA

PART_ROWS = 200_000  # records per merge partition (split only at group boundaries)
RENDER_ROWS = 50_000  # items per render partition


@dataclass
class BuildResult:
    out: Path
    manifest: dict
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


def _work_table(records: pa.Table, recipe: Recipe, per_source: dict[str, tuple[int, str]]) -> pl.DataFrame:
    df = pl.from_arrow(records.select(["dataset", "task", "record_id", "image", "question", "answer", "bbox", "phrase", "caption"]))
    df = df.with_row_index("pos").with_columns(pl.col("pos").cast(pl.Int64))
    native = pl.col("task").is_in(list(NATIVE_TASKS))
    img = pl.col("image").struct.field("path")
    df = df.with_columns(
        group=pl.when(native | img.is_null())
        .then(pl.concat_str([pl.col("dataset"), pl.lit("#"), pl.col("record_id")]))
        .otherwise(pl.concat_str([pl.col("dataset"), pl.lit("/"), img])),
        bkey=bbox_key_expr(pl.col("bbox")),
    )
    qa = pl.col("task").is_in(["vqa_open", "ocr_vqa", "vqa_mc"])
    box = pl.col("task").is_in(["rec", "reg"])
    cap = pl.col("task") == "caption"
    df = df.with_columns(
        dkey=pl.when(qa).then(norm_expr(pl.col("answer"))).when(box).then(pl.col("bkey")).when(cap).then(norm_expr(pl.col("caption"))),
        stext=pl.when(qa)
        .then(norm_expr(pl.concat_str([pl.col("question"), pl.col("answer")], separator=" ")))
        .when(box)
        .then(pl.concat_str([norm_expr(pl.col("phrase")), pl.col("bkey")], separator=" "))
        .when(cap)
        .then(norm_expr(pl.col("caption"))),
    )
    mt = {d: v[0] for d, v in per_source.items()}
    dd = {d: v[1] for d, v in per_source.items()}
    df = df.with_columns(
        max_turns=pl.when(native).then(1).otherwise(pl.col("dataset").replace_strict(mt, return_dtype=pl.Int32)).cast(pl.Int32),
        dedup=pl.when(native).then(pl.lit("none")).otherwise(pl.col("dataset").replace_strict(dd, return_dtype=pl.Utf8)),
    )
    return df


def _partitions(work: pl.DataFrame) -> list[pa.Table]:
    """Split the work table into group-aligned parts (per dataset, then at group boundaries)."""
    parts = []
    for ds in sorted(work["dataset"].unique().to_list()):
        sub = work.filter(pl.col("dataset") == ds).sort(["group", "pos"])
        if sub.height <= PART_ROWS:
            parts.append(sub)
            continue
        g = sub["group"].to_numpy()
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        cut, last = [], 0
        for s in starts:
            if s - last >= PART_ROWS:
                cut.append(s)
                last = s
        bounds = [0, *cut, sub.height]
        parts += [sub.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    cols = ["dataset", "task", "group", "pos", "record_id", "dkey", "emb", "max_turns", "dedup"]
    return [p.select(cols).to_arrow() for p in parts]


def build(
    recipe_spec: str | Path,
    out: str | Path,
    *,
    overrides: list[str] | None = None,
    engine: str = "local",
    progress: bool = False,
    templates_dir: str | Path | None = None,
) -> BuildResult:
    from rich.progress import Progress

    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    recipe, base = load_recipe(recipe_spec, overrides)
    TemplateBank.cached(templates_dir)  # load and validate every template before any work
    out = Path(out)
    eng = get_engine(engine)
    try:
        with atomic_dir(out) as tmp, Progress(disable=not progress, transient=True) as bar:
            # 1. ingest --------------------------------------------------------------------------
            t = time.perf_counter()
            task_ing = bar.add_task("ingest sources", total=len(recipe.sources))
            ingested: list[Ingested] = []
            for s in recipe.sources:
                ingested.append(ingest(s, recipe.resolved_path(s.path, base)))
                bar.advance(task_ing)
            tables = [i.table for i in ingested]
            records = pa.concat_tables(tables).combine_chunks() if tables else RECORD_SCHEMA.empty_table()
            timings["ingest"] = time.perf_counter() - t

            # 2. decontaminate ----------------------------------------------------------------------
            decon = {"benchmarks": [str(p) for p in recipe.decontaminate], "dropped": {}}
            if recipe.decontaminate:
                from mmdata.recipe.decontam import decontaminate

                records, decon = decontaminate(records, [recipe.resolved_path(p, base) for p in recipe.decontaminate])

            # 3. merge + dedup ---------------------------------------------------------------------
            t = time.perf_counter()
            per_source = {}
            for s in recipe.sources:
                turns = s.max_turns or recipe.multiturn.max_turns
                # Honeybee dedups only while merging (nturn > 1); a source's own `dedup` key overrides
                per_source[s.dataset] = (turns, s.dedup or (recipe.multiturn.dedup if turns > 1 else "none"))
            work = _work_table(records, recipe, per_source)
            emb, emb_stats = None, {}
            sem_mask = (work["dedup"] == "semantic") & work["stext"].is_not_null()
            if sem_mask.any():
                from mmdata.recipe.embed import MODEL_ID, EmbeddingCache

                texts = work.filter(sem_mask)["stext"].unique(maintain_order=True).sort().to_list()
                cache = EmbeddingCache()
                task_emb = bar.add_task(f"embedding {len(texts):,} unique strings", total=len(texts))
                emb = cache.embed(texts, progress=lambda k: bar.advance(task_emb, k))
                index = pl.DataFrame({"stext": texts, "emb": np.arange(len(texts), dtype=np.int32)})
                work = work.join(index, on="stext", how="left").with_columns(
                    pl.when(sem_mask).then(pl.col("emb")).otherwise(None).alias("emb")
                ).sort("pos")
                emb_stats = {"model": MODEL_ID, "unique_strings": len(texts), "embedded_now": cache.embedded,
                             "cache_hits": cache.hits, "embed_seconds": cache.seconds}  # fmt: skip
            else:
                work = work.with_columns(pl.lit(None, pl.Int32).alias("emb"))
            parts = _partitions(work)
            task_m = bar.add_task("group, dedup, chunk", total=1)
            merged = eng.map_tables(merge_groups, parts, emb=emb, threshold=recipe.multiturn.threshold)
            bar.advance(task_m)
            items = pa.concat_tables([m["items"] for m in merged]) if merged else None
            drops = pa.concat_tables([m["drops"] for m in merged] or [DROP_SCHEMA.empty_table()])
            pairs = pa.concat_tables([m["pairs"] for m in merged] or [PAIR_SCHEMA.empty_table()])
            items_df = pl.from_arrow(items).sort("first_pos") if items is not None else pl.DataFrame()
            timings["merge"] = time.perf_counter() - t

            # 4. balance --------------------------------------------------------------------------
            t = time.perf_counter()
            names = [s.dataset for s in recipe.sources]
            tasks = {i.dataset: (i.table.column("task")[0].as_py() if i.table.num_rows else (s.task or "")) for i, s in zip(ingested, recipe.sources, strict=True)}
            per_ds = {d: items_df.filter(pl.col("dataset") == d) for d in names}
            n_items = {d: per_ds[d].height for d in names}
            b = recipe.balance
            p = bal.shares(b.strategy, n_items, tasks, cap=b.cap, weights=b.weights)
            size = b.size or bal.default_size(n_items, b.cap)
            q = bal.quotas(p, size)
            chosen, sampling = [], []
            for d in names:
                idx = bal.sample(n_items[d], q[d], recipe.seed, d)
                chosen.append(per_ds[d][idx.tolist()] if len(idx) else per_ds[d].head(0))
                sampling.append(pl.DataFrame({"dataset": [d] * len(idx), "item_index": idx,
                                              "epoch": (np.arange(len(idx)) // max(1, n_items[d])).astype(np.int32)}))  # fmt: skip
            sampled = pl.concat(chosen)
            sampling_df = pl.concat(sampling)
            order = np.random.default_rng(np.random.SeedSequence([recipe.seed, 0x5EED])).permutation(sampled.height)
            sampled = sampled[order.tolist()].with_row_index("j").with_columns(pl.col("j").cast(pl.Int64))
            sampling_df = sampling_df[order.tolist()].with_row_index("j").with_columns(pl.col("j").cast(pl.Int64))
            timings["balance"] = time.perf_counter() - t

            # 5. render -----------------------------------------------------------------------------
            t = time.perf_counter()
            cols = ["j", "dataset", "task", "positions", "record_ids", "dedup_dropped"]
            r_parts = [sampled.slice(k, RENDER_ROWS).select(cols).to_arrow() for k in range(0, sampled.height, RENDER_ROWS)]
            task_r = bar.add_task(f"render {sampled.height:,} items", total=1)
            tdir = str(Path(templates_dir).resolve()) if templates_dir else None
            rendered = eng.map_tables(render_items, r_parts, records=records, policy=recipe.templates, templates_dir=tdir, seed=recipe.seed)
            bar.advance(task_r)
            mixture = pa.concat_tables(rendered) if rendered else OUT_SCHEMA.empty_table()
            mixture = mixture.sort_by("j").drop_columns(["j"])
            timings["render"] = time.perf_counter() - t

            # 6. write ------------------------------------------------------------------------------
            t = time.perf_counter()
            shards = write_shards(mixture, tmp, recipe.output.shard_rows)
            c_hash = content_hash(shards)
            image_roots = {i.dataset: i.image_root for i in ingested}
            if "llava" in recipe.output.formats:
                write_llava(mixture, tmp, image_roots)
            pq.write_table(drops.drop_columns(["dropped_pos"]), tmp / "dedup.parquet", compression="zstd")
            pq.write_table(pairs, tmp / "dedup_pairs.parquet", compression="zstd")
            pq.write_table(sampling_df.to_arrow(), tmp / "sampling.parquet", compression="zstd")
            manifest = _manifest(recipe, ingested, records, items_df, drops, sampled, mixture, p, q, size, n_items, tasks,
                                 image_roots, emb_stats, decon, c_hash, shards)  # fmt: skip
            (tmp / "manifest.json").write_bytes(dumps_json(manifest))
            write_report(tmp, mixture, manifest)
            if "hf" in recipe.output.formats:
                write_hf(shards, tmp)
            timings["write"] = time.perf_counter() - t
    finally:
        eng.close()
    timings["total"] = time.perf_counter() - t_all
    stats = {"records": records.num_rows, "items": items_df.height, "sampled": mixture.num_rows, "embedding": emb_stats,
             "ingest_cached": sum(i.from_cache for i in ingested), "engine": eng.name}  # fmt: skip
    return BuildResult(out, manifest, timings, stats)


def _manifest(recipe, ingested, records, items_df, drops, sampled, mixture, p, q, size, n_items, tasks, image_roots,
              emb_stats, decon, c_hash, shards) -> dict:  # fmt: skip
    import datasets
    import duckdb
    import jinja2
    import polars

    rec_in = pl.from_arrow(records.select(["dataset"])).group_by("dataset").len() if records.num_rows else pl.DataFrame({"dataset": [], "len": []})
    rec_in = dict(zip(rec_in["dataset"].to_list(), rec_in["len"].to_list(), strict=True))
    dropped = pl.from_arrow(drops.select(["dataset"])).group_by("dataset").len() if drops.num_rows else pl.DataFrame({"dataset": [], "len": []})
    dropped = dict(zip(dropped["dataset"].to_list(), dropped["len"].to_list(), strict=True))
    counts = {}
    for d in n_items:
        counts[d] = {
            "records_in": int(rec_in.get(d, 0)),
            "items_after_merge": int(n_items[d]),
            "dedup_dropped": int(dropped.get(d, 0)),
            "sampled": int(q[d]),
            "epochs": round(q[d] / n_items[d], 6) if n_items[d] else 0.0,
            "share": round(q[d] / max(1, size), 6),
            "target_share": round(p[d], 6),
        }
    by_task: dict[str, dict] = {}
    for d, c in counts.items():
        t = by_task.setdefault(tasks[d], {"records_in": 0, "items_after_merge": 0, "sampled": 0, "datasets": []})
        t["records_in"] += c["records_in"]
        t["items_after_merge"] += c["items_after_merge"]
        t["sampled"] += c["sampled"]
        t["datasets"].append(d)
    usage: dict[str, int] = {}
    for tid in mixture.column("template_id").to_pylist():
        usage[tid] = usage.get(tid, 0) + 1
    inverted = int(sum(mixture.column("inverted").to_pylist())) if mixture.num_rows else 0
    return {
        "kind": "mmdata-mixture",
        "recipe": recipe.model_dump(mode="json"),
        "seed": recipe.seed,
        "sources": {
            i.dataset: {"fingerprint": i.fingerprint, "files": [Path(f).name for f in i.files], "image_root": i.image_root,
                        "records_read": i.records_read, "records_kept": i.table.num_rows, "quarantined": len(i.quarantined)}
            for i in ingested
        },  # fmt: skip
        "image_roots": image_roots,
        "counts": counts,
        "tasks": by_task,
        "balance": {"strategy": recipe.balance.strategy, "size": size, "cap": recipe.balance.cap},
        "dedup": {"rule": recipe.multiturn.dedup, "threshold": recipe.multiturn.threshold, "dropped": int(drops.num_rows),
                  "embedding": {k: emb_stats[k] for k in ("model", "unique_strings") if k in emb_stats}},  # fmt: skip
        "templates": {**recipe.templates.model_dump(mode="json"), "inverted_items": inverted},
        "template_usage": dict(sorted(usage.items())),
        "decontamination": decon,
        "n_items": int(mixture.num_rows),
        "files": {"data": [f"data/{s.name}" for s in shards], "dedup": "dedup.parquet", "dedup_pairs": "dedup_pairs.parquet",
                  "sampling": "sampling.parquet"},  # fmt: skip
        "software": {"mmdata": __version__, "python": platform.python_version(), "pyarrow": pa.__version__,
                     "polars": polars.__version__, "duckdb": duckdb.__version__, "jinja2": jinja2.__version__,
                     "datasets": datasets.__version__},  # fmt: skip
        "content_hash": c_hash,
    }
