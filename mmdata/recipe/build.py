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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmdata import __version__
from mmdata.io import atomic_dir, dumps_json
from mmdata.recipe import balance as bal
from mmdata.recipe.config import load_recipe
from mmdata.recipe.engine import get_engine
from mmdata.recipe.ingest import Ingested, ingest
from mmdata.recipe.merge import DROP_SCHEMA, PAIR_SCHEMA, merge_groups
from mmdata.recipe.normalize import bbox_key_expr, norm_expr
from mmdata.recipe.output import LlavaWriter, MixtureStats, ShardWriter, content_hash, write_hf
from mmdata.recipe.render import render_items
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


def _work_table(tables: list[pa.Table], per_source: dict[str, tuple[int, str]]) -> pl.DataFrame:
    """One row per Record: its group, position, dedup key (only where exact dedup runs) and dedup text
    (only where semantic dedup runs). Text is normalised only for the sources that need it."""
    frames, offset = [], 0
    for t in tables:
        if t.num_rows == 0:
            continue
        ds = t.column("dataset")[0].as_py()
        turns, dedup = per_source[ds]
        df = pl.from_arrow(t.select(["dataset", "task", "record_id", "image"]))
        native = df["task"][0] in NATIVE_TASKS
        img = pl.col("image").struct.field("path")
        df = df.with_columns(
            pos=pl.int_range(offset, offset + df.height, dtype=pl.Int64),
            group=pl.concat_str([pl.col("dataset"), pl.lit("#"), pl.col("record_id")]) if native else
            pl.when(img.is_null()).then(pl.concat_str([pl.col("dataset"), pl.lit("#"), pl.col("record_id")]))
            .otherwise(pl.concat_str([pl.col("dataset"), pl.lit("/"), img])),
            max_turns=pl.lit(1 if native else turns, pl.Int32),
            dedup=pl.lit("none" if native else dedup),
        ).drop("image")  # fmt: skip
        dkey = stext = pl.lit(None, pl.Utf8)
        if not native and dedup != "none":
            task = df["task"][0]
            text = pl.from_arrow(t.select(["question", "answer", "bbox", "phrase", "caption"]))
            box = bbox_key_expr(pl.col("bbox"))
            if task in ("vqa_open", "ocr_vqa", "vqa_mc"):
                key, sem = norm_expr(pl.col("answer")), norm_expr(pl.concat_str([pl.col("question"), pl.col("answer")], separator=" "))
            elif task in ("rec", "reg"):
                key, sem = box, pl.concat_str([norm_expr(pl.col("phrase")), box], separator=" ")
            elif task == "caption":
                key = sem = norm_expr(pl.col("caption"))
            else:
                key = sem = pl.lit(None, pl.Utf8)
            cols = text.select((key if dedup == "exact" else pl.lit(None, pl.Utf8)).alias("dkey"),
                               (sem if dedup == "semantic" else pl.lit(None, pl.Utf8)).alias("stext"))  # fmt: skip
            df = pl.concat([df, cols], how="horizontal")
        else:
            df = df.with_columns(dkey.alias("dkey"), stext.alias("stext"))
        frames.append(df)
        offset += t.num_rows
    return pl.concat(frames) if frames else pl.DataFrame()


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
            records = pa.concat_tables([i.table for i in ingested]) if ingested else RECORD_SCHEMA.empty_table()
            timings["ingest"] = time.perf_counter() - t

            # 2. decontaminate ----------------------------------------------------------------------
            decon = {"benchmarks": [], "dropped": {}, "dropped_total": 0}
            if recipe.decontaminate:
                from mmdata.recipe.decontam import decontaminate

                paths = [recipe.resolved_path(p, base) for p in recipe.decontaminate]
                records, decon = decontaminate(records, paths, recipe.decontaminate_by)
            by_source = [records.filter(pc.equal(records.column("dataset"), s.dataset)) for s in recipe.sources] if recipe.decontaminate else [i.table for i in ingested]

            # 3. merge + dedup ---------------------------------------------------------------------
            t = time.perf_counter()
            per_source = {}
            for s in recipe.sources:
                turns = s.max_turns or recipe.multiturn.max_turns
                # Honeybee dedups only while merging (nturn > 1); a source's own `dedup` key overrides
                per_source[s.dataset] = (turns, s.dedup or (recipe.multiturn.dedup if turns > 1 else "none"))
            work = _work_table(by_source, per_source)
            emb, emb_stats = None, {}
            sem_mask = work["stext"].is_not_null()
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
            # items grouped by dataset (file order inside), so a dataset's k-th item is row start[d] + k
            rank = {d: i for i, d in enumerate(names)}
            items_df = items_df.with_columns(pl.col("dataset").replace_strict(rank, return_dtype=pl.Int32).alias("_r")).sort(
                ["_r", "first_pos"]).drop("_r") if items_df.height else items_df  # fmt: skip
            counts = dict(items_df.group_by("dataset").len().iter_rows()) if items_df.height else {}
            n_items = {d: int(counts.get(d, 0)) for d in names}
            b = recipe.balance
            p = bal.shares(b.strategy, n_items, tasks, cap=b.cap, weights=b.weights)
            size = b.size or bal.default_size(n_items, b.cap)
            q = bal.quotas(p, size)
            start, acc = {}, 0
            for d in names:
                start[d], acc = acc, acc + n_items[d]
            picks = [bal.sample(n_items[d], q[d], recipe.seed, d) for d in names]
            rows = np.concatenate([start[d] + idx for d, idx in zip(names, picks, strict=True)]) if picks else np.zeros(0, np.int64)
            sampling_df = pl.DataFrame({
                "dataset": np.repeat(np.array(names, dtype=object), [len(x) for x in picks]).astype(str),
                "item_index": np.concatenate(picks) if picks else np.zeros(0, np.int64),
                "epoch": np.concatenate([np.arange(len(x)) // max(1, n_items[d]) for d, x in zip(names, picks, strict=True)]).astype(np.int32),
            })  # fmt: skip
            order = np.random.default_rng(np.random.SeedSequence([recipe.seed, 0x5EED])).permutation(len(rows))
            sampled = items_df[pl.Series(rows[order])].with_row_index("j").with_columns(pl.col("j").cast(pl.Int64))
            sampling_df = sampling_df[pl.Series(order)].with_row_index("j").with_columns(pl.col("j").cast(pl.Int64))
            timings["balance"] = time.perf_counter() - t

            # 5. render, streaming each part into shards (and LLaVA JSON) in training order -------------
            t = time.perf_counter()
            del work, parts, merged
            cols = ["j", "dataset", "task", "positions", "record_ids", "dedup_dropped"]
            r_parts = [sampled.slice(k, RENDER_ROWS).select(cols).to_arrow() for k in range(0, sampled.height, RENDER_ROWS)]
            task_r = bar.add_task(f"render {sampled.height:,} items", total=len(r_parts))
            tdir = str(Path(templates_dir).resolve()) if templates_dir else None
            image_roots = {i.dataset: i.image_root for i in ingested}
            shards_out = ShardWriter(tmp, recipe.output.shard_rows)
            llava = LlavaWriter(tmp, image_roots) if "llava" in recipe.output.formats else None
            stats = MixtureStats()
            for part in eng.imap_tables(render_items, r_parts, records=records, policy=recipe.templates, templates_dir=tdir, seed=recipe.seed):
                part = part.sort_by("j").drop_columns(["j"])
                shards_out.write(part)
                stats.update(part)
                if llava:
                    llava.write(part)
                bar.advance(task_r)
            shards = shards_out.close()
            if llava:
                llava.close()
            timings["render"] = time.perf_counter() - t

            # 6. write ------------------------------------------------------------------------------
            t = time.perf_counter()
            c_hash = content_hash(shards)
            pq.write_table(drops.drop_columns(["dropped_pos"]), tmp / "dedup.parquet", compression="zstd")
            pq.write_table(pairs, tmp / "dedup_pairs.parquet", compression="zstd")
            pq.write_table(sampling_df.to_arrow(), tmp / "sampling.parquet", compression="zstd")
            manifest = _manifest(recipe, ingested, records, drops, stats, p, q, size, n_items, tasks,
                                 image_roots, emb_stats, decon, c_hash, shards)  # fmt: skip
            (tmp / "manifest.json").write_bytes(dumps_json(manifest))
            write_report(tmp, stats, manifest)
            if "hf" in recipe.output.formats:
                write_hf(shards, tmp)
            timings["write"] = time.perf_counter() - t
    finally:
        eng.close()
    timings["total"] = time.perf_counter() - t_all
    info = {"records": records.num_rows, "items": items_df.height, "sampled": stats.rows, "embedding": emb_stats,
            "ingest_cached": sum(i.from_cache for i in ingested), "engine": eng.name}  # fmt: skip
    return BuildResult(out, manifest, timings, info)


def _manifest(recipe, ingested, records, drops, stats, p, q, size, n_items, tasks, image_roots,
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
        "templates": {**recipe.templates.model_dump(mode="json"), "inverted_items": stats.inverted},
        "template_usage": dict(sorted(stats.template_usage.items())),
        "decontamination": decon,
        "n_items": int(stats.rows),
        "files": {"data": [f"data/{s.name}" for s in shards], "dedup": "dedup.parquet", "dedup_pairs": "dedup_pairs.parquet",
                  "sampling": "sampling.parquet"},  # fmt: skip
        "software": {"mmdata": __version__, "python": platform.python_version(), "pyarrow": pa.__version__,
                     "polars": polars.__version__, "duckdb": duckdb.__version__, "jinja2": jinja2.__version__,
                     "datasets": datasets.__version__},  # fmt: skip
        "content_hash": c_hash,
    }
